"""sip.conf md5secret: a peer known by MD5(name:realm:secret) is challenged and
registers with its password (Asterisk's chan_sip keeps such hashes)."""

from __future__ import annotations

import hashlib
from pathlib import Path

from pbx.config import load_config
from pbx.location import Location
from pbx.peer_auth import peer_authenticator
from pbx.registrar import Registrar
from pbx.security.exposure import insecure_problems
from tests.unit.core.test_pjsip_conf import SOURCE, register_request, with_auth


def office(tmp_path: Path, listen: str = "udp:127.0.0.1:5060") -> Path:
    ha1 = hashlib.md5(b"6005:office.example:tulip-7Qz").hexdigest()
    (tmp_path / "pbx.yaml").write_text(f'sip: {{listen: ["{listen}"]}}\n')
    (tmp_path / "sip.conf").write_text(
        "[general]\nrealm=office.example\n\n"
        f"[6005]\ntype=friend\nhost=dynamic\nmd5secret={ha1}\ncontext=internal\n")
    (tmp_path / "extensions.conf").write_text("[internal]\nexten => 600,1,Echo()\n")
    return tmp_path


def test_an_md5secret_peer_is_challenged_and_registers_with_its_password(
        tmp_path: Path) -> None:
    config = load_config(office(tmp_path))
    assert not [w for w in config.warnings if "6005" in w.message], config.warnings
    location = Location()
    registrar = Registrar(config, location, peer_authenticator(config, lambda: config))
    contact = "<sip:6005@10.0.0.5:5060>"
    first = registrar.handle(register_request("6005", contact), SOURCE, 0.0, 1000.0)
    assert first.status == 401  # not bound unchallenged, as a peer without secret would be
    assert location.lookup("6005", 1000.0) == []
    wrong = registrar.handle(with_auth(register_request("6005", contact), first, "6005",
                                       "tulip"), SOURCE, 0.0, 1000.0)
    assert wrong.status == 403
    ok = registrar.handle(with_auth(register_request("6005", contact), first, "6005",
                                    "tulip-7Qz"), SOURCE, 0.0, 1000.0)
    assert ok.status == 200
    assert [b.contact for b in location.lookup("6005", 1000.0)] == ["sip:6005@10.0.0.5:5060"]


def test_an_md5secret_peer_is_no_open_door_on_a_public_address(tmp_path: Path) -> None:
    config = load_config(office(tmp_path, "udp:0.0.0.0:5060"))
    assert not [p for p in insecure_problems(config) if "6005" in p.message]
