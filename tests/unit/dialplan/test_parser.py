"""Loading whole files: #include, cycles, the sample and the large realistic dialplan."""

from __future__ import annotations

from pathlib import Path

from dialplan.check import check_dialplan
from dialplan.parser import parse_dialplan, parse_dialplan_text
from dialplan.patterns import find

DATA = Path(__file__).with_name("data")
ROOT = Path(__file__).resolve().parents[3]


def test_sample_etc_extensions_conf_loads_clean() -> None:
    from pbx.parking_conf import add_parking_extensions, load_res_parking_conf

    dp, diags = parse_dialplan(ROOT / "etc" / "extensions.conf")
    assert diags == []
    # `include => parkedcalls`: the lot of res_parking.conf makes that context.
    add_parking_extensions(dp, load_res_parking_conf(ROOT / "etc" / "res_parking.conf", diags),
                           diags)
    assert diags == []
    assert check_dialplan(dp, known_apps=None, known_functions=None) == []
    ext = dp.contexts["internal"].extensions[("_6XXX", None)]
    assert len(ext.steps) == 2  # Gosub(${EXTEN},stdexten(...)), Hangup()
    std = dp.contexts["stdexten"].extensions[("_X.", None)]
    assert std.labels == {"stdexten": 50000, "dial": 50002, "busy": 50006, "dnd": 50007,
                          "forward": 50009, "loop": 50013}


def test_large_realistic_dialplan_loads_clean() -> None:
    dp, diags = parse_dialplan(DATA / "large.conf")
    assert diags == []
    assert check_dialplan(dp, known_apps=None, known_functions=None) == []
    assert len(dp.contexts) == 13
    assert dp.globals["ESCAPED"] == "a;b"
    assert dp.globals["EMPTY"] == ""
    assert dp.general["static"] == "yes"
    # the block comment hid its exten line
    assert all(("this", None) not in c.extensions for c in dp.contexts.values())
    # the #included file's contexts, with their own file name in positions
    phones = dp.contexts["office-phones"]
    assert phones.pos.file.endswith("included/office-phones.conf")
    assert phones.pos.line == 2
    assert dp.files[1].endswith("included/office-phones.conf")
    assert dp.contexts["office-phones"].extensions[("6001", None)].hint == "SIP/6001"
    # include resolution across files
    ctx, ext = find(dp, "internal", "6012")
    assert (ctx.name, ext.name) == ("office-phones", "_60[0-9]X")


def test_include_relative_to_config_dir(tmp_path: Path) -> None:
    (tmp_path / "conf").mkdir()
    (tmp_path / "conf" / "extra.conf").write_text("exten => 2,1,NoOp(extra)\n")
    main = tmp_path / "main.conf"
    main.write_text('[c]\nexten => 1,1,NoOp()\n#include "extra.conf"\nexten => 3,1,NoOp()\n')
    dp, diags = parse_dialplan(main, config_dir=tmp_path / "conf")
    assert diags == []
    # the included lines land in the context that was open
    assert list(dp.contexts["c"].extensions) == [("1", None), ("2", None), ("3", None)]
    assert dp.contexts["c"].extensions[("2", None)].pos.file.endswith("extra.conf")


def test_include_glob_and_angle_brackets(tmp_path: Path) -> None:
    for i in (2, 1):
        (tmp_path / f"part{i}.conf").write_text(f"exten => {i},1,NoOp()\n")
    main = tmp_path / "extensions.conf"
    main.write_text("[c]\n#include <part*.conf>\n")
    dp, diags = parse_dialplan(main)
    assert diags == []
    assert list(dp.contexts["c"].extensions) == [("1", None), ("2", None)]


def test_include_cycle_reported_with_position() -> None:
    dp, diags = parse_dialplan(DATA / "cycle_a.conf")
    assert [(Path(d.file).name, d.line, d.col) for d in diags] == [("cycle_b.conf", 3, 1)]
    assert diags[0].message == "#include cycle: cycle_a.conf -> cycle_b.conf -> cycle_a.conf"
    assert set(dp.contexts) == {"a", "b"}


def test_missing_include_reported(tmp_path: Path) -> None:
    main = tmp_path / "extensions.conf"
    main.write_text("[c]\n\n  #include missing.conf\n#tryinclude also-missing.conf\n")
    _dp, diags = parse_dialplan(main)
    assert len(diags) == 1
    assert (diags[0].line, diags[0].col) == (3, 3)
    assert "#include 'missing.conf': file not found" in diags[0].message


def test_missing_main_file() -> None:
    _dp, diags = parse_dialplan(DATA / "nope.conf")
    assert len(diags) == 1 and "cannot read dialplan" in diags[0].message


def test_text_entry_point_uses_filename() -> None:
    _dp, diags = parse_dialplan_text("[c]\nexten 1,1,NoOp()\n", "my.conf")
    assert str(diags[0]).startswith("my.conf:2:7: ")


def test_unbalanced_parentheses_warns() -> None:
    dp, diags = parse_dialplan_text("[c]\nexten => 1,1,Set(A=$[(1+2])\n")
    assert [str(d) for d in diags] == [
        "extensions.conf:2:17: warning: unbalanced parentheses in application arguments"
    ]
    assert dp.contexts["c"].extensions[("1", None)].steps[1].args == "A=$[(1+2]"


def test_many_extensions_parse() -> None:
    lines = ["[big]"]
    for i in range(2000):
        lines.append(f"exten => {1000 + i},1,Answer()")
        lines.append(" same => n,Hangup()")
    dp, diags = parse_dialplan_text("\n".join(lines))
    assert diags == []
    assert len(dp.contexts["big"].extensions) == 2000
