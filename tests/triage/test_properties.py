"""Property tests: any Unicode string through normalize, segment and extract — no crash,
normalization idempotent, segments cover the text. Bounded example counts keep CI short."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from triage.errors import LetterError

# letters are mostly Chinese with punctuation, digits, HTML and the odd control character
CJK = st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF)
ANY = st.characters(codec="utf-8")  # every code point a UTF-8 file can hold, surrogates not
PUNCT = st.sampled_from(list("，。！？、；：“”《》<>&/ \n\t0123456789"))
MIXED = st.text(st.one_of(CJK, ANY, PUNCT), max_size=300)
FEW = settings(max_examples=150, deadline=None,
               suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@FEW
@given(MIXED)
def test_normalize_is_idempotent_and_clean(text: str) -> None:
    from triage.normalize import normalize_text

    once = normalize_text(text)
    assert normalize_text(once) == once
    assert "\x00" not in once and "\ufeff" not in once
    assert once == once.strip()


@FEW
@given(st.text(ANY, max_size=200))
def test_normalize_any_unicode_never_crashes(text: str) -> None:
    from triage.normalize import normalize_text

    assert isinstance(normalize_text(text), str)


@FEW
@given(MIXED)
def test_segment_covers_the_text(text: str) -> None:
    from triage.normalize import normalize_text
    from triage.segment import segment

    norm = normalize_text(text)
    tokens = segment(norm)
    assert "".join(tokens) == norm


@FEW
@given(st.binary(max_size=400))
def test_decode_bytes_decodes_or_says_why(data: bytes) -> None:
    from triage.errors import DecodeError
    from triage.normalize import decode_bytes

    try:
        text, encoding = decode_bytes(data, "fuzz.txt")
    except DecodeError as exc:
        assert "fuzz.txt" in str(exc)
    else:
        assert isinstance(text, str) and encoding


@pytest.fixture(scope="module")
def triage_model(triage):  # type: ignore[no-untyped-def]
    return triage


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(MIXED)
def test_suggest_any_text_gives_a_suggestion_or_a_letter_error(triage_model, text: str) -> None:  # type: ignore[no-untyped-def]
    try:
        s = triage_model.suggest(text)
    except LetterError as exc:
        assert str(exc)  # says what is wrong
        return
    assert s.issue_type and 0.0 <= s.issue_type[0].score <= 1.0
    ents = s.entities
    assert isinstance(ents, dict)
    for place in ents.get("places", []) or []:
        assert isinstance(place, str) and place
