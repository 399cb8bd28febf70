"""The one domain error type: a refused action.

Every control that says "cannot proceed without" raises `Refused`; the API turns it
into a 422, pages show it on the form, and the CLI prints it and exits 2.
"""


class Refused(Exception):
    """An action refused by a control; nothing was written.

    Not a frozen dataclass: Python must be able to set `__traceback__` on an
    exception as it passes through context managers.
    """

    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(code, message, field)
        self.code = code
        self.message = message
        self.field = field

    def __str__(self) -> str:
        where = f" ({self.field})" if self.field else ""
        return f"{self.code}: {self.message}{where}"


class NotPermitted(Refused):
    """The permission policy refused the actor (HTTP 403, CLI exit 2)."""
