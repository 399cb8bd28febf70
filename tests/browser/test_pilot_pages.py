from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_a_demo_user_reaches_the_overview_and_the_rulebook(page, server):
    # given a compliance officer of the demo
    sign_in(page, server, "compliance")
    expect(page.get_by_role("heading", name="Your pilots")).to_be_visible()
    # when they open the recovery pilot
    page.get_by_role("link", name="Functional Recovery", exact=False).first.click()
    # then the overview shows the parties, the rulebook version and the deadlines
    expect(page.get_by_role("heading", name="Parties")).to_be_visible()
    expect(page.get_by_text("Riverside Community Services").first).to_be_visible()
    expect(page.get_by_role("heading", name="Key deadlines")).to_be_visible()
    # and the rulebook page renders the milestone library for people
    page.get_by_role("link", name="Rulebook").click()
    expect(page.get_by_role("heading", name="Milestone library")).to_be_visible()
    expect(page.get_by_role("heading", name="Decision rights")).to_be_visible()


def test_the_audit_page_verifies_the_chain_in_the_browser(page, server):
    sign_in(page, server, "auditor")
    page.goto(server + "/pilots/recovery-2026/audit/")
    expect(page.get_by_role("status")).to_contain_text("Chain verified")


def test_a_frontline_worker_is_not_shown_the_audit_log(page, server):
    sign_in(page, server, "frontline")
    response = page.goto(server + "/pilots/recovery-2026/audit/")
    assert response.status == 403
    expect(page.get_by_role("alert")).to_contain_text("you may not audit.view")


def test_a_wrong_password_is_refused(page, server):
    page.goto(server + "/login/")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("wrong")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("didn't match")
