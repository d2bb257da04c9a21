"""features.conf and res_parking.conf: Asterisk's files load, mistakes are
file:line:col, and a lot's extensions make `include => parkedcalls` valid."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError
from pbx.features_conf import load_features_conf
from pbx.parking_conf import load_res_parking_conf

FEATURES = """\
[general]
featuredigittimeout = 1500
transferdigittimeout => 5
atxferabort = *9
xfersound = beep
pickupexten = *8

[featuremap]
blindxfer => #1
disconnect => *0
atxfer => *2
automixmon => *3
"""

PARKING = """\
[general]

[default]
parkext => 700
parkpos => 701-720
context => parkedcalls
parkinghints = yes
parkingtime => 60
comebacktoorigin = no
comebackcontext = parked-out
parkedmusicclass = default
findslot => next

[sales]
context => salespark
parkext => 800
parkpos => 801-805
"""

SIP = """\
[6001]
type=friend
host=dynamic
secret=x
context=internal
"""

DIALPLAN = """\
[internal]
include => parkedcalls
exten => 100,1,Park()
exten => 101,1,ParkedCall(default,701)
"""


def test_features_conf_values(tmp_path: Path) -> None:
    (tmp_path / "features.conf").write_text(FEATURES)
    diags: list = []
    cfg = load_features_conf(tmp_path / "features.conf", diags)
    assert diags == []
    assert cfg.featuredigittimeout == 1.5 and cfg.transferdigittimeout == 5
    assert cfg.codes(frozenset({"blindxfer", "atxfer", "disconnect", "automixmon"})) == {
        "#1": "blindxfer", "*2": "atxfer", "*0": "disconnect", "*3": "automixmon"}
    assert cfg.codes(frozenset({"parkcall"})) == {}  # no code, no feature
    assert cfg.atxfer_codes() == {"*9": "abort", "*2": "complete", "*3": "threeway",
                                  "*4": "swap"}
    assert (cfg.transferannouncesound, cfg.transferretrysound, cfg.transferinvalidsound) == \
        ("pbx-transfer", "pbx-invalid", "privacy-incorrect")


def test_features_conf_mistakes_are_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "features.conf"
    path.write_text("[general]\nfeaturedigittimeout = soon\nbogus = 1\n"
                    "[featuremap]\nblindxfer => #x\nteleport => 5\n[applicationmap]\n")
    diags: list = []
    load_features_conf(path, diags)
    text = [str(d) for d in diags]
    assert f"{path}:2:23: featuredigittimeout: 'soon' is not a number (milliseconds)" in text
    assert any(t.startswith(f"{path}:3:1: warning: features.conf: unknown option 'bogus'")
               for t in text)
    assert any(t.startswith(f"{path}:5:14: blindxfer: '#x' is not a DTMF sequence")
               for t in text)
    assert any(":6:1: warning: features.conf: unknown feature 'teleport'" in t for t in text)
    assert any(":7:1: warning: features.conf: [applicationmap]" in t for t in text)


def test_res_parking_conf_values(tmp_path: Path) -> None:
    (tmp_path / "res_parking.conf").write_text(PARKING)
    diags: list = []
    cfg = load_res_parking_conf(tmp_path / "res_parking.conf", diags)
    assert diags == []
    lot = cfg.lots["default"]
    assert (lot.parkext, lot.parkpos, lot.context, lot.parkingtime) == \
        ("700", (701, 720), "parkedcalls", 60)
    assert not lot.comebacktoorigin and lot.comebackcontext == "parked-out"
    assert lot.parkinghints and lot.findslot == "next" and lot.parkedmusicclass == "default"
    assert cfg.lots["sales"].parkpos == (801, 805)
    assert cfg.lot_for_exten("parkedcalls", "700") is lot
    assert cfg.lot_for_exten("salespark", "700") is None


def test_no_res_parking_conf_is_the_default_lot_without_extensions(tmp_path: Path) -> None:
    cfg = load_res_parking_conf(tmp_path / "res_parking.conf", [])
    assert list(cfg.lots) == ["default"] and cfg.lots["default"].parkext == ""


@pytest.mark.parametrize(("line", "message"), [
    ("parkpos => 720-701", "parkpos: 720 is after 701"),
    ("parkpos => lots", "parkpos: 'lots' is not a range like 701-720"),
    ("parkingtime => never", "parkingtime: 'never' is not a number of seconds"),
    ("comebacktoorigin = maybe", "comebacktoorigin: expected yes or no"),
    ("findslot => random", "findslot: expected first or next"),
])
def test_res_parking_conf_mistakes(tmp_path: Path, line: str, message: str) -> None:
    path = tmp_path / "res_parking.conf"
    path.write_text(f"[default]\nparkext => 700\n{line}\n")
    diags: list = []
    load_res_parking_conf(path, diags)
    assert [(d.line, d.message) for d in diags] == [(3, message)]


def test_include_parkedcalls_is_valid_with_a_lot_and_an_error_without(tmp_path: Path) -> None:
    (tmp_path / "sip.conf").write_text(SIP)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "res_parking.conf").write_text(PARKING)
    config = load_config(tmp_path)
    ctx = config.dialplan.contexts["parkedcalls"]
    park = ctx.extensions[("700", None)].steps[1]
    assert (park.app, park.args) == ("Park", "default")
    space = ctx.extensions[("720", None)]
    assert (space.steps[1].app, space.steps[1].args) == ("ParkedCall", "default,720")
    assert space.hint == "park:720@parkedcalls"
    assert str(park.app_pos).startswith(str(tmp_path / "res_parking.conf"))
    assert ("800", None) in config.dialplan.contexts["salespark"].extensions
    (tmp_path / "res_parking.conf").unlink()
    with pytest.raises(ConfigError) as exc:
        load_config(tmp_path)
    assert "includes missing context 'parkedcalls'" in str(exc.value)


def test_sample_configuration_has_features_and_parking() -> None:
    etc = Path(__file__).resolve().parents[3] / "etc"
    config = load_config(etc)
    assert config.features.featuremap["blindxfer"] == "#1"
    assert config.features.featuremap["atxfer"] == "*2"
    lot = config.parking.lots["default"]
    assert (lot.parkext, lot.parkpos) == ("700", (701, 720))
    assert "parkedcalls" in config.dialplan.contexts
