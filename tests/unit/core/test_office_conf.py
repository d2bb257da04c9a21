"""The office-feature keys of sip.conf, pjsip.conf and features.conf: values, the
[general] defaults, and errors with file:line:col."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError

PEER = "[p]\ntype=friend\nhost=dynamic\nsecret=s\ncontext=internal\n"
EXT = "[internal]\nexten => 1,1,NoOp()\n[messages]\n[blf]\n"


def write(tmp: Path, sip: str = "", pjsip: str = "", features: str = "") -> Path:
    if sip:
        (tmp / "sip.conf").write_text(sip)
    if pjsip:
        (tmp / "pjsip.conf").write_text(pjsip)
    if features:
        (tmp / "features.conf").write_text(features)
    (tmp / "extensions.conf").write_text(EXT)
    return tmp


def test_sip_conf_keys_and_general_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, sip="""\
[general]
outofcall_message_context=messages
subscribecontext=blf
allowsubscribe=no

[a]
type=friend
host=dynamic
secret=x
context=internal
callgroup=1,3-5
pickupgroup=2
namedcallgroup=sales, support
namedpickupgroup=sales
busylevel=2
callcounter=yes

[b]
type=friend
host=dynamic
secret=y
context=internal
allowsubscribe=yes
subscribecontext=internal
outofcall_message_context=internal
call-limit=3
"""))
    a, b = config.sip.peers["a"], config.sip.peers["b"]
    assert (a.call_group, a.pickup_group) == ("1,3-5", "2")
    assert (a.named_call_group, a.named_pickup_group) == ("sales, support", "sales")
    assert (a.message_context, a.subscribe_context, a.allow_subscribe) == \
        ("messages", "blf", False)
    assert a.busy_at == 2
    assert (b.message_context, b.subscribe_context, b.allow_subscribe) == \
        ("internal", "internal", True)
    assert b.busy_at == 3  # call-limit when there is no busylevel
    assert config.features.pickupexten == "*8"  # no features.conf: Asterisk's default


def test_pjsip_endpoint_keys(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, pjsip="""\
[e]
type=endpoint
context=internal
allow=ulaw
call_group=1
pickup_group=1-2
named_call_group=sales
named_pickup_group=sales,ops
message_context=messages
subscribe_context=blf
allow_subscribe=no
device_state_busy_at=1
"""))
    e = config.sip.peers["e"]
    assert (e.call_group, e.pickup_group, e.named_call_group, e.named_pickup_group) == \
        ("1", "1-2", "sales", "sales,ops")
    assert (e.message_context, e.subscribe_context, e.allow_subscribe, e.busy_at) == \
        ("messages", "blf", False, 1)
    assert not [w for w in config.warnings if "not use" in w.message]


@pytest.mark.parametrize("conf,key,where", [
    ("sip", "busylevel=lots", "sip.conf:6:11"),
    ("sip", "allowsubscribe=maybe", "sip.conf:6:16"),
    ("sip", "namedcallgroup=sales;", None),  # ';' starts a comment: fine
    ("sip", "namedpickupgroup=a b", "sip.conf:6:18"),
    ("pjsip", "device_state_busy_at=-1", "pjsip.conf:4:22"),
    ("features", "pickupexten = *8 x", "features.conf:2:15"),
])
def test_bad_values_are_errors_with_their_position(tmp_path: Path, conf: str, key: str,
                                                   where: str | None) -> None:
    if conf == "sip":
        write(tmp_path, sip=f"[p]\ntype=friend\nhost=dynamic\nsecret=s\ncontext=internal\n{key}\n")
    elif conf == "pjsip":
        write(tmp_path, pjsip=f"[e]\ntype=endpoint\nallow=ulaw\n{key}\n")
    else:
        write(tmp_path, sip="[p]\ntype=friend\nhost=dynamic\nsecret=s\ncontext=internal\n",
              features=f"[general]\n{key}\n")
    if where is None:
        load_config(tmp_path)
        return
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert where in str(err.value), str(err.value)


def test_features_conf(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, sip=PEER, features="""\
[general]
pickupexten = **
pickupsound = beep
featuredigittimeout = 1000
bogus = 1
[featuremap]
blindxfer => #1
[mygroup]
testfeature => #9
"""))
    f = config.features
    assert (f.pickupexten, f.pickupsound, f.pickupfailsound) == ("**", "beep", "")
    warnings = sorted((w.line, w.message) for w in config.warnings if "features.conf" in w.file)
    assert [line for line, _ in warnings] == [5, 8]
    assert "unknown option 'bogus'" in warnings[0][1]
    # Feature groups are Asterisk's, but this PBX does not use them: it says so.
    assert "[mygroup] is not used" in warnings[1][1]
    assert f.featuremap["blindxfer"] == "#1" and f.featuredigittimeout == 1.0
