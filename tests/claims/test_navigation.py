"""The pilot's navigation offers each person the claim pages their roles may open."""

from django.test import Client

from fundpilot.rules.vocabulary import Role


def _links(user, pilot) -> set[str]:
    client = Client()
    client.force_login(user)
    html = client.get(f"/pilots/{pilot.slug}/").content.decode()
    nav = html.split("<nav", 1)[1].split("</nav>", 1)[0]
    names = ("Claims", "Verification", "Samples", "Tranches", "Disputes", "Verification report")
    return {name for name in names if f">{name}</a>" in nav}


def test_a_verifier_is_offered_the_verification_queue_and_a_frontline_lead_is_not(
    pilot, staff, verifier
):
    # given recovery-2026 (sampled and independent milestones, no tranches); provider
    # staff read the verification report for their own organisation
    # when each opens the pilot
    verifying = _links(verifier, pilot)
    frontline = _links(staff[Role.FRONTLINE], pilot)
    # then
    assert verifying == {"Claims", "Verification", "Samples", "Disputes", "Verification report"}
    assert frontline == {"Claims", "Samples", "Disputes", "Verification report"}
