"""Appending to and verifying the decision log (ARCHITECTURE.md, "Audit chain").

Each record's hash covers its body and the previous hash; the records are also
the leaves of an RFC 6962 Merkle tree, whose signed checkpoints let a payer prove
later that the log only grew.
"""

import json
import os
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from django.conf import settings
from django.db import connection

from fundpilot.audit.models import AuditChain, AuditRecord
from fundpilot.rules import merkle, signing
from fundpilot.rules.canonical import GENESIS_HASH, canonical_bytes, chain_hash

SYSTEM_CHAIN = "system"


def pilot_chain(pilot_id: str) -> str:
    return f"pilot:{pilot_id}"


@dataclass(frozen=True)
class Actor:
    """Who decided, in which role, for which organisation."""

    username: str
    role: str
    organisation: str


def _key_path(chain: str) -> Path:
    return Path(settings.FUNDPILOT_KEYS_DIR) / f"{chain.replace(':', '--')}.ed25519"


def _private_key(chain: str) -> bytes:
    path = _key_path(chain)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:  # exclusive create: two processes opening the same chain agree on one key
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_bytes()
    with os.fdopen(fd, "wb") as file:
        file.write(signing.new_private_key())
    return path.read_bytes()


def _head(chain: str, at: datetime) -> AuditChain:
    """The chain's head row, locked; created on first use."""
    if not AuditChain.objects.filter(name=chain).exists():
        # Concurrent first appends both try; the loser's insert is ignored.
        AuditChain.objects.bulk_create(
            [
                AuditChain(
                    name=chain,
                    head_hash=GENESIS_HASH,
                    created_at=at,
                    public_key=signing.public_key_of(_private_key(chain)),
                )
            ],
            ignore_conflicts=True,
        )
    return AuditChain.objects.select_for_update().get(name=chain)


def append(
    *,
    chain: str,
    actor: Actor,
    action: str,
    subject: str,
    payload: dict[str, object],
    at: datetime,
    rulebook_version: int | None = None,
) -> AuditRecord:
    """Append one decision record. Must run inside the action's transaction."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.append must run inside the action's transaction")
    head = _head(chain, at)
    record = AuditRecord(
        chain=chain,
        seq=head.size + 1,
        at=at,
        actor=actor.username,
        role=actor.role,
        organisation=actor.organisation,
        action=action,
        subject=subject,
        # Stored exactly as hashed: Decimals and dates become strings once, here.
        payload=json.loads(canonical_bytes(payload)),
        rulebook_version=rulebook_version,
        prev_hash=head.head_hash,
    )
    record.hash = chain_hash(record.prev_hash, record.body())
    record.save(force_insert=True)
    head.size = record.seq
    head.head_hash = record.hash
    head.save(update_fields=["size", "head_hash"])
    return record


@dataclass(frozen=True)
class Verification:
    chain: str
    checked: int
    ok: bool
    first_bad: int | None = None
    problem: str = ""


def _records(chain: str) -> Iterator[AuditRecord]:
    return AuditRecord.objects.filter(chain=chain).order_by("seq").iterator(chunk_size=5000)


def _walk(chain: str) -> tuple[Verification, list[bytes]]:
    """Recompute the chain; return the verdict and the Merkle leaf hashes."""
    prev, leaves = GENESIS_HASH, []
    for expected_seq, record in enumerate(_records(chain), start=1):
        problem = ""
        if record.seq != expected_seq:
            problem = f"expected record #{expected_seq}, found #{record.seq} (deleted or inserted)"
        elif record.prev_hash != prev:
            problem = "previous-hash link broken (a record before it was removed or inserted)"
        elif chain_hash(record.prev_hash, record.body()) != record.hash:
            problem = "content does not match its hash (the record was changed)"
        if problem:
            return Verification(chain, expected_seq - 1, False, record.seq, problem), leaves
        prev = record.hash
        leaves.append(merkle.leaf_hash(bytes.fromhex(record.hash)))
    head = AuditChain.objects.filter(name=chain).first()
    size = len(leaves)
    if head is not None and (head.size != size or head.head_hash != prev):
        return Verification(
            chain, size, False, size + 1, f"chain head says {head.size} records, log holds {size}"
        ), leaves
    return Verification(chain, size, True), leaves


def chains() -> list[str]:
    return list(AuditChain.objects.order_by("name").values_list("name", flat=True))


def verify(chain: str) -> Verification:
    return _walk(chain)[0]


def checkpoint(chain: str, *, at: datetime) -> signing.Checkpoint:
    """Sign (size, root, time) for the chain as it stands; refuse a broken chain."""
    verdict, leaves = _walk(chain)
    if not verdict.ok:
        raise ValueError(f"chain {chain} fails verification at #{verdict.first_bad}")
    return signing.sign_checkpoint(
        _private_key(chain),
        chain=chain,
        size=len(leaves),
        root=merkle.root_hash(leaves).hex(),
        issued_at=at,
    )


def verify_against(cp: signing.Checkpoint) -> Verification:
    """The current log is an append-only extension of the checkpoint a payer kept."""
    head = AuditChain.objects.filter(name=cp.chain).first()
    if head is None:
        return Verification(cp.chain, 0, False, None, f"no chain named {cp.chain}")
    if not signing.verify_checkpoint(cp, head.public_key):
        return Verification(cp.chain, 0, False, None, "checkpoint signature is not the pilot's")
    verdict, leaves = _walk(cp.chain)
    if not verdict.ok:
        return verdict
    if len(leaves) < cp.size:
        return Verification(
            cp.chain,
            len(leaves),
            False,
            len(leaves) + 1,
            f"log holds {len(leaves)} records, fewer than the {cp.size} checkpointed",
        )
    proof = merkle.consistency_proof(cp.size, leaves)
    consistent = merkle.verify_consistency(
        cp.size, len(leaves), bytes.fromhex(cp.root), merkle.root_hash(leaves), proof
    )
    if not consistent:
        # The chain is self-consistent yet disagrees with the signed root: it was
        # rewritten whole. Without the old leaves only the covered range can be named.
        return Verification(
            cp.chain,
            len(leaves),
            False,
            None,
            f"records #1–#{cp.size} no longer match the signed checkpoint (log rewritten)",
        )
    return Verification(cp.chain, len(leaves), True)


def inclusion(chain: str, seq: int, tree_size: int | None = None) -> dict[str, object]:
    """An inclusion proof for record `seq` in the tree of `tree_size` records."""
    leaves = _leaves(chain)
    size = tree_size or len(leaves)
    if not 1 <= seq <= size <= len(leaves):
        raise ValueError(f"record #{seq} is not in a tree of {size} records")
    return {
        "chain": chain,
        "seq": seq,
        "tree_size": size,
        "leaf_hash": leaves[seq - 1].hex(),
        "root": merkle.root_hash(leaves[:size]).hex(),
        "proof": [p.hex() for p in merkle.inclusion_proof(seq - 1, leaves[:size])],
    }


def _leaves(chain: str) -> list[bytes]:
    """Merkle leaves from the stored hashes (callers wanting trust use `verify` first)."""
    hashes = AuditRecord.objects.filter(chain=chain).order_by("seq").values_list("hash", flat=True)
    return [merkle.leaf_hash(bytes.fromhex(h)) for h in hashes.iterator(chunk_size=5000)]


def consistency(chain: str, old_size: int) -> dict[str, object]:
    """A consistency proof from a tree of `old_size` records to the current log."""
    leaves = _leaves(chain)
    if not 0 <= old_size <= len(leaves):
        raise ValueError(f"the log holds {len(leaves)} records; cannot prove from {old_size}")
    return {
        "chain": chain,
        "old_size": old_size,
        "new_size": len(leaves),
        "new_root": merkle.root_hash(leaves).hex(),
        "proof": [p.hex() for p in merkle.consistency_proof(old_size, leaves)],
    }
