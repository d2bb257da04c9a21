"""Pattern matching in Asterisk's order, the trie index, caller-ID matches and includes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialplan.model import Context, Extension, Pos, Step
from dialplan.parser import parse_dialplan_text
from dialplan.patterns import (
    ContextIndex,
    PatternError,
    compile_pattern,
    context_index,
    extension_matches,
    find,
    find_can_match_more,
    pattern_error,
    pattern_sort_key,
    sorted_extensions,
)

P = Pos("t.conf", 1, 1)


def make_context(*names: str, cids: dict[str, str] | None = None) -> Context:
    ctx = Context("t", P)
    for name in names:
        cid = (cids or {}).get(name)
        key_name = name.split("/")[0]
        ext = Extension(key_name, cid, pos=P)
        ext.steps[1] = Step(1, "NoOp", name, None, P, P, cid)
        ctx.extensions[(key_name, cid)] = ext
    return ctx


def order(*names: str) -> list[str]:
    return sorted(names, key=pattern_sort_key)


# -- single patterns ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "yes", "no"),
    [
        ("_X", ["0", "9"], ["", "a", "10"]),
        ("_Z", ["1", "9"], ["0"]),
        ("_N", ["2", "9"], ["0", "1"]),
        ("_nxz", ["201"], ["200", "101"]),  # X, Z, N are case-insensitive
        ("_[1-5,7]X", ["10", "59", "70", ",0"], ["60", "80"]),  # ',' is a member, as in Asterisk
        ("_[a-c]X", ["a1", "c9"], ["d1", "A1"]),
        ("_9.", ["91", "9123"], ["9", "8123"]),
        ("_9!", ["9", "91", "9123"], ["8"]),
        ("_555-12XX", ["5551234", "555-1234"], ["555123"]),
        ("_stde[x]te[n]-.", ["stdexten-foo", "stdextenfoo"], ["stdexten"]),
        ("6001", ["6001", "600-1"], ["6002", "60011"]),
    ],
)
def test_extension_matches(pattern: str, yes: list[str], no: list[str]) -> None:
    for s in yes:
        assert extension_matches(pattern, s), s
    for s in no:
        assert not extension_matches(pattern, s), s


def test_malformed_patterns() -> None:
    with pytest.raises(PatternError):
        compile_pattern("_12[3")
    assert pattern_error("_12[3") == "unclosed '[' in pattern '_12[3'"
    assert pattern_error("_1[]") == "empty character set '[]' in pattern '_1[]'"
    assert pattern_error("_") == "empty pattern '_'"
    assert pattern_error("_1X") is None and pattern_error("123") is None
    assert not extension_matches("_12[3", "123")


# -- Asterisk's sort order (pbx.c ext_cmp / ext_cmp_pattern_pos) -------------------------


def test_literals_before_patterns() -> None:
    assert order("_X.", "s", "100", "_1XX", "1-00") == ["100", "1-00", "s", "_1XX", "_X."]


def test_literal_digit_before_classes_and_classes_by_size() -> None:
    # one char < [2-4] (3) < N (8) < Z (9) < X (10) < '.' < '!'
    assert order("_X!", "_X.", "_XX", "_ZX", "_NX", "_[2-4]X", "_2X") == [
        "_2X",
        "_[2-4]X",
        "_NX",
        "_ZX",
        "_XX",
        "_X.",
        "_X!",
    ]


def test_equal_size_sets_by_lowest_char_then_members() -> None:
    assert order("_[24]", "_[13]") == ["_[13]", "_[24]"]
    assert order("_[13]", "_[12]") == ["_[12]", "_[13]"]
    assert order("_[5]X", "_5X") == ["_[5]X", "_5X"] or order("_5X", "_[5]X") == ["_5X", "_[5]X"]
    assert pattern_sort_key("_[5]X") == pattern_sort_key("_5X")


def test_ending_sorts_after_going_on() -> None:
    assert order("_1X", "_1XX", "_1X.") == ["_1XX", "_1X.", "_1X"]


def test_documented_style_example() -> None:
    # The kind of list the Asterisk docs walk through: most specific first.
    names = ["_X.", "_NXXXXXX", "_1NXXNXXXXXX", "_9011.", "_91NXXNXXXXXX", "_911", "_9NXXXXXX"]
    assert order(*names) == [
        "_1NXXNXXXXXX",
        "_9011.",
        "_911",
        "_91NXXNXXXXXX",
        "_9NXXXXXX",
        "_NXXXXXX",
        "_X.",
    ]


def test_first_in_order_wins() -> None:
    idx = ContextIndex(make_context("_X.", "_NXXXXXX", "_1NXXNXXXXXX", "_X!", "_X", "5551234"))
    assert idx.match("5551234").name == "5551234"
    assert idx.match("5551235").name == "_NXXXXXX"
    assert idx.match("12125551234").name == "_1NXXNXXXXXX"
    assert idx.match("15").name == "_X."
    # '!' sorts before the end of a pattern, so `_X!` beats `_X` for one digit
    assert idx.match("5").name == "_X!"
    assert idx.match("") is None  # _X! needs the X


def test_special_extensions_are_literals() -> None:
    idx = ContextIndex(make_context("s", "i", "t", "h", "e", "o", "a", "T", "_X."))
    for name in ("s", "i", "t", "h", "e", "o", "a", "T"):
        assert idx.match(name).name == name
    assert idx.match("x") is None


def test_callerid_matches_take_precedence() -> None:
    dp, diags = parse_dialplan_text(
        "[c]\n"
        "exten => 123,1,NoOp(anyone)\n"
        "exten => 123/100,1,NoOp(from 100)\n"
        "exten => 123/_2XX,1,NoOp(from 2xx)\n"
        "exten => _1XX/_555.,1,NoOp(pattern from 555)\n"
        "exten => _1XX,1,NoOp(pattern)\n"
    )
    assert diags == []
    idx = context_index(dp, "c")

    def which(exten: str, cid: str | None) -> str | None:
        ext = idx.match(exten, cid)
        return ext.steps[1].args if ext else None

    assert which("123", None) == "anyone"
    assert which("123", "100") == "from 100"
    assert which("123", "250") == "from 2xx"
    assert which("123", "300") == "anyone"
    assert which("124", "5551") == "pattern from 555"
    assert which("124", "6") == "pattern"
    assert which("124", None) == "pattern"  # no caller ID: only non-CID extensions
    names = [(e.name, e.cid_match) for e in sorted_extensions(dp.contexts["c"])]
    assert names.index(("123", "100")) < names.index(("123", None))
    assert names.index(("_1XX", "_555.")) < names.index(("_1XX", None))


def test_can_match_more() -> None:
    idx = ContextIndex(make_context("6001", "_7XX", "_8.", "_9!", "_95XX"))
    assert idx.can_match_more("6")
    assert idx.can_match_more("600")
    assert not idx.can_match_more("6001")  # exact, nothing longer
    assert idx.can_match_more("7") and idx.can_match_more("71")
    assert not idx.can_match_more("712")
    assert idx.can_match_more("8") and idx.can_match_more("8123")  # '.' takes more
    # "early match": the first candidate in order is `_95XX` for "9" ...
    assert idx.can_match_more("9")
    # ... but for "96" it is `_9!`, which says stop waiting
    assert not idx.can_match_more("96")
    assert not idx.can_match_more("5")
    assert idx.can_match("600") and idx.can_match("6001") and not idx.can_match("5")
    assert idx.matches_exactly("6001") and not idx.matches_exactly("600")


# -- index vs. the linear Asterisk algorithm (property tests) ---------------------------

_ELEMENTS = st.sampled_from(["1", "2", "5", "X", "N", "Z", "[1-3]", "[25]", "[0-9]", "a"])
_PATTERNS = st.builds(
    lambda els, tail: "_" + "".join(els) + tail,
    st.lists(_ELEMENTS, min_size=0, max_size=4),
    st.sampled_from(["", "", ".", "!"]),
).filter(lambda p: p != "_")
_LITERALS = st.text(alphabet="1259a", min_size=1, max_size=4)
_DIALLED = st.text(alphabet="012359a", min_size=0, max_size=6)


def linear_match(ctx: Context, exten: str, cid: str | None) -> Extension | None:
    for ext in sorted_extensions(ctx):
        if not extension_matches(ext.name, exten):
            continue
        if ext.cid_match is not None and not (cid and extension_matches(ext.cid_match, cid)):
            continue
        return ext
    return None


def ref_matchmore(name: str, data: str) -> int:
    """pbx.c _extension_match_core(..., E_MATCHMORE), transcribed."""
    if not name.startswith("_"):
        lp, ld = len(name), len(data)
        return int(lp > ld and name.startswith(data))
    els = compile_pattern(name)
    i = 0
    for el in els:
        if i == len(data):
            break
        if el.kind == "dot":
            return 1
        if el.kind == "bang":
            return 2
        if data[i] not in el.chars:
            return 0
        i += 1
    else:
        return 0  # pattern ran out: exact (a failure for MATCHMORE) or data longer
    nxt = els[i] if i < len(els) else None
    if i < len(data):
        return 0
    return 2 if nxt is not None and nxt.kind == "bang" else 1


def linear_can_match_more(ctx: Context, exten: str) -> bool:
    for ext in sorted_extensions(ctx):
        got = ref_matchmore(ext.name, exten)
        if got == 2:
            return False
        if got == 1:
            return True
    return False


@settings(max_examples=300, deadline=None)
@given(
    st.lists(_PATTERNS, max_size=12, unique=True),
    st.lists(_LITERALS, max_size=4, unique=True),
    st.lists(_DIALLED, min_size=1, max_size=8),
)
def test_index_agrees_with_linear_search(
    patterns: list[str], literals: list[str], dialled: list[str]
) -> None:
    ctx = make_context(*patterns, *literals)
    idx = ContextIndex(ctx)
    for d in dialled:
        assert idx.match(d) is linear_match(ctx, d, None), d
        assert idx.can_match_more(d) == linear_can_match_more(ctx, d), d


@settings(max_examples=100, deadline=None)
@given(
    st.lists(_PATTERNS, min_size=1, max_size=6, unique=True),
    st.lists(st.sampled_from(["100", "_1XX", "_2.", "_[13]00"]), max_size=3),
    _DIALLED,
    st.sampled_from([None, "100", "150", "200", "300"]),
)
def test_index_agrees_with_linear_search_with_callerid(
    patterns: list[str], cids: list[str], dialled: str, callerid: str | None
) -> None:
    ctx = make_context(*patterns)
    for i, cid in enumerate(cids):
        base = patterns[i % len(patterns)]
        ext = Extension(base, cid, pos=P)
        ext.steps[1] = Step(1, "NoOp", f"{base}/{cid}", None, P, P, cid)
        ctx.extensions[(base, cid)] = ext
    idx = ContextIndex(ctx)
    assert idx.match(dialled, callerid) is linear_match(ctx, dialled, callerid)


# -- includes ----------------------------------------------------------------------------

INCLUDES = """
[a]
exten => _X.,1,NoOp(a)
include => b
include => c
[b]
exten => 123,1,NoOp(b)
exten => _5XX,1,NoOp(b)
include => a
include => missing
[c]
exten => 555,1,NoOp(c)
exten => *98,1,NoOp(c)
exten => 777,1,NoOp(c)
include => d
[d]
exten => 777,1,NoOp(d)
exten => 888,1,NoOp(d)
"""


def test_find_follows_includes_in_order() -> None:
    dp, _ = parse_dialplan_text(INCLUDES)

    def where(ctx: str, exten: str) -> str | None:
        got = find(dp, ctx, exten)
        return got[0].name if got else None

    assert where("a", "123") == "a"  # own extensions first, even a pattern
    assert where("a", "*98") == "c"  # not a digit: only c has it
    assert where("b", "555") == "b"  # b's pattern before c (through a)
    assert where("b", "*98") == "c"  # b -> a -> c, loop back to b avoided
    assert where("c", "777") == "c"
    assert where("c", "888") == "d"
    assert where("d", "123") is None
    assert where("nope", "1") is None
    assert find_can_match_more(dp, "c", "88")
    assert not find_can_match_more(dp, "d", "889")


def test_include_loop_terminates() -> None:
    dp, _ = parse_dialplan_text("[x]\ninclude => y\n[y]\ninclude => x\nexten => 1,1,NoOp()\n")
    assert find(dp, "x", "2") is None
    assert find(dp, "x", "1")[0].name == "y"


def test_index_is_cached_per_dialplan() -> None:
    dp, _ = parse_dialplan_text(INCLUDES)
    dp2, _ = parse_dialplan_text(INCLUDES)
    assert context_index(dp, "a") is context_index(dp, "a")
    assert context_index(dp2, "a") is not context_index(dp, "a")
    assert context_index(dp, "zzz") is None
