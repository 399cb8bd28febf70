import re

from playwright.sync_api import expect

from tests.browser.conftest import sign_in


def test_an_administrator_proposes_and_the_sponsor_approves_after_reading_the_diff(
    page, browser, server
):
    # given the demo administrator on the pooled fund's rulebook page
    admin = page
    sign_in(admin, server, "admin")
    admin.goto(server + "/pilots/pooled-2026/rulebook/")
    # when they propose an amendment, editing the version in force
    admin.get_by_role("link", name="Propose an amendment").click()
    document = admin.get_by_label("Amended rulebook (TOML)")
    document.fill(document.input_value().replace("Three funders", "Three local funders", 1))
    admin.get_by_label("Why (e.g. the board minute)").fill("board minute 9")
    admin.get_by_role("button", name="Propose").click()
    # then it waits for a second person, and they cannot approve it themselves
    expect(admin.get_by_role("status")).to_contain_text("waits for a second person")
    expect(admin.get_by_role("button", name=re.compile("Approve"))).to_have_count(0)
    proposal = admin.url
    # when the executive sponsor opens it, then they see what changes before approving
    context = browser.new_context()
    sponsor = context.new_page()
    sign_in(sponsor, server, "sponsor")
    sponsor.goto(proposal)
    changes = sponsor.get_by_role("region", name="What changes, rule by rule")
    expect(changes).to_contain_text("summary")
    lines = sponsor.get_by_role("region", name="The file, line by line")
    expect(lines).to_contain_text("+Three local funders pool money")
    sponsor.get_by_role("button", name="Approve as version 2").click()
    expect(sponsor.get_by_role("status")).to_contain_text("approve recorded")
    expect(sponsor.get_by_role("link", name="version 2")).to_be_visible()
    context.close()
