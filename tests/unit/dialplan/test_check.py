"""The static checker: every diagnostic it emits, with its position."""

from __future__ import annotations

from dialplan.check import check_dialplan, split_top_level
from dialplan.parser import parse_dialplan_text

APPS = {
    "Answer",
    "Hangup",
    "NoOp",
    "Set",
    "Goto",
    "GotoIf",
    "Gosub",
    "GosubIf",
    "GotoIfTime",
    "Return",
    "Dial",
    "Macro",
    "Playback",
}
FUNCS = {"CALLERID", "IF", "LEN"}


def check(text: str, apps: set[str] | None = APPS, funcs: set[str] | None = FUNCS) -> list[str]:
    dp, diags = parse_dialplan_text(text)
    assert diags == []
    return [str(d) for d in check_dialplan(dp, known_apps=apps, known_functions=funcs)]


def test_clean_dialplan_has_no_diagnostics() -> None:
    assert (
        check(
            "[c]\n"
            "exten => s,1,Answer()\n"
            " same => n(top),Set(X=${CALLERID(num)})\n"
            " same => n,GotoIf($[${LEN(${X})} > 3]?long:top)\n"
            " same => n(long),Goto(d,100,1)\n"
            " same => n,Gosub(sub,s,1(a,b))\n"
            " same => n,Goto(${DEST},1)\n"  # computed: not checked
            " same => n,GotoIf($[1]?:top)\n"  # empty branch
            " same => n,Goto(d,5551234,1)\n"  # reaches a pattern
            " same => n,Goto(+1)\n"
            "[d]\n"
            "exten => 100,1,hangup()\n"  # application names are case-insensitive
            "exten => _555XXXX,1,NoOp()\n"
            "[sub]\n"
            "exten => s,1,Return()\n"
        )
        == []
    )


def test_unknown_application() -> None:
    assert check("[c]\nexten => 1,1,Answr()\n same => n,NoOp()\n") == [
        "extensions.conf:2:14: unknown application 'Answr'"
    ]
    assert check("[c]\nexten => 1,1,Answr()\n", apps=None) == []


def test_hints_are_not_applications() -> None:
    assert check("[c]\nexten => 1,hint,SIP/1\nexten => 1,1,NoOp()\n") == []


def test_unknown_function() -> None:
    assert check("[c]\nexten => 1,1,Set(A=${CALLERID(num)}${FOO(x)})\n") == [
        "extensions.conf:2:38: unknown function 'FOO'"
    ]
    assert check("[c]\nexten => 1,1,Set(A=${FOO(x)})\n", funcs=None) == []


def test_goto_targets() -> None:
    out = check(
        "[c]\n"
        "exten => 1,1,Goto(nowhere,s,1)\n"
        " same => n,Goto(c,2,1)\n"
        " same => n,Goto(1,7)\n"
        " same => n,Goto(nolabel)\n"
        " same => n,Gosub(c,1,missing(arg))\n"
        " same => n,Goto(1,1)\n"
    )
    assert out == [
        "extensions.conf:2:19: Goto(nowhere,s,1): context 'nowhere' does not exist",
        "extensions.conf:3:17: Goto(c,2,1): extension '2' not found in context 'c'",
        "extensions.conf:4:17: Goto(1,7): extension '1' has no priority 7 in context 'c'",
        "extensions.conf:5:17: Goto(nolabel): no label 'nolabel' in extension '1' of context 'c'",
        "extensions.conf:6:18: Gosub(c,1,missing(arg)): no label 'missing' in extension '1' "
        "of context 'c'",
    ]


def test_gotoif_and_gotoiftime_branches() -> None:
    out = check(
        "[c]\n"
        'exten => 1,1,GotoIf($["${A}" = "?"]?yes:no)\n'
        " same => n(yes),GotoIfTime(9:00-17:00,mon-fri,*,*?open)\n"
    )
    assert out == [
        "extensions.conf:2:41: GotoIf(no): no label 'no' in extension '1' of context 'c'",
        "extensions.conf:3:51: GotoIfTime(open): no label 'open' in extension '1' of context 'c'",
    ]


def test_macro_target() -> None:
    assert check("[c]\nexten => 1,1,Macro(dial,1)\n") == [
        "extensions.conf:2:20: Macro(dial): context 'macro-dial' does not exist"
    ]


def test_missing_include_and_cycle() -> None:
    out = check("[a]\ninclude => b\ninclude => ghost\n[b]\ninclude => c\n[c]\ninclude => a\n")
    assert out == [
        "extensions.conf:3:12: context 'a' includes missing context 'ghost'",
        "extensions.conf:7:12: warning: include cycle: a -> b -> c -> a",
    ]


def test_no_priority_one_and_bad_patterns() -> None:
    out = check("[c]\nexten => 1,2,NoOp()\nexten => _1[],1,NoOp()\n")
    assert out == [
        "extensions.conf:2:1: warning: extension '1' in context 'c' has no priority 1, "
        "so it is never entered",
        "extensions.conf:3:1: empty character set '[]' in pattern '_1[]' (it never matches)",
    ]


def test_parse_time_structure_errors_come_from_parser() -> None:
    # duplicate priorities, `n` with nothing before, orphan `same` (see test_grammar)
    _dp, diags = parse_dialplan_text(
        "[c]\nsame => n,NoOp()\nexten => 1,n,NoOp()\nexten => 2,1,NoOp()\nexten => 2,1,NoOp()\n"
    )
    assert [d.message.split(" (")[0] for d in diags] == [
        "'same =>' with no preceding 'exten =>'",
        "priority 'n' with no previous priority to follow",
        "duplicate priority 1 of extension '2'",
    ]
    assert "(first defined at extensions.conf:4:1)" in diags[2].message


def test_split_top_level() -> None:
    assert split_top_level('a,${F(b,c)},"d,e",$[f,g],h\\,i', ",") == [
        ("a", 0),
        ("${F(b,c)}", 2),
        ('"d,e"', 12),
        ("$[f,g]", 18),
        ("h\\,i", 25),
    ]


STDEXTEN = """\
[demo]
include => stdexten
exten => 1234,1,Playback(transfer,skip)
 same => n,Gosub(${EXTEN},stdexten(${GLOBAL(CONSOLE)}))
 same => n,Gosub(1234,stdexten(SIP/1234))
 same => n,Goto(demo,1234,stdexten)
 same => n,Goto(default,s,1)
[default]
exten => s,1,Goto(demo,1234,50000)
[stdexten]
exten => _X.,50000(stdexten),NoOp(Start stdexten)
 same => n,Set(LOCAL(ext)=${EXTEN})
 same => n,Dial(${ARG1},20)
 same => n,Goto(stdexten-${DIALSTATUS},1)
exten => stdexten-NOANSWER,1,Return()
"""


def test_labels_are_searched_in_included_contexts() -> None:
    # Asterisk's sample: Gosub(${EXTEN},stdexten(...)) from [demo], whose own
    # `1234` has no such label, reaches `_X.,50000(stdexten)` in the included
    # context; no diagnostic at all (not even "no priority 1" for _X.).
    assert check(STDEXTEN, funcs={"GLOBAL", "LOCAL"}) == []


def test_computed_extension_with_a_static_label() -> None:
    out = check("[c]\ninclude => d\nexten => 1,1,Gosub(${EXTEN},nolabel(x))\n"
                " same => n,Goto(${EXTEN},lbl)\n[d]\nexten => _X,5(lbl),NoOp()\n")
    assert out == ["extensions.conf:3:20: Gosub(${EXTEN},nolabel(x)): no label 'nolabel' in "
                   "any extension of context 'c' or the contexts it includes"]


def test_set_checks_the_function_it_writes() -> None:
    out = check("[c]\nexten => 1,1,Set(CALLERID(num)=1)\n same => n,Set(NOPE(x)=1)\n"
                " same => n,Set(LEN(x)=1)\n same => n,Set(${VAR}(x)=1)\n same => n,Set(A=1)\n",
                funcs={"CALLERID", "LEN"})
    assert out == ["extensions.conf:3:16: Set: unknown function 'NOPE' (the call logs a "
                   "warning there)"]
    dp, _ = parse_dialplan_text("[c]\nexten => 1,1,Set( LEN(x)=1)\n")
    [d] = check_dialplan(dp, known_functions={"LEN"}, writable_functions={"CALLERID"})
    assert str(d) == "extensions.conf:2:19: Set: function 'LEN' cannot be written to"
    assert d.loadable


def test_what_only_fails_a_call_is_loadable() -> None:
    dp, _ = parse_dialplan_text(
        "[c]\ninclude => ghost\nexten => 1,1,Nope()\n same => n,NoOp(${NOFUNC(x)})\n"
        " same => n,Goto(d,9,1)\n[d]\nexten => _X.,2,NoOp()\n")
    diags = check_dialplan(dp, known_apps={"noop", "goto"}, known_functions=set())
    assert [(d.line, d.loadable, d.severity) for d in diags] == [
        (2, True, "error"), (3, True, "error"), (4, True, "error"), (5, True, "error"),
        (7, False, "warning")]
