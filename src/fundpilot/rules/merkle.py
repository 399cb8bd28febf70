"""The audit log as an RFC 6962 (Certificate Transparency) Merkle tree.

A hash chain shows that nothing changed inside the log, but not that the whole
log was not rewritten. A Merkle tree lets a payer who kept a signed (size, root)
checkpoint check, with a handful of hashes, that today's log still starts with
exactly the records they were shown (consistency proof) and that a given record
is in it (inclusion proof). Following RFC 6962 §2.1 to the byte means any CT
tooling can check our proofs, and our tests can use CT's published vectors.

Proofs are generated from the leaf hashes alone. Only the subtrees a proof
needs are hashed, each level by level: pairing neighbours and carrying an odd
last node up unchanged builds exactly RFC 6962's tree (split at the largest
power of two), without recursion or slicing copies.
"""

from collections.abc import Iterable, Sequence
from hashlib import sha256

HASH_SIZE = 32
EMPTY_ROOT = sha256(b"").digest()
_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    return sha256(_LEAF_PREFIX + data).digest()


def root_hash(leaf_hashes: Sequence[bytes]) -> bytes:
    """MTH(D[n]) over leaves that are already leaf-hashed."""
    _check_leaf_hashes(leaf_hashes)
    if not leaf_hashes:
        return EMPTY_ROOT
    return _subtree_root(leaf_hashes, 0, len(leaf_hashes))


def inclusion_proof(index: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PATH(index, D[n]) of RFC 6962 §2.1.1, nearest sibling first."""
    _check_leaf_hashes(leaf_hashes)
    if not 0 <= index < len(leaf_hashes):
        raise ValueError(f"leaf index {index} is outside a tree of {len(leaf_hashes)} leaves")
    # Walk down from the root, keeping the sibling subtree at each split.
    path: list[bytes] = []
    lo, hi = 0, len(leaf_hashes)
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            path.append(_subtree_root(leaf_hashes, mid, hi))
            hi = mid
        else:
            path.append(_subtree_root(leaf_hashes, lo, mid))
            lo = mid
    path.reverse()
    return path


def consistency_proof(old_size: int, leaf_hashes: Sequence[bytes]) -> list[bytes]:
    """PROOF(old_size, D[n]) of RFC 6962 §2.1.2: empty when old_size is 0 or n."""
    _check_leaf_hashes(leaf_hashes)
    size = len(leaf_hashes)
    if not 0 <= old_size <= size:
        raise ValueError(f"old size {old_size} is outside 0..{size}")
    if old_size in (0, size):
        return []
    # SUBPROOF(m, D[lo:hi], whole) unrolled from the top; `whole` is the RFC's
    # boolean: true while the old tree is a subtree the verifier already holds.
    proof: list[bytes] = []
    lo, hi, m, whole = 0, size, old_size, True
    while m != hi - lo:
        k = _split(hi - lo)
        if m <= k:
            proof.append(_subtree_root(leaf_hashes, lo + k, hi))
            hi = lo + k
        else:
            proof.append(_subtree_root(leaf_hashes, lo, lo + k))
            lo, m, whole = lo + k, m - k, False
    if not whole:
        proof.append(_subtree_root(leaf_hashes, lo, hi))
    proof.reverse()
    return proof


def verify_inclusion(
    index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> bool:
    """RFC 9162 §2.1.3.2: does `proof` show leaf hash `leaf` at `index` of the tree `root`?"""
    if not 0 <= index < size or not _all_hash_sized((leaf, root, *proof)):
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = _node(p, r)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _node(r, p)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(
    old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: Sequence[bytes]
) -> bool:
    """RFC 9162 §2.1.4.2: is the tree (old_size, old_root) a prefix of (new_size, new_root)?

    The two cases the RFC leaves to the caller: any tree extends the empty one
    (whose root must then be EMPTY_ROOT), and a tree is consistent with itself
    exactly when the roots match; both take an empty proof.
    """
    if not 0 <= old_size <= new_size or not _all_hash_sized((old_root, new_root, *proof)):
        return False
    if old_size == 0:
        return not proof and old_root == EMPTY_ROOT and (new_size > 0 or new_root == EMPTY_ROOT)
    if old_size == new_size:
        return not proof and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = _node(c, fr)
            sr = _node(c, sr)
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            sr = _node(sr, c)
        fn >>= 1
        sn >>= 1
    return fr == old_root and sr == new_root and sn == 0


def _split(n: int) -> int:
    """The largest power of two smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(_NODE_PREFIX + left + right).digest()


def _subtree_root(leaf_hashes: Sequence[bytes], lo: int, hi: int) -> bytes:
    """MTH(D[lo:hi]) for hi > lo."""
    level = list(leaf_hashes[lo:hi])
    while len(level) > 1:
        parents = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        level = parents
    return level[0]


def _check_leaf_hashes(leaf_hashes: Sequence[bytes]) -> None:
    """Refuse raw records passed where leaf hashes belong: the tree would build, and
    no one else could reproduce it."""
    if not _all_hash_sized(leaf_hashes):
        raise ValueError(f"leaf hashes must be {HASH_SIZE}-byte SHA-256 digests; use leaf_hash()")


def _all_hash_sized(hashes: Iterable[bytes]) -> bool:
    return all(len(h) == HASH_SIZE for h in hashes)
