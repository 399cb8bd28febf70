"""The HTTP API as a machine client uses it: bearer tokens, coded errors, OpenAPI."""

import json

from django.test import Client

from fundpilot.audit.models import AuditRecord
from fundpilot.pilots import actions
from fundpilot.pilots.models import ApiToken
from fundpilot.rules import merkle
from tests.conftest import NOW, example


def bearer(user) -> Client:
    secret = actions.issue_api_token(user=user, label="test client", by=user, at=NOW)
    return Client(headers={"Authorization": f"Bearer {secret}"})


def test_a_token_is_stored_only_as_its_hash(admin):
    secret = actions.issue_api_token(user=admin, label="etl", by=admin, at=NOW)
    row = ApiToken.objects.get()
    assert secret not in (row.digest, row.prefix + "x")
    assert row.digest == actions.token_digest(secret)


def test_a_client_creates_a_pilot_and_reads_its_rulebook(admin):
    client = bearer(admin)
    created = client.post(
        "/api/v1/pilots", {"document": example("blended-rate")}, content_type="application/json"
    )
    assert created.status_code == 201
    assert created.json()["id"] == "blended-2026"
    rulebook = client.get("/api/v1/pilots/blended-2026/rulebook").json()
    assert rulebook["number"] == 1
    assert rulebook["rulebook"]["pilot"]["id"] == "blended-2026"


def test_a_refused_action_answers_422_with_a_code_and_field(admin, pilot):
    client = bearer(admin)
    before = AuditRecord.objects.count()
    response = client.post(
        "/api/v1/pilots", {"document": '[pilot]\nid = "x"'}, content_type="application/json"
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "rulebook_invalid"
    assert body["field"]
    assert AuditRecord.objects.count() == before


def test_malformed_input_is_named(admin):
    response = bearer(admin).post("/api/v1/pilots", {"doc": 1}, content_type="application/json")
    assert response.status_code == 422
    assert response.json()["code"] == "invalid_input"
    assert response.json()["field"] == "document"


def test_a_bad_token_is_401_and_an_unknown_pilot_404(admin):
    bad = Client(headers={"Authorization": "Bearer fp_nope"})
    assert bad.get("/api/v1/pilots").status_code == 401
    missing = bearer(admin).get("/api/v1/pilots/no-such-pilot")
    assert (missing.status_code, missing.json()["code"]) == (404, "not_found")


def test_an_inclusion_proof_from_the_api_verifies(admin, pilot):
    proof = bearer(admin).get("/api/v1/pilots/recovery-2026/audit/1/proof").json()
    assert merkle.verify_inclusion(
        0,
        proof["tree_size"],
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(proof["root"]),
    )
    too_far = bearer(admin).get("/api/v1/pilots/recovery-2026/audit/999/proof")
    assert (too_far.status_code, too_far.json()["code"]) == (422, "not_in_tree")


def test_the_openapi_schema_declares_every_error(db):
    schema = json.loads(Client().get("/api/v1/openapi.json").content)
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            assert {"401", "403", "404", "422"} <= set(op["responses"]), (method, path)
