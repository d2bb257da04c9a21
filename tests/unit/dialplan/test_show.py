"""`dialplan show` output, in Asterisk's format."""

from __future__ import annotations

from pathlib import Path

from dialplan.parser import parse_dialplan, parse_dialplan_text
from dialplan.show import show_dialplan

DATA = Path(__file__).with_name("data")


def test_brief_example_exact_output() -> None:
    dp, _ = parse_dialplan(DATA / "example.conf")
    assert show_dialplan(dp, "internal") == (
        "[ Context 'internal' created by 'pbx_config' ]\n"
        "  '123' =>          1. Dial(SIP/ZhangSan)                         [example.conf:15]\n"
        "  '800' =>          1. VoiceMailMain()                            [example.conf:14]\n"
        "  '999' =>          1. Answer()                                   [example.conf:11]\n"
        "                    2. Playback(tt-weasels)                       [example.conf:12]\n"
        "                    3. Hangup()                                   [example.conf:13]\n"
        "\n"
        "-= 3 extensions (5 priorities) in 1 context. =-\n"
    )


def test_whole_dialplan_lists_every_context_and_totals() -> None:
    dp, _ = parse_dialplan(DATA / "example.conf")
    out = show_dialplan(dp)
    assert out.startswith("[ Context 'default' created by 'pbx_config' ]\n\n")
    assert "[ Context 'incoming_calls' created by 'pbx_config' ]\n\n" in out
    assert out.endswith("-= 3 extensions (5 priorities) in 3 contexts. =-\n")


def test_patterns_in_match_order_labels_hints_includes_ignorepats() -> None:
    dp, _ = parse_dialplan_text(
        "[c]\n"
        "include => other\n"
        "ignorepat => 9\n"
        "exten => _X.,1,NoOp()\n"
        "exten => _NXX,1,NoOp()\n"
        "exten => _1XX,1,NoOp()\n"
        "exten => 6001,1,Dial(SIP/6001)\n"
        " same => n(vm),VoiceMail(6001)\n"
        "exten => 6001,hint,SIP/6001\n"
        "exten => 123/100,1,NoOp(vip)\n"
        "[other]\n"
        "exten => 1,1,NoOp()\n",
        "/etc/pbx/extensions.conf",
    )
    assert show_dialplan(dp, "c") == (
        "[ Context 'c' created by 'pbx_config' ]\n"
        "  '123' (CID match '100') =>  1. NoOp(vip)                                  "
        "[extensions.conf:10]\n"
        "  '6001' =>         hint: SIP/6001                                [extensions.conf:9]\n"
        "                    1. Dial(SIP/6001)                             [extensions.conf:7]\n"
        "     [vm]           2. VoiceMail(6001)                            [extensions.conf:8]\n"
        "  '_1XX' =>         1. NoOp()                                     [extensions.conf:6]\n"
        "  '_NXX' =>         1. NoOp()                                     [extensions.conf:5]\n"
        "  '_X.' =>          1. NoOp()                                     [extensions.conf:4]\n"
        "  Include =>        'other'                                       [pbx_config]\n"
        "  Ignore pattern => '9'                                           [pbx_config]\n"
        "\n"
        "-= 5 extensions (7 priorities) in 1 context. =-\n"
    )


def test_exten_at_context_follows_includes() -> None:
    dp, _ = parse_dialplan_text(
        "[a]\ninclude => b\nexten => _1XX,1,NoOp(a)\n[b]\ninclude => a\nexten => 123,1,NoOp(b)\n"
        "exten => 999,1,NoOp(b)\n"
    )
    # As in pbx.c, the included context is printed inside the including one,
    # so both blank separators come after it.
    assert show_dialplan(dp, "123@a") == (
        "[ Context 'a' created by 'pbx_config' ]\n"
        "  '_1XX' =>         1. NoOp(a)                                    [extensions.conf:3]\n"
        "[ Included context 'b' created by 'pbx_config' ]\n"
        "  '123' =>          1. NoOp(b)                                    [extensions.conf:6]\n"
        "\n"
        "\n"
        "-= 2 extensions (2 priorities) in 2 contexts. =-\n"
    )
    assert show_dialplan(dp, "555@a") == "There is no existence of '555@a' extension\n"


def test_unknown_context() -> None:
    dp, _ = parse_dialplan_text("[a]\n")
    assert show_dialplan(dp, "zz") == "There is no existence of 'zz' context\n"
    assert show_dialplan(dp) == (
        "[ Context 'a' created by 'pbx_config' ]\n"
        "\n"
        "-= 0 extensions (0 priorities) in 1 context. =-\n"
    )


def test_included_file_shown_relative_to_config_dir() -> None:
    dp, _ = parse_dialplan(DATA / "large.conf")
    out = show_dialplan(dp, "office-phones")
    assert "[included/office-phones.conf:3]" in out
