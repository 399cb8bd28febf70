import threading
from datetime import timedelta

import pytest
from django.db import DatabaseError, connection, connections, transaction

from fundpilot.audit import append_only, log
from fundpilot.audit.models import AuditChain, AuditRecord
from fundpilot.rules.canonical import chain_hash
from tests.conftest import NOW

ACTOR = log.Actor("tester", "administrator", "office")


def _append(n: int, chain: str = "pilot:test") -> None:
    for i in range(n):
        with transaction.atomic():
            log.append(
                chain=chain,
                actor=ACTOR,
                action="test.step",
                subject=f"thing:{i}",
                payload={"i": i, "note": 'café "quoted"\n'},
                at=NOW + timedelta(seconds=i),
            )


def _sql(statement: str, *params: object) -> None:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)


def _tamper() -> None:
    """What an attacker with database access does first: lift the triggers."""
    append_only.remove(connection, "audit_auditrecord")


def test_it_verifies_an_untouched_chain(db):
    # given
    _append(5)
    # when
    verdict = log.verify("pilot:test")
    # then
    assert (verdict.ok, verdict.checked, verdict.first_bad) == (True, 5, None)
    assert AuditChain.objects.get(name="pilot:test").size == 5
    seqs = list(AuditRecord.objects.filter(chain="pilot:test").values_list("seq", flat=True))
    assert sorted(seqs) == [1, 2, 3, 4, 5]


def test_each_record_links_to_the_one_before(db):
    _append(3)
    records = list(AuditRecord.objects.filter(chain="pilot:test").order_by("seq"))
    assert records[0].prev_hash == "0" * 64
    assert [r.prev_hash for r in records[1:]] == [r.hash for r in records[:-1]]
    assert all(chain_hash(r.prev_hash, r.body()) == r.hash for r in records)


def test_append_refuses_to_run_outside_a_transaction(committed_db):
    # a record written outside the action's transaction could survive a failed action
    with pytest.raises(RuntimeError, match="inside the action's transaction"):
        log.append(
            chain="pilot:test", actor=ACTOR, action="test.step", subject="x", payload={}, at=NOW
        )
    assert AuditRecord.objects.count() == 0


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE audit_auditrecord SET actor = 'someone else' WHERE seq = 2",
        "DELETE FROM audit_auditrecord WHERE seq = 2",
    ],
)
def test_database_refuses_update_and_delete(db, statement):
    # given
    _append(3)
    before = list(AuditRecord.objects.order_by("chain", "seq").values_list("hash", "actor"))
    # when / then
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql(statement)
    assert list(AuditRecord.objects.order_by("chain", "seq").values_list("hash", "actor")) == before


def test_database_refuses_to_change_an_approved_rulebook_version(pilot):
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        _sql("UPDATE pilots_rulebookversion SET document = 'x'")


def test_it_names_a_changed_record(db):
    # given
    _append(5)
    _tamper()
    # when
    _sql(
        "UPDATE audit_auditrecord SET payload = %s WHERE chain = 'pilot:test' AND seq = 3",
        '{"i": 99}',
    )
    verdict = log.verify("pilot:test")
    # then
    assert (verdict.ok, verdict.first_bad, verdict.checked) == (False, 3, 2)
    assert "changed" in verdict.problem


def test_it_names_a_deleted_record(db):
    _append(5)
    _tamper()
    _sql("DELETE FROM audit_auditrecord WHERE chain = 'pilot:test' AND seq = 2")
    verdict = log.verify("pilot:test")
    assert (verdict.ok, verdict.first_bad) == (False, 3)


def test_it_names_an_inserted_record(db):
    # given: a forged record slipped in at #3 and the later ones renumbered
    _append(4)
    _tamper()
    _sql("UPDATE audit_auditrecord SET seq = seq + 10 WHERE chain = 'pilot:test' AND seq >= 3")
    original = AuditRecord.objects.get(chain="pilot:test", seq=13)
    _sql(
        "INSERT INTO audit_auditrecord (chain, seq, at, actor, role, organisation, action, "
        "subject, payload, rulebook_version, prev_hash, hash) VALUES "
        "('pilot:test', 3, %s, 'forger', '', '', 'test.step', 'x', '{}', NULL, %s, %s)",
        original.at,
        original.prev_hash,
        "f" * 64,
    )
    _sql("UPDATE audit_auditrecord SET seq = seq - 9 WHERE chain = 'pilot:test' AND seq >= 13")
    # when
    verdict = log.verify("pilot:test")
    # then
    assert (verdict.ok, verdict.first_bad) == (False, 3)


def test_it_notices_a_removed_tail(db):
    _append(4)
    _tamper()
    _sql("DELETE FROM audit_auditrecord WHERE chain = 'pilot:test' AND seq = 4")
    verdict = log.verify("pilot:test")
    assert (verdict.ok, verdict.checked, verdict.first_bad) == (False, 3, 4)


def _rewrite_whole_chain(chain: str) -> None:
    """Change record #2 and recompute every hash and the head: the chain alone looks fine."""
    _sql("UPDATE audit_auditrecord SET actor = 'rewritten' WHERE chain = %s AND seq = 2", chain)
    prev = "0" * 64
    for record in AuditRecord.objects.filter(chain=chain).order_by("seq"):
        new = chain_hash(prev, record.body())
        _sql(
            "UPDATE audit_auditrecord SET prev_hash = %s, hash = %s WHERE id = %s",
            prev,
            new,
            record.pk,
        )
        prev = new
    AuditChain.objects.filter(name=chain).update(head_hash=prev)


def test_a_checkpoint_proves_the_log_only_grew(db):
    # given
    _append(6)
    cp = log.checkpoint("pilot:test", at=NOW)
    # when
    _append(5)
    verdict = log.verify_against(cp)
    # then
    assert (cp.size, verdict.ok, verdict.checked) == (6, True, 11)


def test_a_checkpoint_catches_a_whole_rewrite(db):
    # given
    _append(6)
    cp = log.checkpoint("pilot:test", at=NOW)
    _tamper()
    _rewrite_whole_chain("pilot:test")
    # when
    chain_alone = log.verify("pilot:test")
    against = log.verify_against(cp)
    # then
    assert chain_alone.ok is True
    assert against.ok is False
    assert "no longer match the signed checkpoint" in against.problem


def test_a_checkpoint_catches_truncation(db):
    _append(6)
    cp = log.checkpoint("pilot:test", at=NOW)
    _tamper()
    _sql("DELETE FROM audit_auditrecord WHERE chain = 'pilot:test' AND seq > 4")
    last = AuditRecord.objects.get(chain="pilot:test", seq=4)
    AuditChain.objects.filter(name="pilot:test").update(size=4, head_hash=last.hash)
    verdict = log.verify_against(cp)
    assert (verdict.ok, verdict.checked) == (False, 4)
    assert "fewer than the 6 checkpointed" in verdict.problem


def test_a_checkpoint_signed_by_another_key_is_refused(db):
    _append(3)
    cp = log.checkpoint("pilot:test", at=NOW)
    AuditChain.objects.filter(name="pilot:test").update(public_key="ab" * 32)
    verdict = log.verify_against(cp)
    assert verdict.ok is False
    assert "signature" in verdict.problem


def test_inclusion_and_consistency_proofs_verify(db):
    from fundpilot.rules import merkle

    _append(7)
    proof = log.inclusion("pilot:test", 5)
    assert merkle.verify_inclusion(
        4,
        7,
        bytes.fromhex(proof["leaf_hash"]),
        [bytes.fromhex(p) for p in proof["proof"]],
        bytes.fromhex(proof["root"]),
    )
    cp = log.checkpoint("pilot:test", at=NOW)
    _append(2)
    step = log.consistency("pilot:test", cp.size)
    assert merkle.verify_consistency(
        7,
        9,
        bytes.fromhex(cp.root),
        bytes.fromhex(step["new_root"]),
        [bytes.fromhex(p) for p in step["proof"]],
    )


@pytest.mark.postgres
def test_concurrent_appends_never_fork_the_chain(committed_db):
    # given: eight threads appending at once, each with its own connection
    errors: list[BaseException] = []

    def worker(k: int) -> None:
        try:
            for i in range(10):
                with transaction.atomic():
                    log.append(
                        chain="pilot:race",
                        actor=ACTOR,
                        action="race",
                        subject=f"{k}:{i}",
                        payload={"k": k, "i": i},
                        at=NOW,
                    )
        except BaseException as exc:
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(8)]
    # when
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    # then
    assert errors == []
    verdict = log.verify("pilot:race")
    assert (verdict.ok, verdict.checked) == (True, 80)
