"""A participant milestone from evidence to verified-and-payable, by the pages, in
Chromium, as the demo's people (C7, C8, C9): a new riverside participant is admitted
and its pathway released; the frontline lead uploads the evidence of M1 and M2
(sampled tier: payable on submission) and of M4, the housing step (independent tier);
the supervisor confirms each claim's readiness; the frontline lead submits; the
independent verifier finds M4 in their work queue, is refused once (verified with an
item not met), then verifies it, and the claim is payable with its basis key.

The server runs on the real clock, so dates are today in the pilot's zone.
"""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from playwright.sync_api import Page, expect

from tests.browser.test_lifecycle import (  # noqa: F401 (the as_user fixture)
    activate_from_the_queue,
    as_user,
    refer_assess_and_file,
    upload_register,
)

RUN = datetime.now().strftime("%H%M%S")  # only makes the IDs unique per run
PILOT = "recovery-2026"


def pdf(label: str) -> bytes:
    return f"%PDF-1.4\n% {label} {RUN}\n1 0 obj << >> endobj\n%%EOF\n".encode()


def upload(page: Page, tracker: str, kind: str, label: str) -> None:
    """As the frontline lead: one piece of evidence from the milestone tracker."""
    page.goto(tracker)
    page.get_by_role("link", name="Upload evidence").click()
    page.get_by_label("Kind of evidence").select_option(kind)
    page.get_by_label("File").set_input_files(
        files=[{"name": f"{label}.pdf", "mimeType": "application/pdf", "buffer": pdf(label)}]
    )
    page.get_by_role("button", name="Record").click()
    expect(page.get_by_role("heading", name="Milestones of")).to_be_visible()


def claim_through_readiness(
    worker: Page, supervisor: Page, server: str, participant: str, milestone: str
) -> str:
    """Draft (frontline), readiness review (supervisor), submission (frontline); returns
    the claim page's URL."""
    worker.goto(
        f"{server}/pilots/{PILOT}/participants/{participant}/claims/new/?milestone={milestone}"
    )
    worker.get_by_role("button", name="Record").click()
    reference = f"{participant}/{milestone}/1"
    expect(worker.get_by_role("heading", name=f"Claim {reference}")).to_contain_text("draft")
    claim = worker.url
    supervisor.goto(claim)
    supervisor.get_by_role("link", name="Readiness review").click()
    supervisor.get_by_label("Note").fill("Every document is there")
    supervisor.get_by_role("button", name="Record").click()
    expect(supervisor.get_by_role("heading", name=f"Claim {reference}")).to_contain_text("ready")
    worker.goto(claim)
    worker.get_by_role("link", name="Submit the claim").click()
    worker.get_by_role("button", name="Submit").click()
    return claim


def test_a_milestone_from_evidence_to_verified_and_payable(as_user, server):  # noqa: F811
    participant, member = f"P-VER-{RUN}", f"WV-VER-{RUN}"
    today = datetime.now(ZoneInfo("America/Los_Angeles")).date()

    # given a riverside participant admitted, reviewed and with a pathway released
    upload_register(as_user("compliance"), server, PILOT, "wvch", member)
    refer_assess_and_file(
        as_user("enrollment"),
        server,
        PILOT,
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
    home = f"{server}/pilots/{PILOT}/participants/{participant}/"
    compliance = as_user("compliance")
    compliance.goto(home)
    compliance.get_by_role("link", name="Compliance review of the activation").click()
    compliance.get_by_role("button", name="Record").click()
    lead = as_user("recovery")
    lead.goto(f"{server}/pilots/{PILOT}/queue/")
    lead.get_by_role("row").filter(has_text=participant).get_by_role(
        "link", name="Pathway release"
    ).click()
    lead.get_by_label("Stage").select_option("S2")
    lead.get_by_label("Barrier category").select_option("housing")
    lead.get_by_label("Lead", exact=True).select_option(label="Jordan Lee (frontline)")
    lead.get_by_label("Target review date").fill((today + timedelta(days=10)).isoformat())
    lead.get_by_label("Escalation threshold").select_option("ESC-NOCONTACT")
    lead.get_by_role("button", name="Record").click()

    # when the frontline lead uploads the evidence of M1, M2 and M4
    worker, supervisor = as_user("frontline"), as_user("supervisor")
    tracker = f"{home}milestones/"
    pieces = [("crisis_plan", "crisis-plan"), ("med_rec", "med-rec")]
    pieces += [("contact_log", f"contact-{n}") for n in (1, 2, 3)]
    pieces += [("housing_doc", "lease")]
    for kind, label in pieces:
        upload(worker, tracker, kind, label)

    # and M1 and M2 (sampled tier) are claimed, reviewed and submitted: payable at once
    for milestone in ("M1", "M2"):
        claim_through_readiness(worker, supervisor, server, participant, milestone)
        expect(worker.get_by_role("heading", name="Claim")).to_contain_text("payable")

    # and M4 (independent tier) goes to the verifier
    m4 = claim_through_readiness(worker, supervisor, server, participant, "M4")
    expect(worker.get_by_role("heading", name="Claim")).to_contain_text("submitted")

    # then the independent verifier finds it in their work queue
    verifier = as_user("verifier")
    verifier.goto(f"{server}/pilots/{PILOT}/queue/")
    verifier.get_by_role("link", name=f"Verify M4 claim {participant}/M4/1").click()
    expect(verifier.get_by_role("heading", name="Verify M4 Housing step")).to_be_visible()
    expect(verifier.get_by_text("A shelter bed does not count.")).to_be_visible()
    expect(verifier.get_by_role("link", name="lease.pdf")).to_be_visible()

    # and "verified" with the lease not met is refused, with the reason on the form
    verifier.get_by_role("radio", name="Not met").check()
    verifier.get_by_role("radio", name="Verified: every requirement is met").check()
    verifier.get_by_role("button", name="Record the decision").click()
    expect(verifier.get_by_role("alert")).to_contain_text("(unmet_items)")

    # and once the lease is found to meet the definition, M4 is verified
    verifier.get_by_role("radio", name="Met", exact=True).check()
    verifier.get_by_role("textbox", name="Note").first.fill("Lease in the participant's name")
    verifier.get_by_role("radio", name="Verified: every requirement is met").check()
    verifier.get_by_role("button", name="Record the decision").click()
    expect(verifier.get_by_role("status")).to_contain_text("decision recorded")
    expect(verifier.get_by_role("heading", name="Decision: verified")).to_be_visible()

    # and the frontline lead sees M4 payable, with its amount and basis key
    worker.goto(m4)
    expect(worker.get_by_role("heading", name="Claim")).to_contain_text("payable")
    expect(worker.get_by_text(f"milestone:{PILOT}:{participant}:M4:1")).to_be_visible()
