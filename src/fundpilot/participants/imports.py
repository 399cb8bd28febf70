"""Loading a payer's eligibility register and batches of referrals from CSV files.

Each import is one action: the whole file is read and every row validated first;
if any row is bad nothing is stored and `ImportRefused` lists every problem by the
file's line number (the header is line 1), column and reason. A good file is stored
in one durable transaction with one `ImportBatch` and exactly one audit record.
The same content (SHA-256) imported again for the same pilot, kind and payer is
recognised and changes nothing: no rows, no batch, no audit record.

The files are CSV, UTF-8 (a byte-order mark is allowed), comma-separated, with a
header line; columns may come in any order, extra columns are ignored, header names
are matched without regard to case or surrounding spaces, and values are stripped of
surrounding spaces. Blank lines are skipped.

Eligibility register (`import_eligibility`), one row per coverage period:
    member_id       the payer's member ID: 1–64 printable characters, not starting
                    with = + - @ (a spreadsheet would run it as a formula)
    payer           must be the payer the register is imported for
    coverage_start  YYYY-MM-DD
    coverage_end    YYYY-MM-DD on or after coverage_start, or empty (open-ended)
    status          active, inactive or terminated (any case; stored lower case).
                    Only `active` supports a C1 eligibility file; `inactive` is
                    coverage suspended, `terminated` is coverage ended by the payer.

Referrals (`import_referrals`), checked by the same rules as `receive_referral`:
    reference, participant_id, member_id   identifiers as member_id above; a reference
                    may not repeat within the file or a referral already stored
    payer, source, service_category, geography (optional column; may be empty)
                    codes of the rulebook version in force
    provider        the code of a provider organisation taking part in the pilot;
                    provider staff may import referrals for their own organisation only
    referred_at     YYYY-MM-DD (midnight in the pilot's time zone) or an ISO date-time
                    with its UTC offset (2026-03-02T09:30:00-08:00, or Z); not later
                    than the import, within the pilot period
"""

import calendar as months
import csv
import hashlib
import io
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from operator import itemgetter
from zoneinfo import ZoneInfo

from django.db import IntegrityError, connection, transaction

from fundpilot.audit import log
from fundpilot.participants import deadlines
from fundpilot.participants.models import EligibilityEntry, ImportBatch, Referral
from fundpilot.pilots import policy
from fundpilot.pilots.actions import actor
from fundpilot.pilots.models import Organisation, Party, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.rulebook import Rulebook
from fundpilot.rules.vocabulary import OrgKind

Progress = Callable[[int, int], None]

REGISTER_COLUMNS = ("member_id", "payer", "coverage_start", "coverage_end", "status")
REGISTER_STATUSES = ("active", "inactive", "terminated")
REFERRAL_COLUMNS = (
    "reference",
    "participant_id",
    "payer",
    "member_id",
    "source",
    "provider",
    "service_category",
    "referred_at",
)
OPTIONAL_REFERRAL_COLUMNS = ("geography",)
ID_MAX = 64  # the models' identifier columns
FORMULA_START = "=+-@"  # OWASP's CSV-injection list (tab and CR are stripped anyway)
PROGRESS_EVERY = 10_000
# Rows per executemany call on SQLite: large enough to amortise the call, small
# enough to report progress while inserting.
INSERT_CHUNK = 10_000
SQLITE_CACHE_KIB = 256 * 1024  # page cache while inserting a register (a limit, not an allocation)
NO_ROWS = "the file has a header but no rows"
SHOWN_LINES = 10  # lines named in a refusal message that is not a row list

_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,6})?)?"
    r"(Z|[+-][0-9]{2}(:?[0-9]{2})?)?"
)


@dataclass(frozen=True)
class RowProblem:
    """One thing wrong with an imported file: where (line, column) and why."""

    line: int
    column: str  # the header's name for the column; "" when the whole line or file is at fault
    reason: str

    def __str__(self) -> str:
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        return f"{where}: {self.reason}"


@dataclass(frozen=True)
class ImportResult:
    batch: ImportBatch | None
    rows: int
    already_imported: bool


class ImportRefused(Refused):
    """The file was refused and nothing was stored; `problems` names every bad row."""

    def __init__(
        self,
        code: str,
        message: str,
        field: str | None = None,
        problems: list[RowProblem] | None = None,
    ) -> None:
        super().__init__(code, message, field)
        self.problems = problems or []


class _Invalid(Exception):
    """A value that fails its check; `reason` says why, for a RowProblem."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# --- the actions -----------------------------------------------------------------------


def import_eligibility(
    *,
    pilot: Pilot,
    payer_id: str,
    filename: str,
    content: bytes,
    by: User,
    at: datetime,
    progress: Progress | None = None,
) -> ImportResult:
    """Load a payer's eligibility register (the register C1 checks payer status against).

    `progress(done, total)` is called every 10,000 rows, after validation and after the
    last insert; `total` is twice the number of rows (validation, then insertion) and
    `done` never goes back.
    """
    role = policy.require(by, "eligibility.import", pilot)
    version = pilot.current
    if payer_id not in {p.id for p in version.rulebook.payers}:
        raise Refused("unknown_payer", f"the rulebook has no payer '{payer_id}'", "payer_id")
    sha256 = hashlib.sha256(content).hexdigest()
    if done := _imported(pilot, ImportBatch.ELIGIBILITY, payer_id, sha256):
        return done
    report = progress or _silent
    text, problems = _text(content, REGISTER_COLUMNS)
    rows = [] if text is None else _read_register(text, payer_id, problems, report)
    _refuse_if(problems, read=text is not None, rows=len(rows))
    total = 2 * len(rows)
    report(len(rows), total)
    filename = _label(filename)
    try:
        with transaction.atomic(durable=True):
            if done := _imported(pilot, ImportBatch.ELIGIBILITY, payer_id, sha256):
                return done
            batch = ImportBatch.objects.create(
                pilot=pilot,
                kind=ImportBatch.ELIGIBILITY,
                payer_id=payer_id,
                filename=filename,
                sha256=sha256,
                rows=len(rows),
                imported_by=by,
                imported_at=at,
            )
            _insert_register(batch, rows, lambda n: report(len(rows) + n, total))
            log.append(
                chain=log.pilot_chain(pilot.slug),
                actor=actor(by, role),
                action="eligibility.import",
                subject=f"import:{batch.pk}",
                payload={
                    "filename": filename,
                    "sha256": sha256,
                    "rows": len(rows),
                    "payer": payer_id,
                },
                at=at,
                rulebook_version=version.number,
            )
    except IntegrityError:
        # The same file committed by a concurrent import (PostgreSQL; SQLite queues).
        if done := _imported(pilot, ImportBatch.ELIGIBILITY, payer_id, sha256):
            return done
        raise
    return ImportResult(batch=batch, rows=len(rows), already_imported=False)


def import_referrals(
    *,
    pilot: Pilot,
    filename: str,
    content: bytes,
    by: User,
    at: datetime,
    progress: Progress | None = None,
) -> ImportResult:
    """Receive a file of referrals ("no wrong door"); each one's C1 file falls due.

    `progress` is called as for `import_eligibility`.
    """
    role = policy.require(by, "referral.receive", pilot)
    version = pilot.current
    rb = version.rulebook
    if rb.eligibility is None:
        raise Refused(
            "no_eligibility_rules", "this pilot's rulebook enrols no participants", "pilot"
        )
    sha256 = hashlib.sha256(content).hexdigest()
    if done := _imported(pilot, ImportBatch.REFERRALS, "", sha256):
        _own_referrals_only(by, pilot, done)
        return done
    report = progress or _silent
    text, problems = _text(content, REFERRAL_COLUMNS)
    reader = _ReferralReader(pilot, rb, by, at)
    numbered = [] if text is None else reader.read(text, problems, report)
    if reader.foreign:
        raise NotPermitted(
            "other_organisation",
            f"{_lines(reader.foreign)} name another provider organisation; you may import"
            " referrals only for your own",
            "provider",
        )
    problems.extend(_stored_references(pilot, numbered))
    referrals = [referral for _, referral in numbered]
    _refuse_if(problems, read=text is not None, rows=len(referrals))
    total = 2 * len(referrals)
    report(len(referrals), total)
    filename = _label(filename)
    with transaction.atomic(durable=True):
        if done := _imported(pilot, ImportBatch.REFERRALS, "", sha256):
            return done
        _refuse_if(_stored_references(pilot, numbered), rows=len(referrals))  # received meanwhile
        batch = ImportBatch.objects.create(
            pilot=pilot,
            kind=ImportBatch.REFERRALS,
            payer_id="",
            filename=filename,
            sha256=sha256,
            rows=len(referrals),
            imported_by=by,
            imported_at=at,
        )
        for start in range(0, len(referrals), INSERT_CHUNK):
            chunk = referrals[start : start + INSERT_CHUNK]
            for referral in chunk:
                referral.batch = batch
            Referral.objects.bulk_create(chunk, batch_size=500)
            report(len(referrals) + start + len(chunk), total)
        log.append(
            chain=log.pilot_chain(pilot.slug),
            actor=actor(by, role),
            action="referral.import",
            subject=f"import:{batch.pk}",
            payload={
                "filename": filename,
                "sha256": sha256,
                "rows": len(referrals),
                "payers": sorted({r.payer_id for r in referrals}),
                "providers": sorted({r.provider.code for r in referrals}),
            },
            at=at,
            rulebook_version=version.number,
        )
    return ImportResult(batch=batch, rows=len(referrals), already_imported=False)


# --- shared steps -----------------------------------------------------------------------


def _silent(done: int, total: int) -> None:
    pass


def _imported(pilot: Pilot, kind: str, payer_id: str, sha256: str) -> ImportResult | None:
    batch = ImportBatch.objects.filter(
        pilot=pilot, kind=kind, payer_id=payer_id, sha256=sha256
    ).first()
    return None if batch is None else ImportResult(batch, batch.rows, already_imported=True)


def _own_referrals_only(by: User, pilot: Pilot, done: ImportResult) -> None:
    """A file already imported is only acknowledged to those who may import it."""
    if policy.sees_every_provider(by, pilot):
        return
    others = Referral.objects.filter(batch=done.batch).exclude(provider=by.organisation_id)
    if others.exists():
        raise NotPermitted(
            "other_organisation", "this file holds referrals of another provider", "provider"
        )


def _refuse_if(problems: list[RowProblem], *, read: bool = True, rows: int) -> None:
    """Refuse the file if anything is wrong with it, naming every problem in line order.

    `read` is False when the file could not be read as text at all; `rows` counts
    the valid rows (a header with no rows is refused too).
    """
    if read and not rows and not problems:
        problems.append(RowProblem(2, "", NO_ROWS))
    if not problems:
        return
    problems.sort(key=lambda p: p.line)  # stable: columns stay in file order
    lines = {p.line for p in problems}
    if not read or (
        len(problems) == 1 and (problems[0].line == 1 or problems[0].reason == NO_ROWS)
    ):
        summary = problems[0].reason
    elif all(p.line == 1 for p in problems):
        summary = "the header is not right"
    elif len(lines) == 1:
        summary = "1 row is invalid"
    else:
        summary = f"{len(lines)} rows are invalid"
    raise ImportRefused("import_invalid", f"{summary}; nothing was imported", None, problems)


def _label(filename: str) -> str:
    """The file's name as recorded: its last path part, printable, at most 255 characters."""
    name = filename.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isprintable() else "?" for c in name).strip()
    return (name or "upload.csv")[:255]


def _line_of(content: bytes, offset: int) -> int:
    return content.count(b"\n", 0, offset) + 1


def _text(content: bytes, columns: Sequence[str]) -> tuple[str | None, list[RowProblem]]:
    """The file as text, or the one problem that stops it being read at all."""
    expected = ",".join(columns)
    if not content or content.isspace():
        reason = f"the file is empty; its first line must be the header {expected}"
        return None, [RowProblem(1, "", reason)]
    if content.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None, [RowProblem(1, "", "the file is UTF-16 text; save it as CSV UTF-8")]
    if (nul := content.find(b"\x00")) >= 0:
        reason = "the file contains NUL bytes: it is binary, not CSV text"
        return None, [RowProblem(_line_of(content, nul), "", reason)]
    try:
        text = content.decode("utf-8")
    except UnicodeDecodeError as exc:
        reason = (
            f"the file is not UTF-8 text (byte 0x{content[exc.start]:02x}); save it as CSV UTF-8"
        )
        return None, [RowProblem(_line_of(content, exc.start), "", reason)]
    return text.removeprefix("\ufeff"), []


class _Records:
    """The CSV records of a text with the line each starts on; blank lines skipped.

    A malformed record (bad quoting) is yielded with `fields` None and the reason.
    """

    def __init__(self, text: str) -> None:
        self.reader = csv.reader(io.StringIO(text, newline=""), strict=True)

    def __iter__(self) -> Iterator[tuple[int, list[str] | None, str]]:
        reader = self.reader
        while True:
            line = reader.line_num + 1
            try:
                fields = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield line, None, _csv_reason(exc)
                continue
            if fields and (len(fields) > 1 or fields[0].strip()):
                yield line, fields, ""


def _csv_reason(exc: csv.Error) -> str:
    text = str(exc)
    if "expected after" in text:
        return (
            "a quoted value is followed by more text before the next comma;"
            ' quote the whole value and double any " inside it'
        )
    if "unexpected end of data" in text:
        return "a quoted value is never closed: the file ends inside quotes"
    if "field larger than field limit" in text:
        return f"a value is longer than {csv.field_size_limit()} characters"
    return f"the line is not valid CSV ({text})"


def _header(
    records: Iterator[tuple[int, list[str] | None, str]],
    required: Sequence[str],
    optional: Sequence[str] = (),
) -> tuple[dict[str, int], int, list[RowProblem]]:
    """Column positions by name, the number of columns, and what is wrong with the header."""
    expected = ",".join(required)
    first = next(records, None)
    if first is None:
        return {}, 0, [RowProblem(1, "", f"the file has no header; expected {expected}")]
    line, fields, error = first
    if fields is None:
        return {}, 0, [RowProblem(line, "", error)]
    if line != 1:
        reason = f"the file starts with blank lines; line 1 must be the header {expected}"
        return {}, 0, [RowProblem(1, "", reason)]
    names = [name.strip().lower() for name in fields]
    problems, index = [], {}
    for position, name in enumerate(names):
        if name in index and name in (*required, *optional):
            reason = f"column {name} appears twice (columns {index[name] + 1} and {position + 1})"
            problems.append(RowProblem(1, name, reason))
        index.setdefault(name, position)
    missing = [name for name in required if name not in index]
    separator = next((s for s in ";\t|" if s in fields[0]), None) if len(fields) == 1 else None
    if missing and separator:
        reason = (
            f"the values are separated by {separator!r}, not commas; save the file as"
            " comma-separated CSV"
        )
        problems.append(RowProblem(1, "", reason))
    elif missing:
        for name in missing:
            reason = f"the header has no column {name}; expected {expected}"
            problems.append(RowProblem(1, name, reason))
    return index, len(fields), problems


def _show(value: str) -> str:
    """A value quoted for a message: control characters escaped, long values cut."""
    return repr(value if len(value) <= 40 else value[:37] + "...")


def _identifier(value: str) -> str:
    """An identifier (member ID, participant ID, reference), or _Invalid."""
    if not value:
        raise _Invalid("is empty")
    if len(value) > ID_MAX:
        raise _Invalid(f"is {len(value)} characters long; at most {ID_MAX} are allowed")
    if not value.isprintable():
        raise _Invalid(f"{_show(value)} contains a control or invisible character")
    if value[0] in FORMULA_START:
        raise _Invalid(
            f"{_show(value)} starts with {value[0]!r}, which a spreadsheet would run as a formula"
        )
    return value


def _date(value: str) -> date:
    if not _ISO_DATE.fullmatch(value):
        if not value:
            raise _Invalid("is empty; give a date as YYYY-MM-DD")
        raise _Invalid(f"{_show(value)} is not a date as YYYY-MM-DD")
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{value} is not a real date: {_why_not_a_date(value)}") from None


def _why_not_a_date(value: str) -> str:
    year, month = int(value[:4]), int(value[5:7])
    if not 1 <= month <= 12:
        return f"there is no month {month}"
    if year < 1:
        return f"there is no year {year}"
    days = months.monthrange(year, month)[1]
    return f"{months.month_name[month]} {year} has {days} days"


def _instant(value: str, zone: ZoneInfo) -> datetime:
    """A date (midnight in the pilot's zone) or a date-time with its offset, in UTC."""
    if len(value) == 10:
        day = _date(value)
        return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)
    if not _ISO_DATETIME.fullmatch(value):
        if not value:
            raise _Invalid("is empty; give a date or a date-time with its UTC offset")
        raise _Invalid(
            f"{_show(value)} is neither a date (YYYY-MM-DD) nor a date-time with its"
            " UTC offset (YYYY-MM-DDTHH:MM:SS±HH:MM)"
        )
    _date(value[:10])  # names an impossible date as such
    try:
        instant = datetime.fromisoformat(value)
    except ValueError:
        raise _Invalid(f"{value} is not a real time of day") from None
    if instant.utcoffset() is None:
        raise _Invalid(
            f"{value} has no UTC offset; add it (e.g. {value}-08:00) or give only the date"
        )
    return instant.astimezone(UTC)


# --- the eligibility register ------------------------------------------------------------


# member_id, coverage_start, coverage_end, status; dates as their checked YYYY-MM-DD text,
# which is what SQLite stores and COPY reads, and which orders as the dates do.
Entry = tuple[str, str, str | None, str]


def _read_register(
    text: str, payer_id: str, problems: list[RowProblem], report: Callable[[int, int], None]
) -> list[Entry]:
    """Every valid row; every problem appended to `problems`.

    This loop runs a million times for a large register, so it is written flat: one
    pass of the csv module, cached dates, and checks that only call out when they fail.
    """
    records = iter(_Records(text))
    index, width, header_problems = _header(records, REGISTER_COLUMNS)
    if header_problems:
        problems.extend(header_problems)
        return []
    member_at, payer_at, start_at, end_at, status_at = (index[c] for c in REGISTER_COLUMNS)
    estimate = max(text.count("\n") - 1, 1)
    statuses = {s: s for s in REGISTER_STATUSES}
    dates: set[str] = set()  # the ones already found to be real dates
    rows: list[Entry] = []
    add, bad = rows.append, problems.append
    count = 0
    for line, fields, error in records:
        count += 1
        if not count % PROGRESS_EVERY:
            report(count, 2 * max(estimate, count))
        if fields is None:
            bad(RowProblem(line, "", error))
            continue
        if len(fields) != width:
            bad(RowProblem(line, "", _width_reason(len(fields), width)))
            continue
        ok = True
        member = fields[member_at].strip()
        if not member or len(member) > ID_MAX or not member.isprintable() or member[0] in "=+-@":
            try:
                _identifier(member)
            except _Invalid as exc:
                ok = False
                bad(RowProblem(line, "member_id", exc.reason))
        payer = fields[payer_at].strip()
        if payer != payer_id:
            ok = False
            bad(RowProblem(line, "payer", f"is {_show(payer)}, but the register is for {payer_id}"))
        start: str | None = fields[start_at].strip()
        if start not in dates:
            try:
                _date(start)  # type: ignore[arg-type]
                dates.add(start)  # type: ignore[arg-type]
            except _Invalid as exc:
                ok, start = False, None
                bad(RowProblem(line, "coverage_start", exc.reason))
        end: str | None = fields[end_at].strip() or None
        if end is not None:
            if end not in dates:
                try:
                    _date(end)
                    dates.add(end)
                except _Invalid as exc:
                    ok, end = False, None
                    bad(RowProblem(line, "coverage_end", exc.reason))
            if end is not None and start is not None and end < start:
                ok = False
                bad(RowProblem(line, "coverage_end", f"{end} is before coverage_start {start}"))
        value = fields[status_at].strip()
        status = statuses.get(value) or statuses.get(value.lower())
        if status is None:
            ok = False
            reason = f"{_show(value)} is not one of {', '.join(REGISTER_STATUSES)}"
            bad(RowProblem(line, "status", reason))
        if ok:
            add((member, start, end, status))  # type: ignore[arg-type]
    return rows


def _width_reason(count: int, width: int) -> str:
    noun = "value" if count == 1 else "values"
    hint = "; a comma inside a value must be quoted" if count > width else ""
    return f"has {count} {noun}, but the header has {width} columns{hint}"


def _insert_register(batch: ImportBatch, rows: list[Entry], report: Callable[[int], None]) -> None:
    """Insert the rows in the action's transaction, as fast as the database allows.

    `bulk_create` builds a model instance per row and, on SQLite, a statement per 142
    rows (its 999-parameter limit): about 70 s for a million rows here. The rows are
    already validated, so they go straight in: COPY on PostgreSQL, `executemany` of
    one prepared INSERT elsewhere. Columns come from the model, so they stay in step.

    Rows go in ordered by member ID, the order of the (pilot, payer, member) index, so
    the index grows at its end instead of splitting pages all over; the sort is stable,
    so one member's rows keep their file order (and their primary keys that order).
    SQLite also gets a larger page cache for the duration. Together they halve the
    insertion time of a million rows.
    """
    rows.sort(key=itemgetter(0))
    meta = EligibilityEntry._meta
    names = ("pilot", "batch", "payer_id", "member_id", "coverage_start", "coverage_end", "status")
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(meta.get_field(name).column) for name in names)
    fixed = (batch.pilot_id, batch.pk, batch.payer_id)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for done, row in enumerate(rows, 1):
                    copy.write_row(fixed + row)
                    if not done % INSERT_CHUNK:
                        report(done)
            if len(rows) % INSERT_CHUNK:
                report(len(rows))
            return
        # Identifiers from the model's meta, quoted; the values are parameters.
        marks = ", ".join(["%s"] * len(names))
        sql = f"INSERT INTO {table} ({columns}) VALUES ({marks})"  # noqa: S608
        cache = None
        if connection.vendor == "sqlite":
            cursor.execute("PRAGMA cache_size")
            cache = int(cursor.fetchone()[0])
            cursor.execute(f"PRAGMA cache_size = -{SQLITE_CACHE_KIB}")
        try:
            for start in range(0, len(rows), INSERT_CHUNK):
                chunk = rows[start : start + INSERT_CHUNK]
                cursor.executemany(sql, [fixed + row for row in chunk])
                report(start + len(chunk))
        finally:
            if cache is not None:
                cursor.execute(f"PRAGMA cache_size = {cache}")


# --- referrals -----------------------------------------------------------------------------


class _ReferralReader:
    """Reads a referral file against the rulebook version in force and the pilot's parties."""

    def __init__(self, pilot: Pilot, rb: Rulebook, by: User, at: datetime) -> None:
        self.pilot, self.by, self.at = pilot, by, at
        self.calendar = pilot.calendar
        self.zone = ZoneInfo(rb.pilot.timezone)
        self.period = (rb.pilot.period_start, rb.pilot.period_end)
        self.days = rb.deadlines.eligibility_file
        assert rb.eligibility is not None
        # column → (what a valid value is, the rulebook's codes)
        self.codes = {
            "payer": ("a payer of this pilot", {p.id for p in rb.payers}),
            "source": ("a referral source code", {c.code for c in rb.codes.referral_sources}),
            "service_category": (
                "a qualifying service category",
                {c.code for c in rb.eligibility.qualifying_service_categories},
            ),
            "geography": ("a geography code", {c.code for c in rb.codes.geographies}),
        }
        parties = Party.objects.filter(pilot=pilot).select_related("organisation")
        self.providers: dict[str, Organisation] = {
            p.organisation.code: p.organisation
            for p in parties
            if p.organisation.kind == OrgKind.PROVIDER
        }
        self.scoped = not policy.sees_every_provider(by, pilot)
        self.foreign: list[int] = []  # lines naming another organisation's provider
        self.due: dict[date, date] = {}

    def read(
        self, text: str, problems: list[RowProblem], report: Callable[[int, int], None]
    ) -> list[tuple[int, Referral]]:
        """Each valid row's line and unsaved referral; every problem appended to `problems`."""
        records = iter(_Records(text))
        index, width, header_problems = _header(
            records, REFERRAL_COLUMNS, OPTIONAL_REFERRAL_COLUMNS
        )
        if header_problems:
            problems.extend(header_problems)
            return []
        estimate = max(text.count("\n") - 1, 1)
        referrals: list[tuple[int, Referral]] = []
        first_line: dict[str, int] = {}
        for count, (line, fields, error) in enumerate(records, 1):
            if not count % PROGRESS_EVERY:
                report(count, 2 * max(estimate, count))
            if fields is None:
                problems.append(RowProblem(line, "", error))
            elif len(fields) != width:
                problems.append(RowProblem(line, "", _width_reason(len(fields), width)))
            else:
                values = {name: fields[i].strip() for name, i in index.items()}
                referral = self._row(line, values, problems, first_line)
                if referral is not None:
                    referrals.append((line, referral))
        return referrals

    def _row(
        self,
        line: int,
        values: dict[str, str],
        problems: list[RowProblem],
        first_line: dict[str, int],
    ) -> Referral | None:
        found: list[RowProblem] = []

        def check(column: str, parse: Callable[[str], object]) -> object:
            try:
                return parse(values.get(column, ""))
            except _Invalid as exc:
                found.append(RowProblem(line, column, exc.reason))
                return None

        reference = check("reference", _identifier)
        if isinstance(reference, str):
            if reference in first_line:
                reason = f"{_show(reference)} repeats the reference of line {first_line[reference]}"
                found.append(RowProblem(line, "reference", reason))
            else:
                first_line[reference] = line
        participant_id = check("participant_id", _identifier)
        payer = check("payer", lambda v: self._code("payer", v))
        member_id = check("member_id", _identifier)
        source = check("source", lambda v: self._code("source", v))
        provider = check("provider", self._provider)
        category = check("service_category", lambda v: self._code("service_category", v))
        referred_at = check("referred_at", self._referred_at)
        geography = check("geography", lambda v: v and self._code("geography", v))
        scoped = self.scoped and isinstance(provider, Organisation)
        if scoped and provider.pk != self.by.organisation_id:  # type: ignore[union-attr]
            self.foreign.append(line)
        if found:
            problems.extend(found)
            return None
        assert isinstance(referred_at, datetime) and isinstance(provider, Organisation)
        return Referral(
            pilot=self.pilot,
            reference=reference,
            participant_id=participant_id,
            payer_id=payer,
            member_id=member_id,
            source=source,
            provider=provider,
            service_category=category,
            geography=geography,
            referred_at=referred_at,
            received_by=self.by,
            file_due=self._file_due(referred_at),
        )

    def _code(self, column: str, value: str) -> str:
        what, codes = self.codes[column]
        if value not in codes:
            raise _Invalid(f"{_show(value)} is not {what}" if value else f"is empty; give {what}")
        return value

    def _provider(self, value: str) -> Organisation:
        if value not in self.providers:
            if not value:
                raise _Invalid("is empty; give the provider organisation's code")
            raise _Invalid(f"{_show(value)} is not a provider organisation of this pilot")
        return self.providers[value]

    def _referred_at(self, value: str) -> datetime:
        instant = _instant(value, self.zone)
        if instant > self.at:
            raise _Invalid(f"{value} is later than the import ({self.at.isoformat()})")
        first, last = self.period
        if not first <= instant.astimezone(self.zone).date() <= last:
            raise _Invalid(f"{value} is outside the pilot period {first} to {last}")
        return instant

    def _file_due(self, referred_at: datetime) -> date:
        """C1's due date, one business-day computation per local date of referral."""
        day = self.calendar.local_date(referred_at)
        if (due := self.due.get(day)) is None:
            # With no deadline in the rulebook the file is due the day of referral
            # (as receive_referral does).
            due = self.due[day] = deadlines.due_after(self.pilot, referred_at, self.days) or day
        return due


def _lines(lines: Sequence[int]) -> str:
    shown = ", ".join(str(line) for line in lines[:SHOWN_LINES])
    more = f" and {len(lines) - SHOWN_LINES} more" if len(lines) > SHOWN_LINES else ""
    return f"line {shown}" if len(lines) == 1 else f"lines {shown}{more}"


def _stored_references(pilot: Pilot, referrals: Iterable[tuple[int, Referral]]) -> list[RowProblem]:
    """The file's references that a stored referral already carries."""
    line_of = {referral.reference: line for line, referral in referrals}
    wanted = list(line_of)
    stored: set[str] = set()
    for start in range(0, len(wanted), 500):
        chunk = wanted[start : start + 500]
        stored.update(
            Referral.objects.filter(pilot=pilot, reference__in=chunk).values_list(
                "reference", flat=True
            )
        )
    return [
        RowProblem(line_of[ref], "reference", f"{_show(ref)} was already received")
        for ref in wanted
        if ref in stored
    ]
