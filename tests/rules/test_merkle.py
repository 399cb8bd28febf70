"""RFC 6962 Merkle tree: published vectors, a naive reference, and tamper properties.

The reference below is the RFC's recursive definitions transcribed literally, with
list slicing; the module computes the same values level by level, so agreement
between them is evidence, not an echo.
"""

import hashlib
from collections.abc import Sequence

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fundpilot.rules.merkle import (
    EMPTY_ROOT,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    root_hash,
    verify_consistency,
    verify_inclusion,
)

# --- RFC 6962 §2.1, transcribed -------------------------------------------------


def ref_mth(d: Sequence[bytes]) -> bytes:
    n = len(d)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return hashlib.sha256(b"\x00" + d[0]).digest()
    k = ref_k(n)
    return hashlib.sha256(b"\x01" + ref_mth(d[:k]) + ref_mth(d[k:])).digest()


def ref_k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def ref_path(m: int, d: Sequence[bytes]) -> list[bytes]:
    n = len(d)
    if n == 1:
        return []
    k = ref_k(n)
    if m < k:
        return [*ref_path(m, d[:k]), ref_mth(d[k:])]
    return [*ref_path(m - k, d[k:]), ref_mth(d[:k])]


def ref_proof(m: int, d: Sequence[bytes]) -> list[bytes]:
    return ref_subproof(m, d, True)


def ref_subproof(m: int, d: Sequence[bytes], b: bool) -> list[bytes]:
    n = len(d)
    if m == n:
        return [] if b else [ref_mth(d)]
    k = ref_k(n)
    if m <= k:
        return [*ref_subproof(m, d[:k], b), ref_mth(d[k:])]
    return [*ref_subproof(m - k, d[k:], False), ref_mth(d[:k])]


# --- Published Certificate Transparency vectors ---------------------------------
# transparency-dev/merkle: testonly/constants.go and proof/verify_test.go.

CT_LEAVES = [
    b"",
    b"\x00",
    b"\x10",
    b"\x20\x21",
    b"\x30\x31",
    b"\x40\x41\x42\x43",
    b"\x50\x51\x52\x53\x54\x55\x56\x57",
    b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f",
]
CT_HASHES = [leaf_hash(data) for data in CT_LEAVES]
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, path)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
    (
        6,
        7,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]


def hexes(hashes: Sequence[bytes]) -> list[str]:
    return [h.hex() for h in hashes]


def flip_bit(data: bytes, bit: int) -> bytes:
    as_int = int.from_bytes(data, "big") ^ (1 << (bit % (8 * len(data))))
    return as_int.to_bytes(len(data), "big")


def synthetic(n: int, salt: int = 0) -> list[bytes]:
    return [leaf_hash(f"record {salt}:{i}".encode()) for i in range(n)]


def test_the_ct_eight_leaf_root() -> None:
    assert root_hash(CT_HASHES).hex() == (
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
    )


@pytest.mark.parametrize("size", range(9))
def test_roots_match_the_published_vectors_and_the_reference(size: int) -> None:
    assert root_hash(CT_HASHES[:size]).hex() == CT_ROOTS[size]
    assert ref_mth(CT_LEAVES[:size]).hex() == CT_ROOTS[size]


def test_the_empty_tree_and_the_hash_prefixes() -> None:
    assert root_hash([]) == EMPTY_ROOT == hashlib.sha256(b"").digest()
    assert leaf_hash(b"x") == hashlib.sha256(b"\x00x").digest()
    a, b = CT_HASHES[:2]
    assert root_hash([a, b]) == hashlib.sha256(b"\x01" + a + b).digest()


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_inclusion_proofs_match_the_published_vectors(
    index: int, size: int, path: list[str]
) -> None:
    proof = inclusion_proof(index, CT_HASHES[:size])
    assert hexes(proof) == path
    root = bytes.fromhex(CT_ROOTS[size])
    assert verify_inclusion(index, size, CT_HASHES[index], proof, root)


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_consistency_proofs_match_the_published_vectors(
    old: int, new: int, path: list[str]
) -> None:
    proof = consistency_proof(old, CT_HASHES[:new])
    assert hexes(proof) == path
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    assert verify_consistency(old, new, old_root, new_root, proof)


SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.mark.parametrize(("index", "size", "path"), CT_INCLUSION)
def test_corrupted_published_inclusion_proofs_are_rejected(
    index: int, size: int, path: list[str]
) -> None:
    # The probes transparency-dev/merkle runs against the same vectors.
    proof = [bytes.fromhex(h) for h in path]
    root, leaf = bytes.fromhex(CT_ROOTS[size]), CT_HASHES[index]
    probes = [
        (index - 1, size, leaf, proof, root),
        (index + 1, size, leaf, proof, root),
        (index ^ 2, size, leaf, proof, root),
        (index, size * 2, leaf, proof, root),
        (index, size // 2, leaf, proof, root),
        (index, size, leaf_hash(b"WrongLeaf"), proof, root),
        (index, size, leaf, proof, EMPTY_ROOT),
        (index, size, leaf, proof, SOME_HASH),
        (index, size, leaf, [*proof, b""], root),
        (index, size, leaf, [*proof, root], root),
        (index, size, leaf, [b"", *proof], root),
        (index, size, leaf, [root, *proof], root),
        (index, size, leaf, proof[:-1], root),
        (index, size, leaf, [proof[0], SOME_HASH, *proof[1:]], root),
    ]
    probes += [
        (index, size, leaf, [*proof[:i], flip_bit(proof[i], 3), *proof[i + 1 :]], root)
        for i in range(len(proof))
    ]
    for probe in probes:
        assert not verify_inclusion(*probe), probe


@pytest.mark.parametrize(("old", "new", "path"), CT_CONSISTENCY)
def test_corrupted_published_consistency_proofs_are_rejected(
    old: int, new: int, path: list[str]
) -> None:
    proof = [bytes.fromhex(h) for h in path]
    old_root, new_root = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    probes = [
        (old - 1, new, old_root, new_root, proof),
        (old + 1, new, old_root, new_root, proof),
        (old ^ 2, new, old_root, new_root, proof),
        (old, new * 2, old_root, new_root, proof),
        (old, new // 2, old_root, new_root, proof),
        (old, new, SOME_HASH, new_root, proof),
        (old, new, old_root, SOME_HASH, proof),
        (old, new, new_root, old_root, proof),
        (old, new, old_root, new_root, []),
        (old, new, old_root, new_root, [*proof, b""]),
        (old, new, old_root, new_root, [*proof, old_root]),
        (old, new, old_root, new_root, [*proof, new_root]),
        (old, new, old_root, new_root, [b"", *proof]),
        (old, new, old_root, new_root, [old_root, *proof]),
        (old, new, old_root, new_root, [new_root, *proof]),
        (old, new, old_root, new_root, [proof[0], *proof]),
        (old, new, old_root, new_root, proof[:-1]),
    ]
    probes += [
        (old, new, old_root, new_root, [*proof[:i], flip_bit(proof[i], 4), *proof[i + 1 :]])
        for i in range(len(proof))
    ]
    for probe in probes:
        assert not verify_consistency(*probe), probe


def test_a_proof_cannot_claim_a_tree_of_another_size_than_it_climbs() -> None:
    # Without RFC 9162's checks on sn these would pass: the hashes do reach the
    # given root, but through a tree of a different size than the one claimed.
    h0, h1, h2 = CT_HASHES[:3]
    root1, root2 = root_hash([h0]), root_hash([h0, h1])
    assert verify_inclusion(1, 2, h1, [h0], root2)
    assert not verify_inclusion(0, 1, h1, [h0], root2)
    assert verify_consistency(1, 2, root1, root2, [h1])
    assert not verify_consistency(1, 3, root1, root2, [h1])
    assert not verify_consistency(2, 3, root2, root_hash([h0, h1, h2]), [h2, h2])


def test_every_proof_matches_the_reference_up_to_40_leaves() -> None:
    data = [f"entry {i}".encode() for i in range(40)]
    hashes = [leaf_hash(d) for d in data]
    for n in range(1, 41):
        root = root_hash(hashes[:n])
        assert root == ref_mth(data[:n])
        for i in range(n):
            proof = inclusion_proof(i, hashes[:n])
            assert proof == ref_path(i, data[:n])
            assert verify_inclusion(i, n, hashes[i], proof, root)
        for m in range(1, n + 1):
            proof = consistency_proof(m, hashes[:n])
            assert proof == ref_proof(m, data[:n])
            assert verify_consistency(m, n, root_hash(hashes[:m]), root, proof)


sizes = st.integers(min_value=1, max_value=3000)


@given(sizes, st.data())
def test_every_inclusion_proof_verifies(size: int, data: st.DataObject) -> None:
    hashes = synthetic(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(index, hashes)
    assert verify_inclusion(index, size, hashes[index], proof, root_hash(hashes))


@given(sizes, st.data())
def test_every_consistency_proof_verifies(size: int, data: st.DataObject) -> None:
    hashes = synthetic(size)
    old = data.draw(st.integers(min_value=1, max_value=size))
    proof = consistency_proof(old, hashes)
    assert verify_consistency(old, size, root_hash(hashes[:old]), root_hash(hashes), proof)


@given(st.integers(min_value=2, max_value=300), st.data())
def test_a_flipped_bit_fails_inclusion(size: int, data: st.DataObject) -> None:
    hashes = synthetic(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(index, hashes)
    root = root_hash(hashes)
    bit = data.draw(st.integers(min_value=0, max_value=255))
    where = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))

    assert not verify_inclusion(index, size, flip_bit(hashes[index], bit), proof, root)
    assert not verify_inclusion(index, size, hashes[index], proof, flip_bit(root, bit))
    bad_proof = [*proof[:where], flip_bit(proof[where], bit), *proof[where + 1 :]]
    assert not verify_inclusion(index, size, hashes[index], bad_proof, root)


@given(st.integers(min_value=2, max_value=300), st.data())
def test_a_wrong_position_or_a_mangled_proof_fails_inclusion(
    size: int, data: st.DataObject
) -> None:
    hashes = synthetic(size)
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof = inclusion_proof(index, hashes)
    root = root_hash(hashes)
    other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))

    assert not verify_inclusion(other, size, hashes[index], proof, root)
    assert not verify_inclusion(index, size, hashes[index], proof[:-1], root)
    assert not verify_inclusion(index, size, hashes[index], [*proof, root], root)
    assert not verify_inclusion(index, size, hashes[index], [root, *proof], root)


@given(st.integers(min_value=2, max_value=300), st.data())
def test_a_flipped_bit_fails_consistency(size: int, data: st.DataObject) -> None:
    hashes = synthetic(size)
    old = data.draw(st.integers(min_value=1, max_value=size - 1))
    proof = consistency_proof(old, hashes)
    old_root, new_root = root_hash(hashes[:old]), root_hash(hashes)
    bit = data.draw(st.integers(min_value=0, max_value=255))
    where = data.draw(st.integers(min_value=0, max_value=len(proof) - 1))

    assert not verify_consistency(old, size, flip_bit(old_root, bit), new_root, proof)
    assert not verify_consistency(old, size, old_root, flip_bit(new_root, bit), proof)
    bad_proof = [*proof[:where], flip_bit(proof[where], bit), *proof[where + 1 :]]
    assert not verify_consistency(old, size, old_root, new_root, bad_proof)
    assert not verify_consistency(old, size, old_root, new_root, proof[:-1])
    assert not verify_consistency(old, size, old_root, new_root, [*proof, new_root])


@given(st.integers(min_value=2, max_value=300), st.data())
def test_a_log_that_rewrote_an_old_record_cannot_prove_consistency(
    size: int, data: st.DataObject
) -> None:
    # given a payer's checkpoint of the first `old` records
    hashes = synthetic(size)
    old = data.draw(st.integers(min_value=1, max_value=size - 1))
    checkpoint_root = root_hash(hashes[:old])
    # when the log later rewrites one of those records and proves from the rewrite
    victim = data.draw(st.integers(min_value=0, max_value=old - 1))
    rewritten = [*hashes[:victim], leaf_hash(b"forged"), *hashes[victim + 1 :]]
    proof = consistency_proof(old, rewritten)
    # then the proof does not hold against what the payer kept
    assert not verify_consistency(old, size, checkpoint_root, root_hash(rewritten), proof)
    # and the original record's inclusion proof fails against the rewritten root
    original_proof = inclusion_proof(victim, hashes)
    assert not verify_inclusion(victim, size, hashes[victim], original_proof, root_hash(rewritten))


def test_the_trivial_consistency_cases() -> None:
    hashes = synthetic(5)
    root4, root5 = root_hash(hashes[:4]), root_hash(hashes)
    assert consistency_proof(5, hashes) == []
    assert consistency_proof(0, hashes) == []
    assert verify_consistency(5, 5, root5, root5, [])
    assert not verify_consistency(5, 5, root5, root4, [])
    assert not verify_consistency(5, 5, root5, root5, [root5])
    # any tree extends the empty one, whose root is the hash of nothing
    assert verify_consistency(0, 5, EMPTY_ROOT, root5, [])
    assert verify_consistency(0, 0, EMPTY_ROOT, EMPTY_ROOT, [])
    assert not verify_consistency(0, 5, root4, root5, [])
    assert not verify_consistency(0, 5, EMPTY_ROOT, root5, [root5])
    # a shrinking log is never consistent
    assert not verify_consistency(5, 4, root5, root4, consistency_proof(4, hashes))
    assert not verify_consistency(4, 5, root4, root5, [])


def test_verifiers_refuse_impossible_positions_and_odd_sized_hashes() -> None:
    hashes = synthetic(5)
    root = root_hash(hashes)
    proof = inclusion_proof(2, hashes)
    assert not verify_inclusion(5, 5, hashes[2], proof, root)
    assert not verify_inclusion(-1, 5, hashes[2], proof, root)
    assert not verify_inclusion(0, 0, hashes[2], [], root)
    assert not verify_inclusion(2, 5, hashes[2][:31], proof, root)
    assert not verify_inclusion(2, 5, hashes[2], [*proof[:-1], proof[-1] + b"\x00"], root)
    assert not verify_consistency(-1, 5, EMPTY_ROOT, root, [])
    assert not verify_consistency(3, 5, b"short", root, consistency_proof(3, hashes))


def test_generators_refuse_bad_arguments() -> None:
    hashes = synthetic(5)
    with pytest.raises(ValueError, match="leaf index 5 is outside a tree of 5 leaves"):
        inclusion_proof(5, hashes)
    with pytest.raises(ValueError, match="leaf index -1 is outside a tree of 5 leaves"):
        inclusion_proof(-1, hashes)
    with pytest.raises(ValueError, match=r"old size 6 is outside 0\.\.5"):
        consistency_proof(6, hashes)
    with pytest.raises(ValueError, match="leaf hashes must be 32-byte SHA-256 digests"):
        root_hash([b"a raw record, not its leaf hash"])
