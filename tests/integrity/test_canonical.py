"""The fast path of scoring.integrity.canonical writes exactly what the rfc8785 package writes."""

from __future__ import annotations

import rfc8785
from hypothesis import given
from hypothesis import strategies as st

from scoring.integrity.canonical import canonical

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=8),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(st.text(max_size=6), children, max_size=4),
    max_leaves=20)


@given(JSON)
def test_canonical_is_rfc8785(value):
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.CanonicalizationError:
        return
    assert canonical(value) == expected
