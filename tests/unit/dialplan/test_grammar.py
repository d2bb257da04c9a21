"""The extensions.conf grammar: every construct, and every kind of syntax error."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialplan.model import Pos
from dialplan.parser import _fast_statement, _lark, parse_dialplan, parse_dialplan_text

DATA = Path(__file__).with_name("data")


def parse(text: str):
    dp, diags = parse_dialplan_text(text)
    return dp, [str(d) for d in diags]


def test_exten_priorities_labels_and_positions() -> None:
    dp, diags = parse(
        "[internal]\n"
        "exten => 999,1,Answer()\n"
        "exten => 999,n,Playback(tt-weasels)\n"
        "exten = 999,n(end),Hangup\n"
    )
    assert diags == []
    ext = dp.contexts["internal"].extensions[("999", None)]
    assert [s.app for s in ext.steps.values()] == ["Answer", "Playback", "Hangup"]
    assert sorted(ext.steps) == [1, 2, 3]
    assert ext.steps[2].args == "tt-weasels"
    assert ext.steps[3].args == ""  # no parentheses at all, as Asterisk allows
    assert ext.labels == {"end": 3}
    assert ext.steps[3].label == "end"
    assert ext.steps[2].pos == Pos("extensions.conf", 3, 1)
    assert ext.steps[2].app_pos == Pos("extensions.conf", 3, 16)
    assert ext.pos == Pos("extensions.conf", 2, 1)


def test_same_with_leading_whitespace_and_plus_offsets() -> None:
    dp, diags = parse(
        "[c]\n"
        "exten => s,1,NoOp(a)\n"
        "   same => n,NoOp(b)\n"
        "\tsame => n+2,NoOp(c)\n"
        " same => 10(ten),NoOp(d)\n"
        " same => s,NoOp(e)\n"  # 's': same as previous priority -> duplicate
    )
    ext = dp.contexts["c"].extensions[("s", None)]
    assert sorted(ext.steps) == [1, 2, 5, 10]
    assert ext.labels == {"ten": 10}
    assert diags == [
        "extensions.conf:6:10: duplicate priority 10 of extension 's' "
        "(first defined at extensions.conf:5:2); this line is ignored"
    ]


def test_n_follows_previous_line_even_across_extensions() -> None:
    # Asterisk: "n" is the previous priority plus one, whatever the extension.
    dp, diags = parse("[c]\nexten => 1,1,NoOp()\nexten => 2,n,NoOp()\n")
    assert diags == []
    assert list(dp.contexts["c"].extensions[("2", None)].steps) == [2]


def test_hint_and_callerid_match() -> None:
    dp, diags = parse(
        "[c]\n"
        "exten => 6001,hint,SIP/6001&SIP/6001b\n"
        "exten => 6001,1,Dial(SIP/6001)\n"
        "exten => 123/100,1,NoOp(from 100)\n"
        "exten => 123/_2XX,1,NoOp(from 2xx)\n"
        "exten => 123,1,NoOp(anyone)\n"
    )
    assert diags == []
    ctx = dp.contexts["c"]
    e = ctx.extensions[("6001", None)]
    assert e.hint == "SIP/6001&SIP/6001b"
    assert e.steps[-1].priority == -1 and e.steps[-1].app == "SIP/6001&SIP/6001b"
    assert ctx.extensions[("123", "100")].steps[1].cid_match == "100"
    assert ctx.extensions[("123", "_2XX")].steps[1].args == "from 2xx"
    assert ctx.extensions[("123", None)].cid_match is None


def test_patterns_with_commas_in_classes() -> None:
    dp, diags = parse("[c]\nexten => _[1-5,7]XX,1,NoOp(${EXTEN})\n")
    assert diags == []
    assert ("_[1-5,7]XX", None) in dp.contexts["c"].extensions


def test_include_ignorepat_and_general_globals() -> None:
    dp, diags = parse(
        "[general]\n"
        "autofallthrough=no\n"
        "clearglobalvars = yes\n"
        "static=yes\n"
        "writeprotect=no\n"
        "[globals]\n"
        "TRUNK=SIP/provider ; the trunk\n"
        "FORMULA=a=b,c(d)\n"
        "SEMI=x\\;y\n"
        "EMPTY=\n"
        "[c]\n"
        "include => other\n"
        "ignorepat => 9\n"
        "[other]\n"
    )
    assert diags == []
    assert dp.general == {
        "autofallthrough": "no",
        "clearglobalvars": "yes",
        "static": "yes",
        "writeprotect": "no",
    }
    assert not dp.autofallthrough
    assert dp.globals == {
        "TRUNK": "SIP/provider",
        "FORMULA": "a=b,c(d)",
        "SEMI": "x;y",
        "EMPTY": "",
    }
    ctx = dp.contexts["c"]
    assert [(i.context, i.pos) for i in ctx.includes] == [("other", Pos("extensions.conf", 12, 12))]
    assert ctx.ignorepats == ["9"]


def test_application_arguments_raw() -> None:
    dp, diags = parse(
        "[c]\n"
        'exten => 1,1,GotoIf($["${DIALSTATUS}" = "BUSY"]?busy:${IF($[1]?a:b)})\n'
        "exten => 2,1,Set(X=${CUT(foo,\\,,2)}) ; comment (with parens)\n"
        "exten => 3,1,Set(Y=a\\;b)\n"
        "exten => 4,1,Dial(SIP/a,20,M(x^y)) ;; end\n"
        'exten => 5,1,Verbose(1, "quoted, (nested)" )   \n'
    )
    assert diags == []
    ext = dp.contexts["c"].extensions
    assert ext[("1", None)].steps[1].args == '$["${DIALSTATUS}" = "BUSY"]?busy:${IF($[1]?a:b)}'
    assert ext[("2", None)].steps[1].args == "X=${CUT(foo,\\,,2)}"
    assert ext[("3", None)].steps[1].args == "Y=a;b"
    assert ext[("4", None)].steps[1].args == "SIP/a,20,M(x^y)"
    assert ext[("5", None)].steps[1].args == '1, "quoted, (nested)" '


def test_comments_and_block_comments() -> None:
    dp, diags = parse(
        "; leading comment\n"
        "[c] ; context comment\n"
        ";--\n"
        "exten => 1,1,NoOp(hidden)\n"
        "--;\n"
        "exten => 2,1,NoOp(shown) ;-- inline --; \n"
    )
    assert diags == []
    assert list(dp.contexts["c"].extensions) == [("2", None)]


def test_context_merge_and_append_template() -> None:
    dp, diags = parse("[c]\nexten => 1,1,NoOp()\n[d]\n[c](+)\nexten => 2,1,NoOp()\n")
    assert diags == []
    assert list(dp.contexts["c"].extensions) == [("1", None), ("2", None)]


def test_keywords_case_insensitive_and_crlf() -> None:
    dp, diags = parse("[c]\r\nEXTEN => 1,1,NoOp()\r\n Same => n,NoOp(x)\r\n")
    assert diags == []
    assert dp.contexts["c"].extensions[("1", None)].steps[2].args == "x"


def test_brief_example_loads_clean() -> None:
    dp, diags = parse_dialplan(DATA / "example.conf")
    assert diags == []
    assert set(dp.contexts) == {"default", "incoming_calls", "internal"}
    assert dp.autofallthrough


# -- syntax errors: each with its exact line:col ----------------------------------------

ERRORS = [
    ("exten 123,1,Answer()", "2:7: expected '=>' after 'exten', found '123'"),
    ("exten => 123 1,Answer()", "2:14: expected ',' or '/' after '123', found '1'"),
    (
        "exten => 123,x,Answer()",
        "2:14: expected a priority (a number, 'n' or 'hint') after ',', found 'x'",
    ),
    ("exten => 123,1,Dial(SIP/foo", "2:20: missing ')' at the end of the application's arguments"),
    ("exten => 124,1,Answer() junk", "2:25: unexpected text 'junk' at end of line"),
    ("exten => 125,1,", "2:16: unexpected end of line after ',', expected an application name"),
    ("exten =>", "2:9: unexpected end of line after '=>', expected an extension name or pattern"),
    ("exten => 126", "2:13: unexpected end of line after '126', expected ',' or '/'"),
    ("foo bar", "2:5: expected '=>' after 'foo', found 'bar'"),
    ("[broken", "2:8: unexpected end of line after '[broken', expected ']'"),
    ("same => n,NoOp()", "2:1: 'same =>' with no preceding 'exten =>'"),
    ("exten => 1,n,NoOp()", "2:12: priority 'n' with no previous priority to follow"),
    ("exten => 130,hint,", "2:14: empty hint for extension '130'"),
    ("#exec /bin/true", "2:1: unsupported directive '#exec'"),
    ("#include", "2:1: #include needs a file name"),
    (
        "autofallthrough=no",
        "2:1: unknown statement 'autofallthrough' in context 'c' "
        "(expected exten =>, same =>, include => or ignorepat =>)",
    ),
]


@pytest.mark.parametrize(("line", "message"), ERRORS)
def test_syntax_errors(line: str, message: str) -> None:
    _dp, diags = parse("[c]\n" + line + "\n")
    assert diags == ["extensions.conf:" + message]


def test_all_errors_collected_and_good_lines_kept() -> None:
    dp, diags = parse(
        "[c]\nexten 1,1,NoOp()\nexten => 2,1,NoOp()\nexten => 3,1,Dial(x\nexten => 4,1,NoOp()\n"
    )
    assert [d.split(": ")[0] for d in diags] == ["extensions.conf:2:7", "extensions.conf:4:18"]
    assert set(dp.contexts["c"].extensions) == {("2", None), ("4", None)}


def test_statements_outside_context() -> None:
    _dp, diags = parse("exten => 1,1,NoOp()\nFOO=bar\n[globals]\ninclude => x\n")
    assert diags == [
        "extensions.conf:1:1: 'exten' outside of a context (any context)",
        "extensions.conf:2:1: 'FOO' outside of any [section]",
        "extensions.conf:4:1: 'include' outside of a context ([globals])",
    ]


def test_warnings_for_unsupported_but_harmless_things() -> None:
    _dp, diags = parse(
        "[general]\nfrobnicate=yes\n[c]\ninclude => other,9:00-17:00,mon-fri,*,*\n"
        "switch => Realtime/foo\n[other]\n"
    )
    assert diags == [
        "extensions.conf:2:1: warning: unknown [general] option 'frobnicate'",
        "extensions.conf:5:1: warning: 'switch' is not supported (realtime switches); line ignored",
    ]


def test_timed_includes_are_parsed() -> None:
    dp, diags = parse_dialplan_text(
        "[c]\ninclude => day,09:00-17:00,mon-fri,*,*\ninclude => night|17:01-08:59|*|*|*\n"
        "include => all\ninclude => bad,25:00-26:00,funday,*,*\n[day]\n[night]\n[all]\n[bad]\n")
    day, night, all_, _bad = dp.contexts["c"].includes
    assert day.timing is not None and str(day.timing) == "09:00-17:00,mon-fri,*,*"
    assert day.timing.weekdays == frozenset(range(1, 6))
    assert night.timing is not None and night.timing.minutes is not None
    assert 17 * 60 + 1 in night.timing.minutes and 9 * 60 not in night.timing.minutes
    assert all_.timing is None
    # Asterisk loads a bad element (and skips it): an error for `pbx check`, loadable.
    assert [(str(d), d.loadable) for d in diags] == [
        ("extensions.conf:5:16: include => bad: '25:00' is not a valid time (HH:MM) "
         "(the element is ignored)", True),
        ("extensions.conf:5:16: include => bad: invalid day of week 'funday' "
         "(the element is ignored)", True),
    ]


# -- the fast path must agree with the lark grammar ------------------------------------

FAST_LINES = [
    "exten => 123,1,Answer()",
    "exten=>_X.,n(lbl),Dial(SIP/${EXTEN},20) ; c",
    "  exten => 123/_2XX , 2 , NoOp ( a )",
    " same => n,GotoIf($[${A} = 1]?x:y)",
    "same=>n+3,Hangup",
    "[internal]",
    "[tmpl](+) ; x",
    "include => other",
    "TRUNK=SIP/x,y ; z",
    "A = b\\;c",
    "exten => _[1-5,7]XX,1,Set(X=a\\;b)",
]


@pytest.mark.parametrize("line", FAST_LINES)
def test_fast_path_agrees_with_lark(line: str) -> None:
    fast = _fast_statement(line, 1)
    assert fast is not None
    (slow,) = _lark().parse(line)

    def norm(st):
        return tuple((x.value, x.column) if hasattr(x, "value") else x for x in st)

    assert norm(fast) == norm(slow)


_LINE_PIECES = st.sampled_from(
    [
        "exten",
        "same",
        "include",
        " ",
        "=>",
        "=",
        ",",
        "/",
        "1",
        "n",
        "n(x)",
        "hint",
        "_X.",
        "[1-3]",
        "App",
        "(",
        ")",
        "(a,b)",
        "${V}",
        ";c",
        "\\;",
        "[",
        "]",
        "#include",
        "x",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE_PIECES, min_size=1, max_size=10).map("".join))
def test_fast_path_never_disagrees_with_lark(line: str) -> None:
    """Whatever the fast path accepts, lark accepts too and splits the same way."""
    fast = _fast_statement(line, 1)
    if fast is None:
        return
    (slow,) = _lark().parse(line)

    def norm(st_: tuple) -> tuple:
        return tuple((x.value, x.column) if hasattr(x, "value") else x for x in st_)

    assert norm(fast) == norm(slow)
