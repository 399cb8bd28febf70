"""Walk every page and API operation with every role and compare with the policy.

Each view and operation declares the permission it enforces; this test fails if one
declares none, or answers differently from what the policy says for that role.
"""

import json

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from fundpilot.api import api
from fundpilot.pilots import actions, policy
from fundpilot.rules.vocabulary import ROLE_ORG_KINDS, OrgKind, Role
from tests.conftest import NOW, example, make_person, organisation

KWARGS = {"pilot": "recovery-2026", "number": 1, "seq": 1}


def _pages() -> list[tuple[str, object]]:
    found = []

    def walk(patterns: list, prefix: str) -> None:
        for p in patterns:
            if isinstance(p, URLResolver):
                if str(p.pattern).startswith("api/"):
                    continue  # the API is walked operation by operation below
                walk(p.url_patterns, prefix + str(p.pattern))
            elif isinstance(p, URLPattern):
                route = prefix + str(p.pattern)
                for key, value in KWARGS.items():
                    route = route.replace(f"<slug:{key}>", str(value)).replace(
                        f"<int:{key}>", str(value)
                    )
                found.append(("/" + route, p.callback))

    walk(get_resolver().url_patterns, "")
    return found


def _operations() -> list[tuple[str, str, object]]:
    found = []
    for prefix, router in api._routers:
        for path, path_view in router.path_operations.items():
            for op in path_view.operations:
                url = "/api/v1" + prefix + path
                for key, value in KWARGS.items():
                    url = url.replace("{" + key + "}", str(value))
                found.extend((method, url, op.view_func) for method in op.methods)
    return found


BODIES = {
    ("POST", "/api/v1/pilots"): {"document": example("multi-payer")},
    ("POST", "/api/v1/pilots/recovery-2026/rulebook"): {
        "document": example("functional-recovery").replace('name = "', 'name = "Amended ', 1),
        "reason": "walk",
    },
}
QUERY = {"/api/v1/pilots/recovery-2026/audit/consistency": {"old_size": 1}}


@pytest.fixture
def people(pilot, admin):
    """One person per role in the pilot, an outsider, and nobody signed in."""
    orgs = {
        kind: organisation(f"org-{kind.value.replace('_', '-')}", kind, admin) for kind in OrgKind
    }
    payer_id = pilot.rulebook.payers[0].id
    actions.add_party(
        pilot=pilot, organisation=orgs[OrgKind.PAYER], payer_id=payer_id, by=admin, at=NOW
    )
    users = {"admin": admin}
    for role in Role:
        if role == Role.ADMINISTRATOR:
            continue
        kind = min(ROLE_ORG_KINDS.get(role, {OrgKind.PILOT_OFFICE}), key=list(OrgKind).index)
        users[role.value] = make_person(
            role.value, orgs[kind], admin, role, None if role == Role.AUDITOR else pilot
        )
    users["outsider"] = make_person("outsider", orgs[OrgKind.PROVIDER], admin)
    users["anonymous"] = None
    return users


def _expected(user, perm, pilot) -> bool:
    if user is None:
        return perm == policy.PUBLIC
    return policy.allowed(user, perm, pilot if perm in policy.PILOT_PERMISSIONS else None)


def test_every_page_and_operation_declares_its_permission():
    undeclared = [url for url, view in _pages() if not hasattr(view, "fundpilot_permission")]
    undeclared += [
        f"{m} {url}" for m, url, view in _operations() if not hasattr(view, "fundpilot_permission")
    ]
    assert undeclared == []
    assert {(m, u) for m, u, _ in _operations() if m != "GET"} == set(BODIES)


def test_every_page_answers_each_role_as_the_policy_says(people, pilot):
    mismatches = []
    for name, user in people.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        for url, view in _pages():
            perm = view.fundpilot_permission
            response = client.get(url)
            denied = response.status_code == 403 or (
                response.status_code == 302
                and "/login/" in response["Location"]
                and perm != policy.PUBLIC
            )
            if denied == _expected(user, perm, pilot):
                mismatches.append((name, url, response.status_code))
    assert mismatches == []


def test_every_api_operation_answers_each_role_as_the_policy_says(people, pilot):
    mismatches = []
    for name, user in people.items():
        client = Client()
        if user is not None:
            client.force_login(user)
        for method, url, view in _operations():
            perm = view.fundpilot_permission
            if method == "GET":
                response = client.get(url, QUERY.get(url, {}))
            else:
                response = client.generic(
                    method,
                    url,
                    content_type="application/json",
                    data=json.dumps(BODIES[(method, url)]),
                )
            allowed = _expected(user, perm, pilot)
            expected = {False: {401} if user is None else {403}, True: {200, 201}}[allowed]
            if response.status_code not in expected:
                mismatches.append((name, method, url, response.status_code))
    assert mismatches == []
