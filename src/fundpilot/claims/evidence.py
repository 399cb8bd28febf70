"""Evidence files (C7): what a file is, where it is kept, how it is read back.

A file's type is read from its content, never from its name: a PDF, PNG or JPEG by
its leading signature bytes, CSV or plain text when the whole file decodes as UTF-8
text. Files are kept in Django's default storage (MEDIA_ROOT, i.e. FUNDPILOT_HOME/files,
unless another backend is configured) at a content-addressed name,
`evidence/<pilot>/<sha[:2]>/<sha>`: the same content is stored once, and a stored
file can be checked against the hash its record holds. Nothing here is served from
a public media URL; pages and the API read files through `open_file` after asking
the policy.
"""

import csv
import hashlib
import io
import re
from typing import IO

from django.conf import settings
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

PDF, PNG, JPEG, CSV, TEXT = (
    "application/pdf",
    "image/png",
    "image/jpeg",
    "text/csv",
    "text/plain",
)
UNKNOWN = "application/octet-stream"
# Leading bytes of the binary formats we accept.
SIGNATURES = ((b"%PDF-", PDF), (b"\x89PNG\r\n\x1a\n", PNG), (b"\xff\xd8\xff", JPEG))
# Control characters never found in text files (tab, newline, carriage return and
# form feed are allowed).
_BINARY = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f]")


def max_bytes() -> int:
    """The configured size limit (settings.FUNDPILOT_EVIDENCE_MAX_BYTES)."""
    return int(settings.FUNDPILOT_EVIDENCE_MAX_BYTES)


def sha256_of(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def media_type_of(content: bytes) -> str:
    """The media type the content shows itself to be; UNKNOWN when it is none we know."""
    for signature, media_type in SIGNATURES:
        if content.startswith(signature):
            return media_type
    try:
        text = content.decode("utf-8-sig")
    except UnicodeDecodeError:
        return UNKNOWN
    if _BINARY.search(text):
        return UNKNOWN
    return CSV if _is_csv(text) else TEXT


def _is_csv(text: str) -> bool:
    """Comma-separated rows that all have the same number (two or more) of fields."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines:
        return False
    try:
        widths = {len(row) for row in csv.reader(io.StringIO("\n".join(lines)))}
    except csv.Error:
        return False
    return len(widths) == 1 and widths.pop() >= 2


def describe(media_types: tuple[str, ...] | list[str]) -> str:
    names = {PDF: "PDF", PNG: "PNG", JPEG: "JPEG", CSV: "CSV", TEXT: "plain text"}
    return ", ".join(names.get(m, m) for m in media_types)


def storage_name(pilot_slug: str, sha256: str) -> str:
    return f"evidence/{pilot_slug}/{sha256[:2]}/{sha256}"


def store(pilot_slug: str, sha256: str, content: bytes) -> str:
    """Keep the content under its hash (once: the same content is never stored twice)
    and return the storage name to record on the Evidence row."""
    name = storage_name(pilot_slug, sha256)
    if not default_storage.exists(name):
        saved = default_storage.save(name, ContentFile(content))
        if saved != name:  # another process stored it meanwhile; keep one copy
            default_storage.delete(saved)
    return name


def open_file(name: str) -> IO[bytes]:
    """The stored file, opened for reading (the caller has asked the policy)."""
    return default_storage.open(name, "rb")  # type: ignore[no-any-return]


def clean_filename(filename: str) -> str:
    """The name the uploader gave, without any folders, at most 255 characters."""
    base = re.split(r"[\\/]", filename.strip())[-1]
    base = _BINARY.sub("", base).strip() or "evidence"
    return base[-255:]
