"""Salesforce id helpers: published 15 -> 18 examples, properties over any id, and refusals."""

from __future__ import annotations

import string

import pytest
from hypothesis import given
from hypothesis import strategies as st

from clients.sfids import InvalidSalesforceId, is_valid, to_18, to_18_or_none

ALNUM = string.ascii_letters + string.digits
ids_15 = st.text(alphabet=ALNUM, min_size=15, max_size=15)


# Published ids with their 18-character forms (../shared/reference/salesforce-api.md, section 3.1).
@pytest.mark.parametrize(
    ("id15", "id18"),
    [
        ("00Di0000000icUB", "00Di0000000icUBEAY"),
        ("005i0000002MUqL", "005i0000002MUqLAAW"),
        ("00558000001N0Ke", "00558000001N0KeAAK"),
        ("001D000000I8mIm", "001D000000I8mImIAJ"),
        ("a00D0000008pQSN", "a00D0000008pQSNIA2"),
        ("001A0000006Vm9r", "001A0000006Vm9rIAC"),
        ("001A0000006VM9r", "001A0000006VM9rIAG"),
    ],
)
def test_published_ids_get_their_published_suffix(id15: str, id18: str) -> None:
    assert to_18(id15) == id18
    assert to_18(id18) == id18


def test_an_id_lower_cased_by_a_case_insensitive_system_gets_its_case_back() -> None:
    assert to_18("00di0000000icubeay") == "00Di0000000icUBEAY"


@given(ids_15)
def test_the_18_character_form_extends_the_15_and_is_stable(id15: str) -> None:
    id18 = to_18(id15)
    assert len(id18) == 18 and id18.startswith(id15)
    assert to_18(id18) == id18
    assert is_valid(id15) and is_valid(id18)


@given(ids_15)
def test_folding_the_case_of_an_18_character_id_loses_nothing(id15: str) -> None:
    id18 = to_18(id15)
    assert to_18(id18.lower()) == id18
    assert to_18(id18.upper()) == id18


@given(ids_15, st.data())
def test_ids_that_differ_only_in_case_stay_different_after_case_folding(id15: str, data: st.DataObject) -> None:
    letters = [i for i, char in enumerate(id15) if char.isalpha()]
    if not letters:
        return
    flip = data.draw(st.sampled_from(letters))
    other = id15[:flip] + id15[flip].swapcase() + id15[flip + 1 :]
    assert to_18(id15).lower() != to_18(other).lower()


@given(ids_15, st.data())
def test_a_mixed_case_id_with_a_wrong_checksum_is_refused(id15: str, data: st.DataObject) -> None:
    body = id15
    if body == body.lower() or body == body.upper():
        body = "aB" + body[2:]  # mixed case: its case cannot be "repaired" from the suffix
    good = to_18(body)[15:]
    bad = data.draw(st.text(alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZ012345", min_size=3, max_size=3))
    if bad == good:
        return
    with pytest.raises(InvalidSalesforceId):
        to_18(body + bad)


@pytest.mark.parametrize(
    "value",
    ["", "001", "001A0000006Vm9", "001A0000006Vm9rI", "001A0000006Vm9r-AC", "001A0000006Vm9r!AC", "00Q' OR Id != '"],
)
def test_anything_else_is_refused(value: str) -> None:
    with pytest.raises(InvalidSalesforceId):
        to_18(value)
    assert not is_valid(value)


def test_none_and_empty_pass_through_the_optional_form() -> None:
    assert to_18_or_none(None) is None and to_18_or_none("") is None
    assert to_18_or_none("001A0000006Vm9r") == "001A0000006Vm9rIAC"
