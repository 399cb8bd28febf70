"""The one byte encoding that audit hashes and checkpoint signatures are computed over.

A hash chain is only checkable if the verifier can rebuild the exact bytes that
were hashed, possibly years later and in another language. So the encoding is
plain JSON with every choice pinned:

- UTF-8, keys sorted by code point, separators "," and ":", non-ASCII kept as is;
- Decimal as its `str()` exactly, so Decimal("1.10") and Decimal("1.1") encode
  differently ("1.10" vs "1.1"): the record keeps the precision it was given, and
  money is quantised to cents before it is recorded;
- date as "YYYY-MM-DD"; datetime converted to UTC as
  "YYYY-MM-DDTHH:MM:SS.ffffffZ" (always six fractional digits, always "Z"), so
  one instant has one spelling whatever zone it was written in;
- UUID as its lowercase hyphenated string; StrEnum as its value; tuple as list.

Floats are refused anywhere in the value: their decimal spelling differs between
languages and versions, so a float would make a record unverifiable. Non-string
keys are refused too, since JSON would silently turn 1 and "1" into the same key.
"""

import hashlib
import json
import re
from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from uuid import UUID

GENESIS_HASH = "0" * 64
_SHA256_HEX = re.compile(r"[0-9a-f]{64}")


def canonical_bytes(value: object) -> bytes:
    return json.dumps(
        _plain(value),
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def chain_hash(prev_hash: str, body: Mapping[str, object]) -> str:
    """The hash of one audit record, binding it to the record before it.

    The first record of a chain uses GENESIS_HASH as `prev_hash`.
    """
    if not isinstance(prev_hash, str) or not _SHA256_HEX.fullmatch(prev_hash):
        raise ValueError(f"prev_hash must be 64 lowercase hex characters, got {prev_hash!r}")
    return sha256_hex(canonical_bytes({"prev": prev_hash, "body": body}))


def isoformat_utc(instant: datetime) -> str:
    """The canonical spelling of an instant (see the module docstring)."""
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"datetime {instant.isoformat()} has no time zone; use an aware datetime")
    return instant.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def _plain(value: object) -> object:
    """`value` as JSON-native types, refusing anything without one fixed spelling."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, float):
        raise TypeError(f"float {value!r} cannot be hashed canonically; use Decimal or int")
    if isinstance(value, str):
        # str.__str__ drops a subclass (StrEnum) to its underlying value.
        return str.__str__(value)
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"Decimal {value} is not a finite number")
        return str(value)
    if isinstance(value, datetime):
        return isoformat_utc(value)
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, Mapping):
        plain: dict[str, object] = {}
        for key, item in value.items():
            if not isinstance(key, str):
                raise TypeError(f"mapping key {key!r} is a {type(key).__name__}; keys must be str")
            plain[str.__str__(key)] = _plain(item)
        return plain
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    raise TypeError(f"{type(value).__name__} {value!r} has no canonical encoding")
