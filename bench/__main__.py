"""Run the benchmarks: every `bench/*.py` module that defines `main()`, or the one named.

    uv run python -m bench                              # all of them, default sizes
    uv run python -m bench import_register --rows 10000 # one, with its own options

Each benchmark runs in its own process so that each gets a fresh Django setup and
database (SQLite in a temporary FUNDPILOT_HOME, or PostgreSQL when DATABASE_URL is set).
"""

import ast
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def benchmarks() -> list[str]:
    """Modules of this folder with a top-level `main` function, by name."""
    found = []
    for path in sorted(HERE.glob("*.py")):
        if path.name.startswith("_"):
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        if any(isinstance(node, ast.FunctionDef) and node.name == "main" for node in tree.body):
            found.append(path.stem)
    return found


def run(name: str, args: list[str]) -> int:
    print(f"== bench {name} {' '.join(args)}".rstrip(), flush=True)
    command = [sys.executable, "-m", f"bench.{name}", *args]
    return subprocess.run(command, cwd=HERE.parent).returncode


def main(argv: list[str]) -> int:
    names = benchmarks()
    if argv and not argv[0].startswith("-"):
        name, args = argv[0].removesuffix(".py"), argv[1:]
        if name not in names:
            print(f"no benchmark {name!r}; there are: {', '.join(names)}", file=sys.stderr)
            return 2
        return run(name, args)
    if argv:
        print("usage: python -m bench [NAME [OPTIONS]]", file=sys.stderr)
        return 2
    failed = [name for name in names if run(name, []) != 0]
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
