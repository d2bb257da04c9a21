"""pbx.yaml `sip.tls` and `tls:` listeners: values, and file:line:col errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_settings, load_sip_conf
from pbx.tlscert import make_cert


@pytest.fixture(scope="module")
def pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return make_cert(tmp_path_factory.mktemp("tls"))


def settings(tmp_path: Path, text: str) -> tuple[object, list]:
    (tmp_path / "pbx.yaml").write_text(text)
    diags: list = []
    return load_settings(tmp_path, diags), diags


def test_tls_listener_with_cert_and_key(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    s, diags = settings(tmp_path, f"""\
sip:
  listen: ["udp:127.0.0.1:5060", "tls:127.0.0.1:5061"]
  tls: {{cert: {cert}, key: {key}}}
""")
    assert diags == []
    assert [str(x) for x in s.listen] == ["udp:127.0.0.1:5060", "tls:127.0.0.1:5061"]
    assert s.tls.cert == cert and s.tls.key == key and s.tls.verify_server


def test_relative_paths_are_under_the_config_dir(tmp_path: Path,
                                                  pair: tuple[Path, Path]) -> None:
    make_cert(tmp_path / "tls")
    s, diags = settings(tmp_path, "sip:\n  tls:\n    cert: tls/pbx.crt\n    key: tls/pbx.key\n"
                                  "    verify_server: false\n")
    assert diags == []
    assert s.tls.cert == tmp_path / "tls" / "pbx.crt" and not s.tls.verify_server


def test_tls_listener_without_certificate_is_an_error(tmp_path: Path) -> None:
    _, diags = settings(tmp_path, 'sip:\n  listen: ["udp:127.0.0.1:5060", "tls:127.0.0.1:5061"]\n')
    assert [(d.line, d.col) for d in diags] == [(2, 34)]  # the "tls:..." item
    assert "needs a certificate" in diags[0].message and "make cert" in diags[0].message


def test_missing_file_unknown_key_and_bad_pair(tmp_path: Path, pair: tuple[Path, Path]) -> None:
    cert, key = pair
    _, diags = settings(tmp_path, f"sip:\n  tls:\n    cert: {cert}\n    key: nowhere.key\n"
                                  "    verfy: true\n")
    messages = {(d.line, d.col): d.message for d in diags}
    assert "not found" in messages[(4, 10)]
    assert "unknown key 'sip.tls.verfy'" in messages[(5, 5)]
    junk = tmp_path / "junk.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n-----END CERTIFICATE-----\n")
    _, diags = settings(tmp_path, f"sip:\n  tls: {{cert: {junk}, key: {key}}}\n")
    assert len(diags) == 1 and diags[0].line == 2
    assert "not a usable certificate/key pair" in diags[0].message
    _, diags = settings(tmp_path, f"sip:\n  tls: {{cert: {cert}}}\n")
    assert [d.message for d in diags] == ["sip.tls needs 'key' (a PEM file)"]


def test_tls_peer_defaults_to_port_5061(tmp_path: Path) -> None:
    conf = tmp_path / "sip.conf"
    conf.write_text("[trunk]\ntype=peer\nhost=127.0.0.1\ntransport=tls\n"
                    "[other]\ntype=peer\nhost=127.0.0.1\ntransport=tls\nport=5071\n")
    sip = load_sip_conf(conf, [])
    assert sip.peers["trunk"].port == 5061 and sip.peers["other"].port == 5071
