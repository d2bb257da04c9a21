"""indications.conf: tone lists as Asterisk parses them, zones, file:line:col errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.diagnostics import Diagnostic
from pbx.indications import (
    BUILTIN,
    Indications,
    ToneError,
    TonePart,
    load_indications,
    midi_hz,
    parse_tonelist,
)

REPO = Path(__file__).resolve().parents[3]


def test_tone_parts_in_every_form() -> None:
    # With a '|' in the list, ',' does not separate: the first part is read up to
    # where it stops making sense and the rest is ignored, as Asterisk's sscanf does.
    t = parse_tonelist("!350+440/100, 0/100|425")
    assert t.parts == (TonePart(350, 440, 100, False, True), TonePart(425)) and t.notes
    t = parse_tonelist("!350+440/100, 0/100 ,480*20/500,425")
    assert t.parts == (TonePart(350, 440, 100, False, True), TonePart(0, 0, 100),
                       TonePart(480, 20, 500, True), TonePart(425, 0, 0))
    assert t.repeat_from == 1 and not t.notes
    assert parse_tonelist("!425/100,!0/100").repeat_from is None  # plays once
    t = parse_tonelist("M69+M81/200,M60")
    assert t.parts == (TonePart(440, 880, 200), TonePart(261, 0, 0))
    assert midi_hz(0) == 8 and midi_hz(127) == 12543 and midi_hz(128) == 0


@pytest.mark.parametrize(("text", "offset", "words"), [
    ("", 0, "empty tone list"),
    ("440/100,,0/100", 8, "empty part"),
    ("440/100, x20", 9, "bad tone part 'x20'"),
    ("!/100", 0, "bad tone part"),
    ("425/100000,0/30000", 0, "at most 120 s"),
])
def test_bad_tone_lists_say_where(text: str, offset: int, words: str) -> None:
    with pytest.raises(ToneError) as err:
        parse_tonelist(text)
    assert err.value.offset == offset and words in err.value.message


def test_what_asterisk_reads_differently_is_noted() -> None:
    assert parse_tonelist("350+375+400").parts == (TonePart(350, 375, 0),)
    assert "'+400' after '350+375' is ignored" in parse_tonelist("350+375+400").notes[0]
    assert "silence" in parse_tonelist("M200").notes[0]
    assert "above 4000 Hz" in parse_tonelist("1000/400,10000/400").notes[0]
    assert parse_tonelist("440/100,").parts == (TonePart(440, 0, 100),)  # trailing comma


def test_builtin_zone_is_asterisks_us() -> None:
    assert BUILTIN.country == "us"
    assert BUILTIN.tone("DIAL").parts == (TonePart(350, 440, 0),)
    assert BUILTIN.tone("busy").text == "480+620/500,0/500"
    assert BUILTIN.resolve("ring").text == "440+480/2000,0/4000"
    assert BUILTIN.resolve("425/200,0/200").parts[0] == TonePart(425, 0, 200)
    with pytest.raises(ToneError):
        BUILTIN.resolve("nosuchtone")


def test_the_sample_file_is_asterisks_and_loads() -> None:
    diags: list[Diagnostic] = []
    ind = load_indications(REPO / "etc" / "indications.conf", diags)
    assert not [d for d in diags if d.severity == "error"], diags
    # Asterisk's own sample has two oddities; both are reported, as warnings.
    assert sorted(d.line for d in diags) == [349, 612], [str(d) for d in diags]
    assert len(ind.zones) >= 40 and ind.country == "us"
    assert ind.tone("dial", "uk").text == "350+440"
    assert ind.tone("dial", "fr").text == "440"
    assert ind.tone("dial", "nowhere").text == "350+440"  # unknown zone: the default
    assert ind.zone("de").ringcadence == (1000, 4000)


def test_errors_carry_file_line_col(tmp_path: Path) -> None:
    path = tmp_path / "indications.conf"
    path.write_text("[general]\ncountry=xx\n\n[aa]\ndescription = A\n"
                    "dial = 425\nbusy = 425/500,0/5x00,zz\nringcadence = 1,two\n"
                    "[bb]\ndial = 440\n")
    diags: list[Diagnostic] = []
    ind = load_indications(path, diags)
    got = {(d.line, d.col, d.severity): d.message for d in diags}
    assert got[(7, 23, "error")].startswith("[aa] busy: bad tone part 'zz'"), got
    assert (8, 15, "error") in got and "ringcadence" in got[(8, 15, "error")]
    assert any("zone [bb] has no description" in m for m in got.values())
    assert any("country=xx: no zone [xx]" in m for m in got.values())
    assert list(ind.zones) == ["aa"] and "busy" not in ind.zones["aa"].tones
    # Asterisk loads such a file: the bad line is `loadable` (pbx run warns).
    assert all(d.loadable for d in diags if d.severity == "error" and "busy" in d.message)


def test_no_zone_at_all_falls_back_to_builtin(tmp_path: Path) -> None:
    path = tmp_path / "indications.conf"
    path.write_text("[general]\ncountry=us\n")
    ind = load_indications(path, [])
    assert isinstance(ind, Indications) and ind.tone("dial") is not None
