"""Asterisk's ACL semantics: last match wins, no match allows, lists combine."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.diagnostics import Diagnostic
from pbx.security.acl import Acl, AclError, allowed_by_all, parse_network
from pbx.security.aclconf import load_acl_conf


def test_last_matching_rule_decides_and_no_match_allows() -> None:
    acl = Acl.from_lines([("deny", "0.0.0.0/0.0.0.0"), ("permit", "192.168.1.0/255.255.255.0"),
                          ("deny", "192.168.1.66")])
    assert acl.allows("192.168.1.10")
    assert not acl.allows("192.168.1.66")
    assert not acl.allows("10.0.0.1")
    assert Acl().allows("10.0.0.1")  # no rule: allowed (Asterisk starts optimistic)
    assert Acl.from_lines([("permit", "10.0.0.0/8")]).allows("192.0.2.1")  # no match


def test_cidr_masks_comma_lists_and_negation() -> None:
    acl = Acl.from_lines([("deny", "0.0.0.0/0"), ("permit", "10.0.0.0/8, 172.16.0.0/12"),
                          ("permit", "!10.9.9.9")])
    assert acl.allows("10.1.2.3") and acl.allows("172.20.0.1")
    assert not acl.allows("10.9.9.9")  # `permit=!x` denies x
    assert parse_network("192.168.1.5/24").with_prefixlen == "192.168.1.0/24"  # host bits ok


def test_ipv6_rules_and_mapped_ipv4() -> None:
    acl = Acl.from_lines([("deny", "::/0"), ("permit", "2001:db8::/32"),
                          ("deny", "0.0.0.0/0"), ("permit", "192.0.2.0/24")])
    assert acl.allows("2001:db8::1")
    assert not acl.allows("2001:db9::1")
    assert acl.allows("::ffff:192.0.2.7")  # an IPv4 client on a dual-stack socket
    assert not acl.allows("::ffff:198.51.100.1")


def test_explicit_permit_is_not_the_default_allow() -> None:
    acl = Acl.from_lines([("permit", "10.0.0.0/8")])
    assert acl.permits_explicitly("10.1.1.1")
    assert not acl.permits_explicitly("192.0.2.1")  # allowed only by default: not trusted
    assert acl.verdict("not-an-ip") is None


def test_several_lists_must_all_allow() -> None:
    office = Acl.from_lines([("deny", "0.0.0.0/0"), ("permit", "10.0.0.0/8")])
    no_lab = Acl.from_lines([("deny", "10.66.0.0/16")])
    assert allowed_by_all((office, no_lab), "10.1.1.1")
    assert not allowed_by_all((office, no_lab), "10.66.1.1")
    assert not allowed_by_all((office, no_lab), "192.0.2.1")


@pytest.mark.parametrize("bad", ["10.0.0.300", "10.0.0.0/33", "hello", "", "10.0.0.0/255.0.255.0"])
def test_bad_networks_say_why(bad: str) -> None:
    with pytest.raises(AclError):
        Acl.parse_rules("permit", bad)


def test_acl_conf_named_lists_with_templates_and_errors(tmp_path: Path) -> None:
    path = tmp_path / "acl.conf"
    path.write_text("[base](!)\ndeny=0.0.0.0/0.0.0.0\n\n"
                    "[office](base)\npermit=192.168.1.0/24\n\n"
                    "[broken]\npermit=300.1.1.1\ncolour=blue\n")
    diags: list[Diagnostic] = []
    acls = load_acl_conf(path, diags)
    assert set(acls) == {"office", "broken"}
    assert acls["office"].allows("192.168.1.9") and not acls["office"].allows("8.8.8.8")
    errors = [str(d) for d in diags if d.severity == "error"]
    assert errors == [f"{path}:8:8: permit: '300.1.1.1' is not an address or network "
                      "(e.g. 192.168.1.0/24, 192.168.1.0/255.255.255.0, 2001:db8::/32)"]
    assert any("unknown option 'colour'" in str(d) and d.severity == "warning" for d in diags)
    assert load_acl_conf(tmp_path / "missing.conf", diags) == {}
