"""`pbx check` on the IVR applications: every finding with file:line:col, errors
(Asterisk loads them: `loadable`) and warnings as the module says."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.cli import main
from pbx.config import load_config
from pbx.diagnostics import ConfigError

REPO_ETC = Path(__file__).resolve().parents[3] / "etc"

SIP = """[general]
context=default
[6001]
type=friend
host=dynamic
secret=a
context=internal
"""

VOICEMAIL = """[general]
[default]
6001 => 1234,Alice Smith
"""

# One finding per line (the line numbers are what the test checks).
DIALPLAN = """[internal]
exten => 1,1,PlayTones(busy)
 same => n,PlayTones(440/100,x)
 same => n,PlayTones(350+375+400)
 same => n,PlayTones(${TONE})
 same => n,Read(X,dial,,i)
 same => n,Read(X,beep,,i)
 same => n,Directory(default,internal,e)
 same => n,Directory(nosuch,nowhere,ezq)
 same => n,ChanIsAvail(SIP/6001&SIP/6099&Local/1@x&bad,sz)
 same => n,SIPAddHeader(X-Fine: yes)
 same => n,SIPAddHeader(Call-ID: 123)
 same => n,SIPAddHeader(not a header)
 same => n,Set(PJSIP_HEADER(add,Contact)=<sip:x@y>)
 same => n,Set(PJSIP_HEADER(read,X-A)=1)
 same => n,Set(V=${PJSIP_HEADER(add,X-A)})
 same => n,Set(PJSIP_HEADER(add,X-Ok)=1)
 same => n,WaitUntil(tomorrow)
 same => n,StackPop()
 same => n,Set(E=${ENUMLOOKUP(+1555)})
"""


def write(tmp: Path, dialplan: str = DIALPLAN, voicemail: str | None = VOICEMAIL,
          indications: str | None = None) -> Path:
    (tmp / "sip.conf").write_text(SIP)
    (tmp / "extensions.conf").write_text(dialplan)
    if voicemail is not None:
        (tmp / "voicemail.conf").write_text(voicemail)
    if indications is not None:
        (tmp / "indications.conf").write_text(indications)
    return tmp


def col(line: int, fragment: str, text: str = DIALPLAN) -> int:
    """The 1-based column of `fragment` on `line` of the dialplan."""
    return text.splitlines()[line - 1].index(fragment) + 1


def findings(tmp: Path) -> dict[int, list[tuple[int, str, str]]]:
    """extensions.conf line -> [(col, severity, message)]."""
    with pytest.raises(ConfigError) as err:
        load_config(tmp, strict=True)
    out: dict[int, list[tuple[int, str, str]]] = {}
    for d in err.value.diagnostics:
        if d.file.endswith("extensions.conf"):
            severity = "loadable" if d.loadable else d.severity
            out.setdefault(d.line, []).append((d.col, severity, d.message))
    return out


def test_each_ivr_finding_at_its_place(tmp_path: Path) -> None:
    got = findings(write(tmp_path))
    assert 2 not in got and 5 not in got and 6 not in got and 8 not in got
    assert got[3] == [(col(3, "x)"), "loadable",
                       "PlayTones(440/100,x): not a tone of zone 'us' and not a tone list: "
                       "bad tone part 'x': expected [!]freq[+freq2|*freq2][/ms], "
                       "e.g. 440+480/2000")]
    assert got[4][0][1] == "warning" and "'+400' after '350+375' is ignored" in got[4][0][2]
    assert got[7] == [(col(7, "beep"), "warning",
                       "Read: option i, but 'beep' is not a tone of zone 'us': "
                       "it is played as a prompt")]
    assert sorted(got[9]) == [
        (col(9, "nosuch"), "warning",
         "Directory: voicemail.conf has no mailbox in context 'nosuch'"),
        (col(9, "nowhere"), "loadable", "Directory: dial-context 'nowhere' does not exist"),
        (col(9, "ezq"), "warning", "Directory: unknown option(s) qz (e f l b a m n p s)")]
    assert sorted(got[10]) == [
        (col(10, "SIP/6099"), "warning", "ChanIsAvail: no peer '6099' in sip.conf or pjsip.conf"),
        (col(10, "Local"), "warning",
         "ChanIsAvail: technology Local is not supported: never available"),
        (col(10, "bad"), "warning", "ChanIsAvail: 'bad' is not Technology/Resource (SIP/6001)"),
        (col(10, "sz"), "warning", "ChanIsAvail: unknown option(s) z (a s t)")]
    assert 11 not in got
    assert got[12] == [(col(12, "Call-ID"), "loadable",
                        "SIPAddHeader: Call-ID is set by the PBX itself and cannot be added")]
    assert got[13][0][1] == "loadable" and "is not 'Header: value'" in got[13][0][2]
    assert got[14][0][1] == "loadable" and "Contact is set by the PBX itself" in got[14][0][2]
    assert got[15][0][1] == "loadable" and "'read' here must be one of add" in got[15][0][2]
    assert got[16][0][1] == "loadable" and "'add' here must be one of read" in got[16][0][2]
    assert 17 not in got and 19 not in got and 20 not in got
    assert got[18][0][1] == "warning" and "not an epoch time" in got[18][0][2]
    # pbx run starts with them (warnings), as Asterisk loads this dialplan.
    config = load_config(tmp_path, strict=False)
    assert config.dialplan is not None


def test_directory_without_voicemail_and_tones_of_indications_conf(tmp_path: Path,
                                                                   capsys) -> None:
    ind = "[general]\ncountry=fr\n[fr]\ndescription=France\ndial=440\nbeep=1000/100\n"
    got = findings(write(tmp_path, "[internal]\nexten => 1,1,Directory()\n"
                                   " same => n,PlayTones(beep)\n same => n,PlayTones(busy)\n",
                         voicemail=None, indications=ind))
    where = col(2, ")", "[internal]\nexten => 1,1,Directory()\n")
    assert got[2] == [(where, "loadable", "Directory: there is no voicemail.conf, where its "
                       "names come from")]
    assert 3 not in got  # beep is a tone of [fr], the default zone there
    assert got[4][0][1] == "loadable" and "not a tone of zone 'fr'" in got[4][0][2]
    assert main(["check", "--config-dir", str(tmp_path)]) == 1
    assert "extensions.conf:4:22:" in capsys.readouterr().err


def test_bad_indications_conf_is_reported(tmp_path: Path, capsys) -> None:
    write(tmp_path, "[internal]\nexten => 1,1,PlayTones(dial)\n",
          indications="[general]\ncountry=us\n[us]\ndescription=US\ndial=350+440\nbusy=48x0\n")
    # Asterisk reads 48x0 as 48 Hz: a warning only.
    assert main(["check", "--config-dir", str(tmp_path)]) == 0
    out = capsys.readouterr()
    assert f"{tmp_path}/indications.conf:6:6: warning: [us] busy: 'x0' after '48'" in \
        out.out + out.err
    (tmp_path / "indications.conf").write_text(
        "[general]\ncountry=us\n[us]\ndescription=US\ndial=350+440\nbusy=480/500,,0/500\n")
    assert main(["check", "--config-dir", str(tmp_path)]) == 1
    assert (f"{tmp_path}/indications.conf:6:14: [us] busy: empty part in the tone list"
            in capsys.readouterr().err)


def test_peer_tone_zones(tmp_path: Path) -> None:
    sip = SIP + "tonezone=UK\n[6002]\ntype=friend\nhost=dynamic\nsecret=b\ncontext=internal\n" \
        "tonezone=xx\n"
    write(tmp_path, "[internal]\nexten => 1,1,PlayTones(busy)\n",
          indications=(REPO_ETC / "indications.conf").read_text())
    (tmp_path / "sip.conf").write_text(sip)
    config = load_config(tmp_path)
    assert config.sip.peers["6001"].tonezone == "uk"
    warnings = [str(w) for w in config.warnings if "tone zone" in w.message]
    assert warnings == [f"{tmp_path}/sip.conf:9:1: warning: [6002] tone zone 'xx': "
                        "indications.conf has no zone [xx]; its calls use [us]"]
    (tmp_path / "pjsip.conf").write_text(
        "[7001]\ntype=endpoint\ncontext=internal\nallow=ulaw\ntone_zone=fr\n")
    config = load_config(tmp_path)
    assert config.sip.peers["7001"].tonezone == "fr"
