"""Importing a payer eligibility register and referral files: validated whole,
all-or-nothing, every bad row named by line and column, idempotent."""

from datetime import UTC, date, datetime

import pytest

from fundpilot.audit.models import AuditRecord
from fundpilot.participants.imports import (
    ImportRefused,
    RowProblem,
    import_eligibility,
    import_referrals,
)
from fundpilot.participants.models import EligibilityEntry, ImportBatch, Referral
from fundpilot.pilots import actions
from fundpilot.pilots.models import Organisation, Pilot, User
from fundpilot.rules.errors import NotPermitted, Refused
from fundpilot.rules.vocabulary import OrgKind, Role
from tests.conftest import NOW, make_person, organisation

HEADER = "member_id,payer,coverage_start,coverage_end,status\n"
GOOD_ROW = "WV-0001,wvch,2026-01-01,2026-12-31,active\n"
REFERRAL_HEADER = (
    "reference,participant_id,payer,member_id,source,provider,service_category,"
    "referred_at,geography\n"
)


@pytest.fixture
def people(
    pilot: Pilot, admin: User, provider: Organisation, other_provider: Organisation
) -> dict[str, User]:
    """Riverside and Northstar take part; a compliance officer and an enrollment
    manager at each provider."""
    for org in (provider, other_provider):
        actions.add_party(pilot=pilot, organisation=org, by=admin, at=NOW)
    office = admin.organisation
    assert office is not None
    return {
        "admin": admin,
        "compliance": make_person("imp-compliance", office, admin, Role.COMPLIANCE, pilot),
        "riverside": make_person("imp-rs", provider, admin, Role.ENROLLMENT_MANAGER, pilot),
        "northstar": make_person("imp-ns", other_provider, admin, Role.ENROLLMENT_MANAGER, pilot),
    }


def counts() -> tuple[int, int, int, int]:
    return (
        ImportBatch.objects.count(),
        EligibilityEntry.objects.count(),
        Referral.objects.count(),
        AuditRecord.objects.count(),
    )


def register(pilot: Pilot, by: User, text: str | bytes, **kwargs: object) -> object:
    content = text.encode() if isinstance(text, str) else text
    return import_eligibility(
        pilot=pilot,
        payer_id="wvch",
        filename="register.csv",
        content=content,
        by=by,
        at=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def referrals(pilot: Pilot, by: User, text: str, **kwargs: object) -> object:
    return import_referrals(
        pilot=pilot,
        filename="referrals.csv",
        content=text.encode(),
        by=by,
        at=NOW,
        **kwargs,  # type: ignore[arg-type]
    )


def refused_register(pilot: Pilot, by: User, text: str | bytes) -> ImportRefused:
    before = counts()
    with pytest.raises(ImportRefused) as refused:
        register(pilot, by, text)
    assert counts() == before
    assert (refused.value.code, refused.value.field) == ("import_invalid", None)
    return refused.value


def refused_referrals(pilot: Pilot, by: User, text: str) -> ImportRefused:
    before = counts()
    with pytest.raises(ImportRefused) as refused:
        referrals(pilot, by, text)
    assert counts() == before
    assert (refused.value.code, refused.value.field) == ("import_invalid", None)
    return refused.value


# --- the eligibility register -----------------------------------------------------------


def test_it_imports_a_register_with_extra_columns_in_any_order(pilot, people):
    # given: the payer's export, CRLF lines, a plan column we do not use
    text = (
        "Status, Member_ID ,plan,payer,coverage_end,coverage_start\r\n"
        "active,WV-0001,gold,wvch,2026-12-31,2026-01-01\r\n"
        "INACTIVE,WV-0002,silver,wvch,,2025-07-01\r\n"
        'terminated," WV-0003 ","bronze, legacy",wvch,2026-02-28,2025-01-01\r\n'
    )
    audit_before = AuditRecord.objects.count()
    # when
    result = register(pilot, people["compliance"], text)
    # then
    batch = ImportBatch.objects.get()
    assert (result.batch, result.rows, result.already_imported) == (batch, 3, False)
    assert (batch.kind, batch.payer_id, batch.filename, batch.rows) == (
        "eligibility",
        "wvch",
        "register.csv",
        3,
    )
    assert (batch.imported_by, batch.imported_at) == (people["compliance"], NOW)
    rows = EligibilityEntry.objects.order_by("pk").values_list(
        "pilot", "batch", "payer_id", "member_id", "coverage_start", "coverage_end", "status"
    )
    assert list(rows) == [
        (pilot.pk, batch.pk, "wvch", "WV-0001", date(2026, 1, 1), date(2026, 12, 31), "active"),
        (pilot.pk, batch.pk, "wvch", "WV-0002", date(2025, 7, 1), None, "inactive"),
        (pilot.pk, batch.pk, "wvch", "WV-0003", date(2025, 1, 1), date(2026, 2, 28), "terminated"),
    ]
    assert AuditRecord.objects.count() == audit_before + 1
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.role, record.subject) == (
        "eligibility.import",
        "imp-compliance",
        "compliance",
        f"import:{batch.pk}",
    )
    assert record.payload == {
        "filename": "register.csv",
        "sha256": batch.sha256,
        "rows": 3,
        "payer": "wvch",
    }
    assert (record.chain, record.rulebook_version) == ("pilot:recovery-2026", 1)


def test_an_administrator_imports_a_register_with_a_byte_order_mark(pilot, people):
    # when
    result = register(pilot, people["admin"], "\ufeff" + HEADER + GOOD_ROW)
    # then
    assert (result.rows, result.already_imported) == (1, False)
    assert EligibilityEntry.objects.get().member_id == "WV-0001"


def test_importing_the_same_register_again_changes_nothing(pilot, people):
    # given
    first = register(pilot, people["compliance"], HEADER + GOOD_ROW)
    before = counts()
    # when
    again = register(pilot, people["admin"], HEADER + GOOD_ROW)
    # then
    assert (again.batch, again.rows, again.already_imported) == (first.batch, 1, True)
    assert counts() == before


def test_a_changed_register_is_a_new_batch(pilot, people):
    # given
    register(pilot, people["compliance"], HEADER + GOOD_ROW)
    # when
    result = register(pilot, people["compliance"], HEADER + GOOD_ROW + GOOD_ROW)
    # then
    assert (result.rows, result.already_imported) == (2, False)
    assert counts()[:2] == (2, 3)


@pytest.mark.parametrize(
    ("row", "column", "reason"),
    [
        (",wvch,2026-01-01,,active", "member_id", "is empty"),
        (
            "W" * 65 + ",wvch,2026-01-01,,active",
            "member_id",
            "is 65 characters long; at most 64 are allowed",
        ),
        (
            "WV\x07-1,wvch,2026-01-01,,active",
            "member_id",
            "'WV\\x07-1' contains a control or invisible character",
        ),
        (
            "=cmd|' /C calc'!A0,wvch,2026-01-01,,active",
            "member_id",
            "\"=cmd|' /C calc'!A0\" starts with '=', which a spreadsheet would run as a formula",
        ),
        (
            "\"@SUM(1+1)*cmd|'/C calc'!A0\",wvch,2026-01-01,,active",
            "member_id",
            "\"@SUM(1+1)*cmd|'/C calc'!A0\" starts with '@', which a spreadsheet would run"
            " as a formula",
        ),
        ("WV-1,acme,2026-01-01,,active", "payer", "is 'acme', but the register is for wvch"),
        ("WV-1,wvch,,,active", "coverage_start", "is empty; give a date as YYYY-MM-DD"),
        (
            "WV-1,wvch,01/02/2026,,active",
            "coverage_start",
            "'01/02/2026' is not a date as YYYY-MM-DD",
        ),
        ("WV-1,wvch,20260101,,active", "coverage_start", "'20260101' is not a date as YYYY-MM-DD"),
        (
            "WV-1,wvch,2026-02-30,,active",
            "coverage_start",
            "2026-02-30 is not a real date: February 2026 has 28 days",
        ),
        (
            "WV-1,wvch,2026-01-01,2026-13-01,active",
            "coverage_end",
            "2026-13-01 is not a real date: there is no month 13",
        ),
        (
            "WV-1,wvch,2026-03-01,2026-02-01,active",
            "coverage_end",
            "2026-02-01 is before coverage_start 2026-03-01",
        ),
        (
            "WV-1,wvch,2026-01-01,,suspended",
            "status",
            "'suspended' is not one of active, inactive, terminated",
        ),
        (
            "WV-1,wvch,2026-01-01,,active,extra",
            "",
            "has 6 values, but the header has 5 columns; a comma inside a value must be quoted",
        ),
        ("WV-1,wvch,2026-01-01", "", "has 3 values, but the header has 5 columns"),
        (
            '"WV-1"x,wvch,2026-01-01,,active',
            "",
            "a quoted value is followed by more text before the next comma;"
            ' quote the whole value and double any " inside it',
        ),
    ],
)
def test_a_bad_row_is_named_and_nothing_is_stored(pilot, people, row, column, reason):
    # when: the bad row is line 3, after a good one
    refused = refused_register(pilot, people["compliance"], HEADER + GOOD_ROW + row + "\n")
    # then
    assert refused.problems == [RowProblem(3, column, reason)]
    assert refused.message == "1 row is invalid; nothing was imported"


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (
            b"",
            RowProblem(
                1,
                "",
                "the file is empty; its first line must be the header"
                " member_id,payer,coverage_start,coverage_end,status",
            ),
        ),
        (b" \r\n\n", None),  # whitespace only: the same as empty
        (
            (HEADER + GOOD_ROW).encode("utf-16"),
            RowProblem(1, "", "the file is UTF-16 text; save it as CSV UTF-8"),
        ),
        (
            (HEADER + "WV-1,wvch,2026-01-01,,act\u00efve\n").encode("latin-1"),
            RowProblem(2, "", "the file is not UTF-8 text (byte 0xef); save it as CSV UTF-8"),
        ),
        (
            b"PK\x03\x04\x14\x00\x06\x00\x08\x00\x00\x00!\x00",
            RowProblem(1, "", "the file contains NUL bytes: it is binary, not CSV text"),
        ),
        (
            (HEADER + GOOD_ROW + "WV-2\x00,wvch,2026-01-01,,active\n").encode(),
            RowProblem(3, "", "the file contains NUL bytes: it is binary, not CSV text"),
        ),
        (
            b"member_id;payer;coverage_start;coverage_end;status\nWV-1;wvch;2026-01-01;;active\n",
            RowProblem(
                1,
                "",
                "the values are separated by ';', not commas; save the file as comma-separated CSV",
            ),
        ),
        (
            b"member_id\tpayer\tcoverage_start\tcoverage_end\tstatus\n",
            RowProblem(
                1,
                "",
                "the values are separated by '\\t', not commas;"
                " save the file as comma-separated CSV",
            ),
        ),
        (
            HEADER.encode(),
            RowProblem(2, "", "the file has a header but no rows"),
        ),
        (
            b"\nmember_id,payer,coverage_start,coverage_end,status\n" + GOOD_ROW.encode(),
            RowProblem(
                1,
                "",
                "the file starts with blank lines; line 1 must be the header"
                " member_id,payer,coverage_start,coverage_end,status",
            ),
        ),
    ],
)
def test_an_unreadable_file_is_refused_with_one_reason(pilot, people, content, problem):
    # when
    refused = refused_register(pilot, people["compliance"], content)
    # then
    problem = problem or RowProblem(
        1,
        "",
        "the file is empty; its first line must be the header"
        " member_id,payer,coverage_start,coverage_end,status",
    )
    assert refused.problems == [problem]
    assert refused.message == f"{problem.reason}; nothing was imported"


def test_a_header_without_a_required_column_names_each_missing_one(pilot, people):
    # when
    refused = refused_register(
        pilot, people["compliance"], "member_id,payer,payer,status\nWV-1,wvch,wvch,active\n"
    )
    # then
    expected = "expected member_id,payer,coverage_start,coverage_end,status"
    assert refused.problems == [
        RowProblem(1, "payer", "column payer appears twice (columns 2 and 3)"),
        RowProblem(1, "coverage_start", f"the header has no column coverage_start; {expected}"),
        RowProblem(1, "coverage_end", f"the header has no column coverage_end; {expected}"),
    ]
    assert refused.message == "the header is not right; nothing was imported"


def test_every_bad_row_of_a_mixed_file_is_reported_in_line_order(pilot, people):
    # given: good rows between bad ones; line 4 holds a quoted value over two lines
    text = (
        HEADER
        + GOOD_ROW  # line 2
        + "WV-2,wvch,2026-02-30,2026-01-01,paused\n"  # line 3: three problems
        + 'WV-3,wvch,2026-01-01,,"active\nstill active"\n'  # lines 4-5
        + "WV-4,wvch,2026-01-01,,active\n"  # line 6
        + "\n"  # line 7: blank, skipped
        + "=1+2,other,2026-01-01,2025-12-31,active\n"  # line 8
        + "WV-5,wvch,2026-01-01\n"  # line 9
        + 'WV-6,wvch,2026-01-01,,"active\n'  # line 10: never closed
    )
    # when
    refused = refused_register(pilot, people["compliance"], text)
    # then
    assert refused.problems == [
        RowProblem(3, "coverage_start", "2026-02-30 is not a real date: February 2026 has 28 days"),
        RowProblem(3, "status", "'paused' is not one of active, inactive, terminated"),
        RowProblem(
            4, "status", "'active\\nstill active' is not one of active, inactive, terminated"
        ),
        RowProblem(
            8, "member_id", "'=1+2' starts with '=', which a spreadsheet would run as a formula"
        ),
        RowProblem(8, "payer", "is 'other', but the register is for wvch"),
        RowProblem(8, "coverage_end", "2025-12-31 is before coverage_start 2026-01-01"),
        RowProblem(9, "", "has 3 values, but the header has 5 columns"),
        RowProblem(10, "", "a quoted value is never closed: the file ends inside quotes"),
    ]
    assert refused.message == "5 rows are invalid; nothing was imported"
    assert str(refused.problems[0]) == (
        "line 3, coverage_start: 2026-02-30 is not a real date: February 2026 has 28 days"
    )


def test_progress_is_reported_while_validating_and_inserting(pilot, people):
    # given: 25,000 rows
    text = HEADER + "".join(f"WV-{n:05d},wvch,2026-01-01,,active\n" for n in range(25_000))
    calls: list[tuple[int, int]] = []
    # when
    result = register(pilot, people["compliance"], text, progress=lambda *a: calls.append(a))
    # then: total is twice the rows (validate, then insert); done never goes back
    assert result.rows == 25_000
    assert EligibilityEntry.objects.count() == 25_000
    assert calls == [
        (10_000, 50_000),
        (20_000, 50_000),
        (25_000, 50_000),
        (35_000, 50_000),
        (45_000, 50_000),
        (50_000, 50_000),
    ]


def test_only_compliance_and_administrators_import_a_register(pilot, people):
    # given
    before = counts()
    # when
    with pytest.raises(NotPermitted) as refused:
        register(pilot, people["riverside"], HEADER + GOOD_ROW)
    # then
    assert refused.value.code == "not_permitted"
    assert counts() == before


def test_a_register_for_a_payer_outside_the_rulebook_is_refused(pilot, people):
    # given
    before = counts()
    # when
    with pytest.raises(Refused) as refused:
        import_eligibility(
            pilot=pilot,
            payer_id="acme",
            filename="register.csv",
            content=(HEADER + GOOD_ROW).encode(),
            by=people["compliance"],
            at=NOW,
        )
    # then
    assert (refused.value.code, refused.value.field) == ("unknown_payer", "payer_id")
    assert counts() == before


# --- referrals ----------------------------------------------------------------------------


def test_it_imports_referrals_with_their_eligibility_files_due(pilot, people):
    # given: a date (midnight in Oregon), a date-time with offset, one in UTC
    text = (
        REFERRAL_HEADER
        + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"
        + "R-2,P-2,wvch,WV-2,SELF,riverside,ICM,2026-02-26T23:30:00-08:00,\n"
        + "R-3,P-3,wvch,WV-3,CBO,riverside,CRISIS-FU,2026-02-13T17:00:00Z,polk\n"
    )
    audit_before = AuditRecord.objects.count()
    # when
    result = referrals(pilot, people["riverside"], text)
    # then
    batch = ImportBatch.objects.get()
    assert (result.batch, result.rows, result.already_imported) == (batch, 3, False)
    assert (batch.kind, batch.payer_id, batch.rows) == ("referrals", "", 3)
    rows = Referral.objects.order_by("reference").values_list(
        "reference",
        "participant_id",
        "payer_id",
        "member_id",
        "source",
        "provider__code",
        "service_category",
        "referred_at",
        "geography",
        "file_due",
        "received_by__username",
        "batch",
    )
    assert list(rows) == [
        # Friday 27 February → Monday 2 March
        (
            "R-1",
            "P-1",
            "wvch",
            "WV-1",
            "ED",
            "riverside",
            "SMI-OP",
            datetime(2026, 2, 27, 8, 0, tzinfo=UTC),
            "marion",
            date(2026, 3, 2),
            "imp-rs",
            batch.pk,
        ),
        # Thursday 26 February, 23:30 in Oregon → Friday 27 February
        (
            "R-2",
            "P-2",
            "wvch",
            "WV-2",
            "SELF",
            "riverside",
            "ICM",
            datetime(2026, 2, 27, 7, 30, tzinfo=UTC),
            "",
            date(2026, 2, 27),
            "imp-rs",
            batch.pk,
        ),
        # Friday 13 February → Tuesday 17 February (Monday is Presidents' Day)
        (
            "R-3",
            "P-3",
            "wvch",
            "WV-3",
            "CBO",
            "riverside",
            "CRISIS-FU",
            datetime(2026, 2, 13, 17, 0, tzinfo=UTC),
            "polk",
            date(2026, 2, 17),
            "imp-rs",
            batch.pk,
        ),
    ]
    assert AuditRecord.objects.count() == audit_before + 1
    record = AuditRecord.objects.latest("pk")
    assert (record.action, record.actor, record.role, record.subject) == (
        "referral.import",
        "imp-rs",
        "enrollment_manager",
        f"import:{batch.pk}",
    )
    assert record.payload == {
        "filename": "referrals.csv",
        "sha256": batch.sha256,
        "rows": 3,
        "payers": ["wvch"],
        "providers": ["riverside"],
    }


def test_the_geography_column_is_optional(pilot, people):
    # when
    result = referrals(
        pilot,
        people["riverside"],
        "reference,participant_id,payer,member_id,source,provider,service_category,referred_at\n"
        "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27\n",
    )
    # then
    assert result.rows == 1
    assert Referral.objects.get().geography == ""


def test_importing_the_same_referrals_again_changes_nothing(pilot, people):
    # given
    text = REFERRAL_HEADER + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"
    first = referrals(pilot, people["riverside"], text)
    before = counts()
    # when
    again = referrals(pilot, people["riverside"], text)
    # then
    assert (again.batch, again.rows, again.already_imported) == (first.batch, 1, True)
    assert counts() == before


def test_every_bad_referral_is_named_and_nothing_is_stored(pilot, people):
    # given: R-1 is already stored
    referrals(
        pilot,
        people["riverside"],
        REFERRAL_HEADER + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n",
    )
    text = (
        REFERRAL_HEADER
        + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"  # 2
        + "R-2,P-2,acme,WV-2,POLICE,riverside,DENTAL,2026-02-27,lane\n"  # 3
        + "R-3,P-3,wvch,WV-3,ED,acme-care,SMI-OP,2026-02-27T09:00:00,marion\n"  # 4
        + "R-4,,wvch,,ED,riverside,SMI-OP,2026-03-03,\n"  # 5
        + "R-5,P-5,wvch,WV-5,ED,riverside,SMI-OP,2025-12-31,\n"  # 6
        + "R-6,P-6,wvch,WV-6,,riverside,SMI-OP,2026-02-29,\n"  # 7
        + "R-6,P-7,wvch,WV-7,ED,riverside,SMI-OP,yesterday,\n"  # 8
        + "R-8,P-8,wvch,WV-8,ED,riverside,SMI-OP,2026-02-27T25:00:00Z,\n"  # 9
        + "R-9,P-9,wvch,WV-9,ED,riverside,SMI-OP,2026-02-27\n"  # 10
        + "R-10,P-10,wvch,WV-10,ED,riverside,SMI-OP,2026-02-27,marion\n"  # 11: good
    )
    # when
    refused = refused_referrals(pilot, people["riverside"], text)
    # then
    assert refused.problems == [
        RowProblem(2, "reference", "'R-1' was already received"),
        RowProblem(3, "payer", "'acme' is not a payer of this pilot"),
        RowProblem(3, "source", "'POLICE' is not a referral source code"),
        RowProblem(3, "service_category", "'DENTAL' is not a qualifying service category"),
        RowProblem(3, "geography", "'lane' is not a geography code"),
        RowProblem(4, "provider", "'acme-care' is not a provider organisation of this pilot"),
        RowProblem(
            4,
            "referred_at",
            "2026-02-27T09:00:00 has no UTC offset; add it (e.g. 2026-02-27T09:00:00-08:00)"
            " or give only the date",
        ),
        RowProblem(5, "participant_id", "is empty"),
        RowProblem(5, "member_id", "is empty"),
        RowProblem(
            5, "referred_at", "2026-03-03 is later than the import (2026-03-02T15:00:00+00:00)"
        ),
        RowProblem(
            6, "referred_at", "2025-12-31 is outside the pilot period 2026-01-01 to 2026-12-31"
        ),
        RowProblem(7, "source", "is empty; give a referral source code"),
        RowProblem(7, "referred_at", "2026-02-29 is not a real date: February 2026 has 28 days"),
        RowProblem(8, "reference", "'R-6' repeats the reference of line 7"),
        RowProblem(
            8,
            "referred_at",
            "'yesterday' is neither a date (YYYY-MM-DD) nor a date-time with its UTC offset"
            " (YYYY-MM-DDTHH:MM:SS±HH:MM)",
        ),
        RowProblem(9, "referred_at", "2026-02-27T25:00:00Z is not a real time of day"),
        RowProblem(10, "", "has 8 values, but the header has 9 columns"),
    ]
    assert refused.message == "9 rows are invalid; nothing was imported"


def test_referrals_need_an_enrollment_manager(pilot, people):
    # given
    before = counts()
    # when
    with pytest.raises(NotPermitted) as refused:
        referrals(
            pilot,
            people["compliance"],
            REFERRAL_HEADER + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n",
        )
    # then
    assert refused.value.code == "not_permitted"
    assert counts() == before


def test_provider_staff_import_referrals_for_their_own_organisation_only(pilot, people):
    # given
    before = counts()
    text = (
        REFERRAL_HEADER
        + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"
        + "R-2,P-2,wvch,WV-2,ED,northstar,SMI-OP,2026-02-27,marion\n"
        + "R-3,P-3,wvch,WV-3,ED,northstar,SMI-OP,2026-02-27,marion\n"
    )
    # when
    with pytest.raises(NotPermitted) as refused:
        referrals(pilot, people["riverside"], text)
    # then
    assert (refused.value.code, refused.value.field) == ("other_organisation", "provider")
    assert refused.value.message == (
        "lines 3, 4 name another provider organisation; you may import referrals only for your own"
    )
    assert counts() == before


def test_another_provider_cannot_reimport_a_file_already_imported(pilot, people):
    # given
    text = REFERRAL_HEADER + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"
    referrals(pilot, people["riverside"], text)
    before = counts()
    # when
    with pytest.raises(NotPermitted) as refused:
        referrals(pilot, people["northstar"], text)
    # then
    assert refused.value.code == "other_organisation"
    assert counts() == before


def test_a_provider_that_is_not_a_party_is_refused(pilot, people, admin):
    # given: a provider organisation that does not take part in the pilot
    organisation("harbor", OrgKind.PROVIDER, admin)
    # when
    refused = refused_referrals(
        pilot,
        people["riverside"],
        REFERRAL_HEADER + "R-1,P-1,wvch,WV-1,ED,harbor,SMI-OP,2026-02-27,marion\n",
    )
    # then
    assert refused.problems == [
        RowProblem(2, "provider", "'harbor' is not a provider organisation of this pilot")
    ]


def test_progress_is_reported_while_importing_referrals(pilot, people):
    # given
    text = (
        REFERRAL_HEADER
        + "R-1,P-1,wvch,WV-1,ED,riverside,SMI-OP,2026-02-27,marion\n"
        + "R-2,P-2,wvch,WV-2,ED,riverside,SMI-OP,2026-02-27,marion\n"
    )
    calls: list[tuple[int, int]] = []
    # when
    referrals(pilot, people["riverside"], text, progress=lambda *a: calls.append(a))
    # then: validated, then stored
    assert calls == [(2, 4), (4, 4)]
