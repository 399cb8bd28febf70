"""Signed checkpoints: the pilot's Ed25519 signature over its audit log's (size, root).

A payer keeps each checkpoint it receives as a small JSON file. Later, with the
pilot's public key, it can prove that the log it is shown extends the one it was
signed (merkle.verify_consistency) — so a log rewritten whole is caught by anyone
who kept an older checkpoint.

The signed message is canonical_bytes of {"kind", "chain", "size", "root",
"issued_at"}, with "kind" fixed to CHECKPOINT_KIND: the same key may come to sign
other documents, and the tag stops a signature made for one from passing as
another's. Changing this message invalidates every checkpoint payers hold, so a
test pins its exact bytes.
"""

import dataclasses
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from fundpilot.rules.canonical import canonical_bytes, isoformat_utc

CHECKPOINT_KIND = "fundpilot.audit-checkpoint.v1"
_UTC_INSTANT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z")


def _lower_hex(length: int) -> Callable[[object], bool]:
    pattern = re.compile(f"[0-9a-f]{{{length}}}")
    return lambda value: isinstance(value, str) and pattern.fullmatch(value) is not None


def _is_utc_instant(value: object) -> bool:
    if not isinstance(value, str) or not _UTC_INSTANT.fullmatch(value):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


# For each field: the test it must pass, and what to tell someone whose file fails it.
_FIELD_RULES: dict[str, tuple[Callable[[object], bool], str]] = {
    "chain": (lambda v: isinstance(v, str) and v != "", "a non-empty string"),
    "size": (
        lambda v: isinstance(v, int) and not isinstance(v, bool) and v >= 0,
        "a whole number of records, 0 or more",
    ),
    "root": (_lower_hex(64), "64 lowercase hex characters (a SHA-256 Merkle root)"),
    "issued_at": (_is_utc_instant, "a UTC time such as 2026-07-03T14:05:00.000000Z"),
    "public_key": (_lower_hex(64), "64 lowercase hex characters (a raw Ed25519 public key)"),
    "signature": (_lower_hex(128), "128 lowercase hex characters (an Ed25519 signature)"),
}


def _check(name: str, value: object) -> None:
    is_valid, expected = _FIELD_RULES[name]
    if not is_valid(value):
        raise ValueError(f"checkpoint field {name!r} must be {expected}; got {value!r:.100}")


@dataclass(frozen=True)
class Checkpoint:
    """A signed (size, root) of one audit chain; every field is checked on creation."""

    chain: str
    size: int
    root: str
    issued_at: str
    public_key: str
    signature: str

    def __post_init__(self) -> None:
        for item in dataclasses.fields(self):
            _check(item.name, getattr(self, item.name))


def new_private_key() -> bytes:
    """A fresh Ed25519 key as its raw 32-byte seed, the form kept in the key file."""
    return Ed25519PrivateKey.generate().private_bytes_raw()


def public_key_of(private_key: bytes) -> str:
    return _load_private_key(private_key).public_key().public_bytes_raw().hex()


def sign_checkpoint(
    private_key: bytes, *, chain: str, size: int, root: str, issued_at: datetime
) -> Checkpoint:
    _check("chain", chain)
    _check("size", size)
    _check("root", root)
    key = _load_private_key(private_key)
    issued = isoformat_utc(issued_at)
    signature = key.sign(_message(chain=chain, size=size, root=root, issued_at=issued))
    return Checkpoint(
        chain=chain,
        size=size,
        root=root,
        issued_at=issued,
        public_key=key.public_key().public_bytes_raw().hex(),
        signature=signature.hex(),
    )


def verify_checkpoint(checkpoint: Checkpoint, public_key_hex: str) -> bool:
    """True when the pilot whose key the payer trusts signed exactly this checkpoint.

    The key named inside the checkpoint is only a label: trusting it would let
    anyone sign a checkpoint with their own key. The trusted key is accepted as
    people paste it: any case, with a stray newline from the file it came in.
    """
    if checkpoint.public_key != public_key_hex.strip().lower():
        return False
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(checkpoint.public_key))
        key.verify(
            bytes.fromhex(checkpoint.signature),
            _message(
                chain=checkpoint.chain,
                size=checkpoint.size,
                root=checkpoint.root,
                issued_at=checkpoint.issued_at,
            ),
        )
    except (InvalidSignature, ValueError):
        return False
    return True


def checkpoint_to_json(cp: Checkpoint) -> str:
    return json.dumps(dataclasses.asdict(cp), indent=2) + "\n"


def checkpoint_from_json(text: str) -> Checkpoint:
    """Read a checkpoint file, naming the field at fault when it is malformed."""
    try:
        data = json.loads(text, object_pairs_hook=_refuse_repeated_fields)
    except json.JSONDecodeError as error:
        raise ValueError(f"checkpoint file is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ValueError(f"checkpoint file must hold a JSON object, not {type(data).__name__}")
    missing = [name for name in _FIELD_RULES if name not in data]
    if missing:
        raise ValueError(f"checkpoint file is missing field(s): {', '.join(missing)}")
    unknown = sorted(set(data) - set(_FIELD_RULES))
    if unknown:
        raise ValueError(f"checkpoint file has unknown field(s): {', '.join(unknown)}")
    return Checkpoint(**data)


def _refuse_repeated_fields(pairs: list[tuple[str, object]]) -> dict[str, object]:
    """JSON parsers disagree on which of two repeated keys wins; a signed file must
    mean one thing to every reader."""
    data: dict[str, object] = {}
    for key, value in pairs:
        if key in data:
            raise ValueError(f"checkpoint file repeats field {key!r}")
        data[key] = value
    return data


def _message(*, chain: str, size: int, root: str, issued_at: str) -> bytes:
    return canonical_bytes(
        {
            "kind": CHECKPOINT_KIND,
            "chain": chain,
            "size": size,
            "root": root,
            "issued_at": issued_at,
        }
    )


def _load_private_key(private_key: bytes) -> Ed25519PrivateKey:
    if len(private_key) != 32:
        raise ValueError(f"an Ed25519 private key is a 32-byte seed; got {len(private_key)} bytes")
    return Ed25519PrivateKey.from_private_bytes(private_key)
