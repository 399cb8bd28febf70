"""One participant through every control, by the pages, in Chromium, as the demo's
people: compliance loads the payer register, enrollment refers, assesses and files
(C1, after one refusal), the approver activates (C2), compliance reviews, the recovery
lead releases the pathway (C4), the frontline lead records work and a barrier (C5),
the supervisor reviews progress (C6), a relapse and re-engagement, then removal from
the roster. Service levels (C3) exist only in the blended-rate pilot, so a second
participant goes through them there.

The server runs on the real clock, so dates are taken from today in the pilot's zone.
"""

from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import sign_in

RUN = datetime.now().strftime("%H%M%S")  # only makes the IDs unique per run


@pytest.fixture
def as_user(browser: object, server: str) -> Iterator[Callable[[str], Page]]:
    """A fresh signed-in browser context per demo user."""
    contexts = []

    def open_as(username: str) -> Page:
        context = browser.new_context()  # type: ignore[attr-defined]
        contexts.append(context)
        page = context.new_page()
        sign_in(page, server, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def upload_register(page: Page, server: str, pilot: str, payer: str, member: str) -> None:
    page.goto(f"{server}/pilots/{pilot}/imports/eligibility/")
    page.get_by_label("Payer").select_option(payer)
    csv = (
        f"member_id,payer,coverage_start,coverage_end,status\n{member},{payer},2026-01-01,,active\n"
    )
    page.get_by_label("Register (CSV)").set_input_files(
        files=[{"name": f"{member}.csv", "mimeType": "text/csv", "buffer": csv.encode()}]
    )
    page.get_by_role("button", name="Import").click()
    expect(page.get_by_role("status")).to_contain_text("Imported 1 row.")


def refer_assess_and_file(
    page: Page,
    server: str,
    pilot: str,
    *,
    participant: str,
    member: str,
    payer: str,
    source: str,
    category: str,
    tool: str,
    version: str,
    score: str,
    screening: tuple[str, str, str] | None,
) -> None:
    """As the enrollment manager: receive the referral, record the assessments, file C1."""
    page.goto(f"{server}/pilots/{pilot}/participants/")
    page.get_by_role("link", name="Receive a referral").click()
    page.get_by_label("Reference").fill(f"REF-{participant}")
    page.get_by_label("Participant ID").fill(participant)
    page.get_by_label("Payer", exact=True).select_option(payer)
    page.get_by_label("Payer member ID").fill(member)
    page.get_by_label("Source").select_option(source)
    page.get_by_label("Service category").select_option(category)
    page.get_by_role("button", name="Record").click()
    # the referral's eligibility file asks for the baseline first
    expect(page.get_by_role("heading", name="Eligibility file")).to_be_visible()
    page.get_by_role("link", name="record the baseline assessment").click()
    expect(page.get_by_label("Participant ID")).to_have_value(participant)
    page.get_by_label("Tool", exact=True).select_option(tool)
    page.get_by_label("Tool version").fill(version)
    page.get_by_label("Score").fill(score)
    page.get_by_label("Acuity band").select_option("moderate")
    page.get_by_label("Signed by").fill("Dr. Rosa Diaz")
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("heading", name="Eligibility file")).to_be_visible()
    if screening is not None:
        screening_tool, screening_version, barrier = screening
        page.goto(
            f"{server}/pilots/{pilot}/assessments/new/?participant={participant}&kind=screening"
        )
        page.get_by_label("Tool", exact=True).select_option(screening_tool)
        page.get_by_label("Tool version").fill(screening_version)
        page.get_by_label("Score").fill("18")
        page.get_by_role("checkbox", name=barrier).check()
        page.get_by_label("Signed by").fill("Dr. Rosa Diaz")
        page.get_by_role("button", name="Record").click()
    # C1, refused first: the score typed is not the signed assessment's
    page.get_by_label("Payer status").select_option("active")
    page.get_by_label("Baseline score").fill("99")
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("alert")).to_contain_text("(score_mismatch)")
    expect(page.locator("#id_baseline_score_error")).to_contain_text(
        f"the signed assessment scores {score}, not 99"
    )
    page.get_by_label("Baseline score").fill(score)
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("heading", name=f"Participant {participant}")).to_contain_text(
        "eligible"
    )


def activate_from_the_queue(page: Page, server: str, participant: str) -> None:
    """As the approver: the activation is on the home page's queue."""
    page.goto(server + "/")
    expect(page.get_by_role("heading", name="Your work queue")).to_be_visible()
    row = page.get_by_role("row").filter(has_text=participant).filter(has_text="Activation")
    row.get_by_role("link", name="Activation decision").first.click()
    page.get_by_label("Outcome").select_option("activated")
    page.get_by_label("Decision code").select_option("A1")
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("heading", name=f"Participant {participant}")).to_contain_text(
        "activated"
    )


def test_one_participant_through_every_control_by_the_pages(as_user, server):
    pilot, participant, member = "recovery-2026", f"P-WEB-{RUN}", f"WV-WEB-{RUN}"
    home = f"{server}/pilots/{pilot}/participants/{participant}/"
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date()

    upload_register(as_user("compliance"), server, pilot, "wvch", member)
    refer_assess_and_file(
        as_user("enrollment"),
        server,
        pilot,
        participant=participant,
        member=member,
        payer="wvch",
        source="ED",
        category="SMI-OP",
        tool="whodas-12",
        version="2.0",
        score="62.50",
        screening=("locus", "2020", "housing — Housing"),
    )
    activate_from_the_queue(as_user("approver"), server, participant)

    # the compliance review, from the participant page
    compliance = as_user("compliance")
    compliance.goto(home)
    compliance.get_by_role("link", name="Compliance review of the activation").click()
    compliance.get_by_label("Note").fill("Register matches the payer's")
    compliance.get_by_role("button", name="Record").click()

    # C4 from the recovery lead's work queue
    lead = as_user("recovery")
    lead.goto(f"{server}/pilots/{pilot}/queue/")
    lead.get_by_role("row").filter(has_text=participant).get_by_role(
        "link", name="Pathway release"
    ).click()
    lead.get_by_label("Stage").select_option("S2")
    lead.get_by_label("Barrier category").select_option("housing")
    lead.get_by_label("Lead", exact=True).select_option(label="Dana Whitfield (recovery)")
    lead.get_by_label("Target review date").fill((today + timedelta(days=10)).isoformat())
    lead.get_by_label("Escalation threshold").select_option("ESC-NOCONTACT")
    lead.get_by_role("button", name="Record").click()
    expect(lead.get_by_role("cell", name="Dana Whitfield").first).to_be_visible()

    # C5: an activity, and a barrier opened and resolved
    worker = as_user("frontline")
    worker.goto(home)
    worker.get_by_role("link", name="Record an activity").click()
    worker.get_by_label("Activity type").select_option("outreach")
    worker.get_by_role("button", name="Record").click()
    worker.get_by_role("link", name="Open a barrier").click()
    worker.get_by_label("Category").select_option("housing")
    worker.get_by_label("Description").fill("Needs a housing voucher")
    worker.get_by_role("button", name="Record").click()
    worker.get_by_role("link", name="Resolve").click()
    worker.get_by_role("button", name="Record").click()

    # C6
    supervisor = as_user("supervisor")
    supervisor.goto(home)
    supervisor.get_by_role("link", name="Progression review").click()
    supervisor.get_by_label("Outcome").select_option("progressed")
    supervisor.get_by_role("button", name="Record").click()

    # relapse and re-engagement
    for kind, reason in (("Disengaged (relapse)", "No contact"), ("Re-engaged", "Called back")):
        worker.goto(home)
        worker.get_by_role("link", name="Disengagement or re-engagement").click()
        worker.get_by_role("radio", name=kind).check()
        worker.get_by_label("Reason").fill(reason)
        worker.get_by_role("button", name="Record").click()

    # removal from the locked roster
    approver = as_user("approver")
    approver.goto(home)
    approver.get_by_role("link", name="Remove from the activation roster").click()
    approver.get_by_label("Reason").select_option("RM-MOVED")
    approver.get_by_role("button", name="Record").click()
    expect(approver.get_by_role("heading", name=f"Participant {participant}")).to_contain_text(
        "removed"
    )

    # then the participant page tells the whole story on one timeline
    supervisor.goto(home)
    history = supervisor.get_by_role("table").filter(has_text="Referral REF-")
    for text in (
        f"Referral REF-{participant} from ED",
        "Baseline assessment on whodas-12 2.0: score 62.50",
        "Eligibility file: payer status active",
        "Activation decision A1: activated",
        "Compliance review: Register matches",
        "Pathway released: stage S2",
        "Notified: Pathway released",
        "Activity outreach",
        "Barrier opened: housing",
        "Barrier resolved: housing",
        "progressed",
        "Disengaged: No contact",
        "Re-engaged: Called back",
        "Removed from the activation roster: RM-MOVED",
    ):
        expect(history).to_contain_text(text)

    # and the breach report for this month answers for compliance
    compliance.get_by_role("link", name="Breaches").click()
    expect(compliance.get_by_role("heading", name="Eligibility file")).to_be_visible()


def test_a_service_level_is_requested_and_authorised_by_the_pages(as_user, server):
    pilot, participant, member = "blended-2026", f"B-WEB-{RUN}", f"PHP-WEB-{RUN}"
    home = f"{server}/pilots/{pilot}/participants/{participant}/"
    upload_register(as_user("compliance"), server, pilot, "php", member)
    refer_assess_and_file(
        as_user("enrollment"),
        server,
        pilot,
        participant=participant,
        member=member,
        payer="php",
        source="PCP",
        category="COMPLEX-CM",
        tool="dla-20",
        version="2.1",
        score="3.20",
        screening=None,
    )
    activate_from_the_queue(as_user("approver"), server, participant)

    # C3: the frontline lead asks for the initial level
    worker = as_user("frontline")
    worker.goto(home)
    worker.get_by_role("link", name="Service level request").click()
    worker.get_by_label("Level").select_option("SL1")
    worker.get_by_label("Kind").select_option("initial")
    worker.get_by_label("Evidence").fill("DLA-20 3.20, LOCUS moderate")
    worker.get_by_role("button", name="Record").click()

    # the clinical lead decides it from their work queue
    clinical = as_user("clinical")
    clinical.goto(f"{server}/pilots/{pilot}/queue/")
    clinical.get_by_role("row").filter(has_text=participant).get_by_role(
        "link", name="Service level decision"
    ).click()
    clinical.get_by_role("radio", name="Approve").check()
    clinical.get_by_label("Rationale").fill("Core care management fits the assessment")
    clinical.get_by_label("Expected duration (days)").fill("120")
    clinical.get_by_role("button", name="Record").click()
    expect(clinical.get_by_role("table").filter(has_text="Referral REF-")).to_contain_text(
        "Service level SL1 approved, for 120 days"
    )
