"""allow=/disallow= per peer: Asterisk's order rules, [general] inheritance, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_sip_conf


def load(tmp_path: Path, text: str) -> tuple[dict, list]:
    path = tmp_path / "sip.conf"
    path.write_text(text)
    diags: list = []
    sip = load_sip_conf(path, diags)
    return {name: peer.codecs for name, peer in sip.peers.items()}, diags


PEER = "[p]\ntype=friend\nhost=dynamic\nsecret=x\n"


@pytest.mark.parametrize(
    ("lines", "codecs"),
    [
        ("", ["ulaw", "alaw"]),  # chan_sip's default (less gsm, h263)
        ("disallow=all\nallow=g722,ulaw\n", ["g722", "ulaw"]),
        ("disallow=all\nallow=g722\nallow=alaw,ulaw\n", ["g722", "alaw", "ulaw"]),
        # allow of a codec already there keeps its place (format_cap.c)
        ("allow=g722,ulaw\n", ["ulaw", "alaw", "g722"]),
        ("disallow=ulaw\n", ["alaw"]),
        ("disallow=all\nallow=all\n", ["ulaw", "alaw", "g722", "opus"]),
        ("disallow=all\nallow=opus|g722\n", ["opus", "g722"]),
        ("disallow=all\nallow=g722,!g722,ulaw\n", ["ulaw"]),
        ("disallow=!g722\n", ["ulaw", "alaw", "g722"]),
        ("disallow=all\nallow=G722 , Ulaw\n", ["g722", "ulaw"]),
    ],
)
def test_allow_disallow_order(tmp_path: Path, lines: str, codecs: list[str]) -> None:
    peers, diags = load(tmp_path, PEER + lines)
    assert peers["p"] == codecs
    assert [d for d in diags if d.severity == "error"] == []


def test_peers_start_from_general_and_templates_apply_in_order(tmp_path: Path) -> None:
    peers, diags = load(tmp_path, """\
[general]
disallow=all
allow=g722,alaw

[phone](!)
type=friend
host=dynamic
secret=x
allow=ulaw

[a](phone)

[b](phone)
disallow=all
allow=ulaw,g722

[c]
type=friend
host=dynamic
secret=x
""")
    assert diags == []
    assert peers == {"a": ["g722", "alaw", "ulaw"], "b": ["ulaw", "g722"],
                     "c": ["g722", "alaw"]}


def test_unknown_codec_is_an_error_at_its_column_once(tmp_path: Path) -> None:
    peers, diags = load(tmp_path, """\
[phone](!)
type=friend
host=dynamic
secret=x
allow = g722, ulwa

[a](phone)
[b](phone)
""")
    errors = [d for d in diags if d.severity == "error"]
    assert [str(d) for d in errors] == [
        f"{tmp_path / 'sip.conf'}:5:15: unknown codec 'ulwa' in allow= "
        "(supported: ulaw, alaw, g722, opus, or all)"]
    assert peers["a"] == ["ulaw", "alaw", "g722"]


def test_asterisk_codecs_we_lack_are_warnings(tmp_path: Path) -> None:
    peers, diags = load(tmp_path, PEER + "disallow=all\nallow=gsm,g729,ulaw:30\ndisallow=h264\n")
    assert peers["p"] == ["ulaw"]
    assert all(d.severity == "warning" for d in diags)
    messages = [(d.line, d.col, d.message.split(" is ")[0]) for d in diags]
    assert messages == [(6, 7, "codec 'gsm'"), (6, 11, "codec 'g729'"),
                        (6, 16, "packetization ':30' for 'ulaw'")]


def test_bad_packetization_is_an_error(tmp_path: Path) -> None:
    _, diags = load(tmp_path, PEER + "allow=ulaw:abc\n")
    assert [(d.line, d.col, d.severity) for d in diags] == [(5, 7, "error")]
    assert "bad packetization 'abc'" in diags[0].message


def test_no_codec_left_is_a_warning(tmp_path: Path) -> None:
    peers, diags = load(tmp_path, PEER + "disallow=all\n")
    assert peers["p"] == []
    assert [(d.line, d.severity) for d in diags] == [(5, "warning")]
    assert "allows no codec" in diags[0].message


def test_pbx_check_reports_unknown_codec(tmp_path: Path) -> None:
    """`pbx check` prints file:line:col and fails on a codec name nobody knows."""
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[3]
    for name in ("pbx.yaml", "extensions.conf", "voicemail.conf"):
        src = repo / "etc" / name
        if src.exists():
            (tmp_path / name).write_text(src.read_text())
    sip = (repo / "etc" / "sip.conf").read_text()
    (tmp_path / "sip.conf").write_text(sip + "\n[6099]\ntype=friend\nhost=dynamic\n"
                                       "secret=x\ncontext=internal\nallow=g722,speexx\n")
    lines = (tmp_path / "sip.conf").read_text().splitlines()
    out = subprocess.run([sys.executable, "-m", "pbx.cli", "check", "--config-dir",
                          str(tmp_path)], capture_output=True, text=True, cwd=repo, timeout=60)
    assert out.returncode == 1, out.stdout + out.stderr
    expected = (f"sip.conf:{len(lines)}:12: unknown codec 'speexx' in allow=")
    assert expected in out.stdout + out.stderr, out.stdout + out.stderr
