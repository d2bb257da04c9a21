"""pbx.yaml `security:`, sip.conf permit/deny/acl and acl.conf, with positions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_config, load_settings
from pbx.diagnostics import ConfigError, Diagnostic


def write_dir(tmp_path: Path, yaml_text: str, sip: str = "[general]\n",
              acl: str | None = None) -> Path:
    (tmp_path / "pbx.yaml").write_text(yaml_text)
    (tmp_path / "sip.conf").write_text(sip)
    (tmp_path / "extensions.conf").write_text("[default]\n[internal]\n")
    if acl is not None:
        (tmp_path / "acl.conf").write_text(acl)
    return tmp_path


def test_security_section_values_and_defaults(tmp_path: Path) -> None:
    diags: list[Diagnostic] = []
    write_dir(tmp_path, "security:\n  ban: {time: 30, auth_failures: 5}\n"
                        "  limits: {tcp_per_source: 8}\n  log_file: var/security.log\n")
    s = load_settings(tmp_path, diags).security
    assert diags == []
    assert (s.ban.time, s.ban.auth_failures, s.ban.rate) == (30.0, 5, 50.0)
    assert (s.limits.tcp_per_source, s.limits.tcp_total) == (8, 2048)
    assert s.log_file == tmp_path / "var/security.log" and not s.allow_insecure


def test_security_errors_have_positions(tmp_path: Path) -> None:
    diags: list[Diagnostic] = []
    write_dir(tmp_path, "security:\n  ban:\n    time: soon\n    colour: red\n"
                        "  limits: {max_message_size: 100000, tcp_total: 0}\n"
                        "  allow_insecure: perhaps\n  trusted: [10.0.0.0/33]\n  foo: 1\n")
    load_settings(tmp_path, diags)
    got = sorted(str(d).split(str(tmp_path) + "/")[1] for d in diags)
    assert got == sorted([
        "pbx.yaml:3:11: security.ban.time must be a number, got 'soon'",
        "pbx.yaml:4:5: unknown key 'security.ban.colour' (known: auth_failures, auth_window, "
        "enabled, rate, rate_window, time)",
        "pbx.yaml:5:30: security.limits.max_message_size must be at most 65535",
        "pbx.yaml:5:49: security.limits.tcp_total must be greater than 0",
        "pbx.yaml:6:19: security.allow_insecure must be true or false",
        "pbx.yaml:7:13: security.trusted: '10.0.0.0/33' is not an address or network "
        "(e.g. 192.168.1.0/24, 192.168.1.0/255.255.255.0, 2001:db8::/32)",
        "pbx.yaml:8:3: unknown key 'security.foo' (known: allow_insecure, ban, limits, "
        "log_file, trusted)"])


def test_trusted_networks_and_named_acls(tmp_path: Path) -> None:
    write_dir(tmp_path, "security:\n  trusted: [10.0.0.0/8, office]\n",
              acl="[office]\ndeny=0.0.0.0/0\npermit=192.168.1.0/24\n")
    config = load_config(tmp_path)
    assert [a.name for a in config.trusted] == ["security.trusted", "office"]
    assert any(a.permits_explicitly("192.168.1.5") for a in config.trusted)
    assert not any(a.permits_explicitly("8.8.8.8") for a in config.trusted)
    write_dir(tmp_path, "security:\n  trusted: [branch]\n")
    with pytest.raises(ConfigError, match=r"pbx.yaml:2:13: security.trusted: 'branch' is "
                                          r"neither a network nor an ACL of acl.conf"):
        load_config(tmp_path)


def test_sip_conf_general_and_peer_acls(tmp_path: Path) -> None:
    sip = ("[general]\ndeny=0.0.0.0/0.0.0.0\npermit=192.168.0.0/16\n\n"
           "[6001]\ntype=friend\nhost=dynamic\nsecret=x\ncontext=internal\n"
           "deny=0.0.0.0/0\npermit=192.168.1.0/255.255.255.0\nacl=lab\n\n"
           "[6002]\ntype=friend\nhost=dynamic\nsecret=y\ncontext=internal\nacl=nowhere\n")
    write_dir(tmp_path, "", sip, acl="[lab]\ndeny=192.168.1.66\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert [str(d).split("/")[-1] for d in err.value.errors] == [
        "sip.conf:19:5: acl 'nowhere' is not defined in acl.conf (known: lab)"]
    write_dir(tmp_path, "", sip.replace("acl=nowhere\n", ""), acl="[lab]\ndeny=192.168.1.66\n")
    config = load_config(tmp_path)
    general = config.sip.general.acls
    assert general[0].allows("192.168.5.5") and not general[0].allows("10.0.0.1")
    peer = config.sip.peers["6001"].acls
    from pbx.security.acl import allowed_by_all

    assert allowed_by_all(peer, "192.168.1.10")
    assert not allowed_by_all(peer, "192.168.1.66") and not allowed_by_all(peer, "192.168.2.1")
    assert config.sip.peers["6002"].acls == ()


def test_http_listen_is_checked(tmp_path: Path) -> None:
    diags: list[Diagnostic] = []
    write_dir(tmp_path, "http: {listen: 'localhost:http'}\n")
    load_settings(tmp_path, diags)
    assert [str(d).split("/")[-1] for d in diags] == [
        "pbx.yaml:1:16: http.listen: 'localhost:http' is not host:port (e.g. 127.0.0.1:8088)"]
