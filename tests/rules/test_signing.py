import dataclasses
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from fundpilot.rules.signing import (
    Checkpoint,
    checkpoint_from_json,
    checkpoint_to_json,
    new_private_key,
    public_key_of,
    sign_checkpoint,
    verify_checkpoint,
)

# RFC 8032 §7.1 TEST 1: a published Ed25519 seed and its public key.
RFC_SEED = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC_PUBLIC = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
ROOT = "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"
ISSUED = datetime(2026, 7, 3, 14, 5, tzinfo=UTC)


def signed(
    *, chain: str = "pilot-7", size: int = 8, root: str = ROOT, issued_at: datetime = ISSUED
) -> Checkpoint:
    return sign_checkpoint(RFC_SEED, chain=chain, size=size, root=root, issued_at=issued_at)


def file_fields() -> dict[str, object]:
    fields: dict[str, object] = json.loads(checkpoint_to_json(signed()))
    return fields


def test_a_raw_seed_gives_the_rfc_8032_public_key() -> None:
    assert public_key_of(RFC_SEED) == RFC_PUBLIC


def test_new_keys_are_fresh_32_byte_seeds() -> None:
    first, second = new_private_key(), new_private_key()
    assert len(first) == len(second) == 32
    assert first != second
    assert len(bytes.fromhex(public_key_of(first))) == 32


def test_the_signature_covers_exactly_the_documented_message() -> None:
    # Payers' stored checkpoints depend on these bytes never changing.
    checkpoint = signed()
    message = (
        b'{"chain":"pilot-7","issued_at":"2026-07-03T14:05:00.000000Z",'
        b'"kind":"fundpilot.audit-checkpoint.v1","root":"' + ROOT.encode() + b'","size":8}'
    )
    key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(RFC_PUBLIC))
    key.verify(bytes.fromhex(checkpoint.signature), message)  # raises if not
    assert checkpoint.public_key == RFC_PUBLIC
    assert checkpoint.issued_at == "2026-07-03T14:05:00.000000Z"


def test_issued_at_is_stored_in_utc() -> None:
    in_new_york = ISSUED.astimezone(timezone(timedelta(hours=-4)))
    assert signed(issued_at=in_new_york).issued_at == "2026-07-03T14:05:00.000000Z"


def test_it_round_trips_through_the_file_payers_keep() -> None:
    checkpoint = signed()
    text = checkpoint_to_json(checkpoint)
    assert text.endswith("}\n")
    assert text.startswith('{\n  "chain": "pilot-7",\n  "size": 8,\n')
    read_back = checkpoint_from_json(text)
    assert read_back == checkpoint
    assert verify_checkpoint(read_back, RFC_PUBLIC)


def test_the_trusted_key_may_be_given_as_pasted() -> None:
    assert verify_checkpoint(signed(), RFC_PUBLIC.upper())
    assert verify_checkpoint(signed(), f" {RFC_PUBLIC}\n")


@pytest.mark.parametrize(
    "tampering",
    [
        {"chain": "pilot-8"},
        {"size": 9},
        {"size": 7},
        {"root": "0" * 64},
        {"root": ROOT[:-1] + "9"},
        {"issued_at": "2026-07-03T14:05:00.000001Z"},
        {"signature": "0" * 128},
    ],
)
def test_a_tampered_checkpoint_is_rejected(tampering: dict[str, Any]) -> None:
    tampered = dataclasses.replace(signed(), **tampering)
    assert not verify_checkpoint(tampered, RFC_PUBLIC)


@given(st.integers(min_value=0, max_value=511))
def test_any_flipped_signature_bit_is_rejected(bit: int) -> None:
    checkpoint = signed()
    signature = int(checkpoint.signature, 16) ^ (1 << bit)
    tampered = dataclasses.replace(checkpoint, signature=f"{signature:0128x}")
    assert not verify_checkpoint(tampered, RFC_PUBLIC)


def test_a_checkpoint_from_another_key_is_rejected() -> None:
    # given an attacker who signs a checkpoint with their own key
    forged = sign_checkpoint(
        new_private_key(), chain="pilot-7", size=8, root=ROOT, issued_at=ISSUED
    )
    # then it does not pass against the pilot's key, whatever key it names inside
    assert not verify_checkpoint(forged, RFC_PUBLIC)
    relabelled = dataclasses.replace(forged, public_key=RFC_PUBLIC)
    assert not verify_checkpoint(relabelled, RFC_PUBLIC)
    # and the pilot's own checkpoint does not pass against another key
    assert not verify_checkpoint(signed(), forged.public_key)


def test_a_trusted_key_that_is_not_hex_is_just_a_mismatch() -> None:
    assert not verify_checkpoint(signed(), "not a key")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"chain": ""}, "checkpoint field 'chain' must be a non-empty string"),
        ({"size": -1}, "checkpoint field 'size' must be a whole number of records, 0 or more"),
        ({"size": True}, "checkpoint field 'size' must be a whole number"),
        ({"root": "ABC"}, "checkpoint field 'root' must be 64 lowercase hex characters"),
        ({"issued_at": datetime(2026, 7, 3, 14, 5)}, "has no time zone"),
    ],
)
def test_signing_refuses_bad_values(overrides: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        signed(**overrides)


@pytest.mark.parametrize("length", [0, 31, 33, 64])
def test_it_refuses_a_private_key_of_the_wrong_length(length: int) -> None:
    with pytest.raises(ValueError, match=f"32-byte seed; got {length} bytes"):
        public_key_of(b"\x01" * length)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "checkpoint file is not valid JSON"),
        ("chain: pilot-7", "checkpoint file is not valid JSON"),
        ('{"chain": "pilot-7",', "checkpoint file is not valid JSON"),
        ("[1, 2]", "checkpoint file must hold a JSON object, not list"),
        ('"a string"', "checkpoint file must hold a JSON object, not str"),
    ],
)
def test_reading_refuses_a_file_that_is_not_a_json_object(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        checkpoint_from_json(text)


@pytest.mark.parametrize("field", ["chain", "size", "root", "issued_at", "public_key", "signature"])
def test_reading_names_a_missing_field(field: str) -> None:
    fields = file_fields()
    del fields[field]
    with pytest.raises(ValueError, match=f"checkpoint file is missing field\\(s\\): {field}$"):
        checkpoint_from_json(json.dumps(fields))


def test_reading_names_unknown_and_repeated_fields() -> None:
    with pytest.raises(ValueError, match=r"unknown field\(s\): note$"):
        checkpoint_from_json(json.dumps({**file_fields(), "note": "hi"}))
    text = checkpoint_to_json(signed()).replace('"size": 8,', '"size": 8,\n  "size": 9,')
    with pytest.raises(ValueError, match="checkpoint file repeats field 'size'"):
        checkpoint_from_json(text)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("size", -1, "'size' must be a whole number of records, 0 or more; got -1"),
        ("size", 8.0, "'size' must be a whole number of records"),
        ("size", "8", "'size' must be a whole number of records"),
        ("size", None, "'size' must be a whole number of records"),
        ("chain", 7, "'chain' must be a non-empty string; got 7"),
        ("root", "zz" * 32, "'root' must be 64 lowercase hex characters"),
        ("root", ROOT.upper(), "'root' must be 64 lowercase hex characters"),
        ("root", ROOT[:-2], "'root' must be 64 lowercase hex characters"),
        ("public_key", "xyz", "'public_key' must be 64 lowercase hex characters"),
        ("signature", "00" * 63, "'signature' must be 128 lowercase hex characters"),
        ("issued_at", "2026-07-03T14:05:00Z", "'issued_at' must be a UTC time such as"),
        ("issued_at", "2026-07-03T14:05:00.000000+00:00", "'issued_at' must be a UTC time"),
        ("issued_at", "2026-13-03T14:05:00.000000Z", "'issued_at' must be a UTC time"),
        ("issued_at", ["2026-07-03"], "'issued_at' must be a UTC time"),
        ("issued_at", "２026-07-03T14:05:00.000000Z", "'issued_at' must be a UTC time"),
    ],
)
def test_reading_names_a_malformed_field(field: str, value: object, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        checkpoint_from_json(json.dumps({**file_fields(), field: value}))
