"""sip.conf [general] bind keys become the listen addresses when pbx.yaml has no
sip.listen (Asterisk 20's sip.conf runs as written); sip.listen still wins."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError

PEER = "\n[6001]\ntype=friend\nhost=dynamic\nsecret=x-9Kq2\n"


def listen_of(tmp_path: Path, general: str, yaml: str = "") -> list[str]:
    (tmp_path / "sip.conf").write_text("[general]\n" + general + PEER)
    (tmp_path / "extensions.conf").write_text("[default]\nexten => 600,1,Echo()\n")
    (tmp_path / "pbx.yaml").write_text(yaml or "http: {listen: 127.0.0.1:8088}\n")
    return [str(s) for s in load_config(tmp_path).settings.listen]


def test_no_bind_key_keeps_the_loopback_default(tmp_path: Path) -> None:
    assert listen_of(tmp_path, "context=default\n") == ["udp:127.0.0.1:5060", "tcp:127.0.0.1:5060"]


def test_udp_and_tcp_binds_as_chan_sip_reads_them(tmp_path: Path) -> None:
    general = "bindport=5080\nudpbindaddr=0.0.0.0\ntcpenable=yes\ntcpbindaddr=0.0.0.0:5070\n"
    assert listen_of(tmp_path, general) == ["udp:0.0.0.0:5080", "tcp:0.0.0.0:5070"]


def test_bindaddr_ipv6_and_tcp_default_port(tmp_path: Path) -> None:
    assert listen_of(tmp_path, "bindaddr=::1\ntcpenable=yes\n") == [
        "udp:[::1]:5060", "tcp:0.0.0.0:5060"]


def test_sip_listen_wins(tmp_path: Path) -> None:
    yaml = 'sip: {listen: ["udp:127.0.0.1:5999"]}\n'
    assert listen_of(tmp_path, "udpbindaddr=0.0.0.0:5080\n", yaml) == ["udp:127.0.0.1:5999"]


@pytest.mark.parametrize("general, message", [
    ("bindport=abc\n", "sip.conf:2:10: bindport must be a port from 1 to 65535"),
    ("tcpenable=maybe\n", "sip.conf:2:11: tcpenable must be yes or no"),
    ("udpbindaddr=1.2.3.4:99999\n", "sip.conf:2:13: udpbindaddr: port '99999'"),
    ("tlsenable=yes\n", "sip.conf:2:11: tlsenable=yes needs a certificate"),
])
def test_bad_bind_values_are_errors_at_file_line_col(tmp_path: Path, general: str,
                                                      message: str) -> None:
    with pytest.raises(ConfigError) as err:
        listen_of(tmp_path, general)
    text = "\n".join(str(d) for d in err.value.diagnostics)
    assert message in text.replace(str(tmp_path) + "/", ""), text
