import json
from datetime import UTC, date, datetime, timedelta, timezone
from decimal import Decimal
from enum import Enum, StrEnum
from random import Random
from uuid import UUID
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from fundpilot.rules.canonical import (
    GENESIS_HASH,
    canonical_bytes,
    chain_hash,
    isoformat_utc,
    sha256_hex,
)


class Colour(StrEnum):
    RED = "red"


json_scalars = st.none() | st.booleans() | st.integers() | st.text()
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


def test_it_pins_the_exact_bytes_of_a_record() -> None:
    record = {
        "b": [1, True, None],
        "a": "café",
        "amount": Decimal("12.50"),
        "on": date(2026, 7, 3),
        "at": datetime(2026, 7, 3, 10, 15, tzinfo=ZoneInfo("America/New_York")),
        "id": UUID("12345678-1234-5678-1234-567812345678"),
        "role": Colour.RED,
        "pair": ("x", 2),
    }
    assert (
        canonical_bytes(record)
        == (
            '{"a":"café","amount":"12.50","at":"2026-07-03T14:15:00.000000Z",'
            '"b":[1,true,null],"id":"12345678-1234-5678-1234-567812345678",'
            '"on":"2026-07-03","pair":["x",2],"role":"red"}'
        ).encode()
    )


def test_decimals_keep_the_precision_they_were_given() -> None:
    # Documented: equal amounts with different exponents encode differently, so
    # money must be quantised before it is recorded.
    assert canonical_bytes(Decimal("1.10")) == b'"1.10"'
    assert canonical_bytes(Decimal("1.1")) == b'"1.1"'
    assert canonical_bytes(Decimal("-0.00")) == b'"-0.00"'
    assert canonical_bytes(Decimal("1E+2")) == b'"1E+2"'


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), Decimal("-Infinity")])
def test_it_refuses_decimals_that_are_not_numbers(value: Decimal) -> None:
    with pytest.raises(ValueError, match="is not a finite number"):
        canonical_bytes({"amount": value})


def test_an_instant_has_one_spelling_whatever_zone_it_was_written_in() -> None:
    utc = datetime(2026, 11, 1, 5, 30, tzinfo=UTC)
    new_york = utc.astimezone(ZoneInfo("America/New_York"))
    india = utc.astimezone(timezone(timedelta(hours=5, minutes=30)))
    assert canonical_bytes(utc) == canonical_bytes(new_york) == canonical_bytes(india)
    assert canonical_bytes(utc) == b'"2026-11-01T05:30:00.000000Z"'
    assert isoformat_utc(datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)) == (
        "2026-01-02T03:04:05.000006Z"
    )


def test_it_refuses_a_naive_datetime() -> None:
    with pytest.raises(ValueError, match="has no time zone"):
        canonical_bytes({"at": datetime(2026, 7, 3, 10, 15)})


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        {"nested": {"deeper": [1, 2, 0.1]}},
        [float("nan")],
        ({"a": float("inf")},),
    ],
)
def test_it_refuses_floats_anywhere(value: object) -> None:
    with pytest.raises(TypeError, match="float"):
        canonical_bytes(value)


@given(json_values, st.floats(allow_nan=False))
def test_a_float_hidden_anywhere_is_refused(value: object, number: float) -> None:
    with pytest.raises(TypeError, match="float"):
        canonical_bytes({"record": value, "hidden": [value, {"x": number}]})


@pytest.mark.parametrize("key", [1, None, (1, 2), date(2026, 1, 1)])
def test_it_refuses_keys_that_are_not_strings(key: object) -> None:
    with pytest.raises(TypeError, match="keys must be str"):
        canonical_bytes({"outer": {key: 1}})


class Plain(Enum):
    A = "a"


@pytest.mark.parametrize("value", [{1, 2}, frozenset(), b"bytes", Plain.A, object()])
def test_it_refuses_values_without_a_canonical_spelling(value: object) -> None:
    with pytest.raises(TypeError, match="has no canonical encoding"):
        canonical_bytes([value])


@given(st.dictionaries(st.text(), json_values, max_size=8), st.randoms())
def test_key_order_is_irrelevant(record: dict[str, object], random: Random) -> None:
    items = list(record.items())
    random.shuffle(items)
    assert canonical_bytes(dict(items)) == canonical_bytes(record)


@pytest.mark.parametrize(
    "text",
    [
        'quote " and backslash \\',
        "line\nbreak\r\ttab",
        "nul \x00 byte",
        "ünïcödé 🙂 漢字",
        "\u2028",
    ],
)
def test_hostile_strings_survive(text: str) -> None:
    encoded = canonical_bytes({text: text})
    assert json.loads(encoded.decode("utf-8")) == {text: text}


@given(json_values)
def test_json_values_round_trip(value: object) -> None:
    assert json.loads(canonical_bytes(value)) == value


def test_sha256_hex_is_the_standard_digest() -> None:
    assert sha256_hex(b"abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"


def test_the_genesis_hash_is_64_zeros() -> None:
    assert GENESIS_HASH == "0" * 64


def test_chain_hash_is_the_sha256_of_prev_and_body() -> None:
    body = {"action": "activate", "amount": Decimal("10.00")}
    expected = sha256_hex(
        b'{"body":{"action":"activate","amount":"10.00"},"prev":"' + b"0" * 64 + b'"}'
    )
    assert chain_hash(GENESIS_HASH, body) == expected


@pytest.mark.parametrize("prev", ["", "0" * 63, "0" * 65, "A" * 64, "g" * 64])
def test_chain_hash_refuses_a_malformed_previous_hash(prev: str) -> None:
    with pytest.raises(ValueError, match="prev_hash must be 64 lowercase hex characters"):
        chain_hash(prev, {})


@given(
    st.dictionaries(st.text(), json_values, min_size=1, max_size=6),
    st.data(),
)
def test_changing_any_one_field_changes_the_hash(
    record: dict[str, object], data: st.DataObject
) -> None:
    field = data.draw(st.sampled_from(sorted(record)))
    replacement = data.draw(json_values.filter(lambda v: v != record[field]))
    changed = {**record, field: replacement}
    assert chain_hash(GENESIS_HASH, changed) != chain_hash(GENESIS_HASH, record)


@given(st.dictionaries(st.text(), json_values, max_size=6), st.text(min_size=1))
def test_adding_or_renaming_a_field_changes_the_hash(record: dict[str, object], name: str) -> None:
    assume(name not in record)
    assert chain_hash(GENESIS_HASH, {**record, name: None}) != chain_hash(GENESIS_HASH, record)


def test_the_previous_hash_is_bound_into_the_hash() -> None:
    body = {"action": "activate"}
    first = chain_hash(GENESIS_HASH, body)
    assert chain_hash(first, body) != first
    assert chain_hash("1" + "0" * 63, body) != chain_hash(GENESIS_HASH, body)
