"""Toll-fraud checks: open doors refused off loopback, Dial exposure warned."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError

SIP = """\
[general]
context=public
allowguest=no

[6001]
type=friend
host=dynamic
context=internal
secret=s3cret

[lobby]
type=friend
host=dynamic
context=internal

[trunk]
type=friend
host=192.0.2.1
context=from-trunk
"""

EXT = """\
[public]
[internal]
exten => _6XXX,1,Dial(SIP/${EXTEN},20)
[from-trunk]
exten => 100,1,Goto(outbound,s,1)
[outbound]
exten => s,1,Answer()
exten => _X.,1,Dial(SIP/${EXTEN}@trunk)
"""

VM = "[default]\n6001 => 6001,Alice,a@example.com\n7000 => 8513,Bob,b@example.com\n"


def make(tmp_path: Path, listen: str, extra: str = "", sip: str = SIP, ext: str = EXT) -> Path:
    (tmp_path / "pbx.yaml").write_text(f'sip: {{listen: ["{listen}"]}}\n{extra}')
    (tmp_path / "sip.conf").write_text(sip)
    (tmp_path / "extensions.conf").write_text(ext)
    (tmp_path / "voicemail.conf").write_text(VM)
    return tmp_path


def test_loopback_only_loads_with_warnings(tmp_path: Path) -> None:
    config = load_config(make(tmp_path, "udp:127.0.0.1:5060"))
    texts = [str(w) for w in config.warnings]
    assert any("[lobby] has no secret" in t for t in texts)
    (fraud,) = [t for t in texts if "toll fraud" in t]
    line = EXT.splitlines().index("exten => _X.,1,Dial(SIP/${EXTEN}@trunk)") + 1
    assert fraud.startswith(f"{tmp_path}/extensions.conf:{line}:16: warning: context "
                            "'outbound' is reachable without authentication (peer [trunk] is "
                            "identified by its address only, via context 'from-trunk')")


def test_public_listener_refuses_each_open_door_with_position(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as err:
        load_config(make(tmp_path, "udp:0.0.0.0:5060"))
    errors = [str(d) for d in err.value.errors]
    lobby_line = SIP.splitlines().index("[lobby]") + 1
    assert errors == [
        f"{tmp_path}/sip.conf:{lobby_line}:1: [lobby] has no secret while the PBX listens on "
        "udp:0.0.0.0:5060: anyone could register as it and call; give it a secret= or set "
        "security: {allow_insecure: true} in pbx.yaml",
        f"{tmp_path}/voicemail.conf:2:9: mailbox 6001@default has a well-known PIN while the "
        "PBX listens on udp:0.0.0.0:5060: anyone may listen to its messages; choose another "
        "PIN or set security: {allow_insecure: true} in pbx.yaml"]


def test_allow_insecure_and_pins_changed_from_the_phone(tmp_path: Path) -> None:
    make(tmp_path, "udp:192.0.2.10:5060", "security: {allow_insecure: true}\n")
    assert load_config(tmp_path).voicemail is not None
    make(tmp_path, "udp:192.0.2.10:5060", sip=SIP.replace("[lobby]\n", "[lobby]\nsecret=x\n"))
    (tmp_path / "var").mkdir()
    db = sqlite3.connect(tmp_path / "var" / "pbx.sqlite3")
    db.execute("CREATE TABLE vm_pins (context TEXT, mailbox TEXT, pin TEXT, changed REAL)")
    db.execute("INSERT INTO vm_pins VALUES ('default', '6001', '90210', 0)")
    db.commit()
    db.close()
    load_config(tmp_path)  # 6001 chose another PIN on the phone: no longer an open door
    db = sqlite3.connect(tmp_path / "var" / "pbx.sqlite3")
    db.execute("UPDATE vm_pins SET pin='0000'")
    db.commit()
    db.close()
    with pytest.raises(ConfigError, match=r"well-known PIN \(set from the phone menu\)"):
        load_config(tmp_path)


def test_guest_context_with_open_pattern_is_warned(tmp_path: Path) -> None:
    sip = SIP.replace("allowguest=no", "allowguest=yes").replace("[lobby]\n", "[lobby]\nsecret=x\n")
    ext = EXT.replace("[public]\n", "[public]\ninclude => internal\n").replace(
        "exten => _6XXX,1,Dial(SIP/${EXTEN},20)", "exten => _X!,1,Dial(SIP/${EXTEN},20)")
    config = load_config(make(tmp_path, "udp:127.0.0.1:5060", sip=sip, ext=ext))
    texts = [str(w) for w in config.warnings if "toll fraud" in str(w)]
    assert any("context 'internal' is reachable without authentication (guests are allowed "
               "(allowguest=yes), via context 'public') and can Dial any number through the "
               "pattern '_X!'" in t for t in texts)


def test_a_local_channel_is_followed_into_its_context_not_taken_for_a_trunk(
        tmp_path: Path) -> None:
    """Dial(Local/6001@ringgroup) is no trunk called 'ringgroup': the Local channel
    runs that context, so what it can Dial is what counts."""
    ext = EXT.replace("exten => _6XXX,1,Dial(SIP/${EXTEN},20)",
                      "exten => 7000,1,Dial(Local/6001@ringgroup&Local/100@outbound/n)\n"
                      "[ringgroup]\nexten => _X.,1,Dial(SIP/${EXTEN}@trunk)")
    config = load_config(make(tmp_path, "udp:127.0.0.1:5060", ext=ext))
    texts = [w.message for w in config.warnings if "toll fraud" in w.message]
    assert not any("trunk 'ringgroup'" in t or "trunk 'outbound'" in t for t in texts), texts
    assert any(t.startswith("context 'ringgroup' is reachable without authentication (peer "
                            "[lobby] has no secret, via context 'internal') and can Dial "
                            "trunk 'trunk'") for t in texts), texts
    assert any(t.startswith("context 'outbound' is reachable") for t in texts), texts
