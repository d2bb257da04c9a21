"""DTMF features (features.conf) and parking (res_parking.conf) through the real
B2BUA on the fake SIP core: digits arrive as SIP INFO from the phones."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from dialplan.services import DialplanServices
from pbx.calls import CallManager
from pbx.config import load_config
from pbx.devstate import DeviceState, DeviceStates, ExtensionState
from pbx.features import FeatureMatcher, dial_features
from pbx.location import Location
from pbx.media.wav import write_wav
from pbx.sip.auth import DigestAuthenticator
from tests.unit.core.test_b2bua import SDP, FakeCore, reply, until
from tests.unit.core.test_transfer_b2bua import (
    PHONES,
    SIP_CONF,
    A,
    B,
    C,
    Call,
    D,
    Pbx,
    _from_callee,
    answer_notifies,
    bye_from,
    phone_request,
    place,
    refer,
)

DIALPLAN = """\
[internal]
include => parkedcalls
exten => _600X,1,Dial(SIP/${EXTEN},20,tTH)
 same => n,Hangup()
exten => 7004,1,Dial(SIP/6004,20,KX)

[parkedcallstimeout]
exten => s,1,Set(CAME_BACK=${PARKING_SPACE})
 same => n,Dial(SIP/6004,20)
"""

FEATURES = """\
[general]
featuredigittimeout = 500
transferdigittimeout = 0.4
transferdialattempts = 2
atxfernoanswertimeout = 3

[featuremap]
blindxfer => #1
atxfer => *2
disconnect => *0
parkcall => #72
automixmon => *3
"""

PARKING = """\
[default]
parkext => 700
parkpos => 701-703
context => parkedcalls
parkingtime => {parkingtime}
comebacktoorigin = {comeback}
comebackdialtime = 5
parkinghints = yes
{musicclass}
"""

# Two classes of musiconhold.conf beside the built-in default (the repository's music).
MUSIC = """\
[general]
preferchannelclass = {prefer}

[parked]
mode = files
directory = parked-music

[office]
mode = files
directory = office-music
"""


def make_pbx(tmp_path: Path, *, parkingtime: float = 30, comeback: str = "yes",
             musicclass: str = "", prefer: str = "yes") -> Any:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(DIALPLAN)
    (tmp_path / "features.conf").write_text(FEATURES)
    (tmp_path / "res_parking.conf").write_text(
        PARKING.format(parkingtime=parkingtime, comeback=comeback,
                       musicclass=f"parkedmusicclass = {musicclass}" if musicclass else ""))
    for folder, freq in (("parked-music", 500.0), ("office-music", 900.0)):
        (tmp_path / folder).mkdir(exist_ok=True)
        t = np.arange(8000) / 8000.0
        write_wav(tmp_path / folder / "song.wav",
                  (6000 * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes())
    (tmp_path / "musiconhold.conf").write_text(MUSIC.format(prefer=prefer))
    (tmp_path / "pbx.yaml").write_text("rtp: {ports: [44000, 44999]}\nsip: {session_expires: 0}\n")
    return load_config(tmp_path)


async def start(config: Any) -> Pbx:
    core = FakeCore()
    location = Location()
    auth = DigestAuthenticator("pbx", b"k" * 32, lambda user: None)
    calls = CallManager(core=core, config=config, location=location, auth=auth,
                        store=None, dialplan_services=DialplanServices())  # type: ignore[arg-type]
    await calls.start()
    p = Pbx(core, calls, location)
    for user in PHONES:
        p.register(user)
    return p


@pytest.fixture
async def pbx(tmp_path: Path) -> Any:
    p = await start(make_pbx(tmp_path))
    yield p
    await p.calls.stop()


def press(pbx: Pbx, call: Call, digits: str) -> None:
    """The phone that made ``call`` sends DTMF by SIP INFO."""
    for d in digits:
        info = phone_request(call, "INFO", body=f"Signal={d}\r\nDuration=160\r\n".encode(),
                             ctype="application/dtmf-relay")
        pbx.calls.on_in_dialog(info, f"tx-info-{call.cseq}", call.source)


# ------------------------------------------------------------------------ matcher


def test_feature_matcher_holds_prefixes_and_passes_non_codes() -> None:
    m = FeatureMatcher({"#1": "blindxfer", "*2": "atxfer", "*": "disconnect"}, 1.0)
    assert m.feed("#", 0.0) == (None, "") and m.deadline == 1.0
    assert m.feed("1", 0.5) == ("blindxfer", "")
    assert m.feed("5", 1.0) == (None, "5")  # not a code: on to the other party at once
    assert m.feed("#", 2.0) == (None, "")
    assert m.feed("7", 2.1) == (None, "#7")  # held, then released with the digit that broke it
    # "*" is a code and the start of "*2": it fires only when featuredigittimeout passes.
    assert m.feed("*", 3.0) == (None, "")
    assert m.expire(3.5) == (None, "")
    assert m.expire(4.0) == ("disconnect", "")
    assert m.feed("*", 5.0) == (None, "") and m.feed("2", 5.2) == ("atxfer", "")
    assert m.feed("#", 6.0) == (None, "") and m.expire(7.0) == (None, "#")


def test_dial_options_give_each_side_its_features() -> None:
    caller, callee = dial_features("tTkx(ignored)H")
    assert caller == {"blindxfer", "atxfer", "disconnect"}
    assert callee == {"blindxfer", "atxfer", "parkcall", "automixmon"}
    assert dial_features("r") == (frozenset(), frozenset())


# ------------------------------------------------------------------------ blindxfer


async def test_blind_transfer_by_dtmf_sends_the_callee_to_the_target(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    press(pbx, call, "#1")
    await until(lambda: a_leg.bridge.suspended_for is a_leg)
    assert a_leg.relay is None or not a_leg.relay.active  # B waits on hold
    press(pbx, call, "6003")
    to_c = await until(lambda: core.sent("INVITE", C))
    assert to_c[0].request.from_addr.uri.user == "6002"
    assert b_leg.variables["BLINDTRANSFER"] == a_leg.name
    await until(lambda: core.sent("BYE", A))  # the transferer's call ends
    to_c[0].callback(reply(to_c[0], 200, tag="c-tag", body=SDP))
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg).peer.name == "6003")


async def test_blind_transfer_to_a_wrong_number_returns_to_the_call(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    bridge = a_leg.bridge
    press(pbx, call, "#1")
    await until(lambda: bridge.suspended_for is a_leg)
    press(pbx, call, "4")  # no extension starts with 4: pbx-invalid, then a last try
    await asyncio.sleep(0.1)
    press(pbx, call, "5")
    await until(lambda: bridge.suspended_for is None, timeout=8.0)
    assert a_leg.relay is not None and a_leg.relay.active and not bridge.ended
    assert core.sent("INVITE", C) == [] and core.sent("BYE", A) == []


async def test_disconnect_key_ends_the_call_for_both(pbx: Pbx) -> None:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    press(pbx, call, "*0")
    await until(lambda: core.sent("BYE", A) and core.sent("BYE", B))


async def test_callee_cannot_disconnect_without_h(pbx: Pbx) -> None:
    """Dial(...,tTH): the callee has blindxfer/atxfer but not disconnect."""
    core = pbx.core
    await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    for i, d in enumerate("*0"):
        info = _from_callee(b_leg, "INFO", "Content-Type: application/dtmf-relay\r\n",
                            cseq=80 + i, body=f"Signal={d}\r\nDuration=160\r\n".encode())
        pbx.calls.on_in_dialog(info, f"tx-bi-{d}", B)
    await asyncio.sleep(0.8)  # past featuredigittimeout
    assert core.sent("BYE", A) == [] and a_leg.relay.active


# ------------------------------------------------------------------------- atxfer


async def _consult(pbx: Pbx) -> tuple[Call, Any, Any, Any]:
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    press(pbx, call, "*2")
    await until(lambda: a_leg.bridge.suspended_for is a_leg)
    press(pbx, call, "6003")
    to_c = await until(lambda: core.sent("INVITE", C))
    return call, a_leg, b_leg, to_c[0]


async def test_attended_transfer_by_dtmf_complete(pbx: Pbx) -> None:
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    # The consultation calls as the transferer (Alice).
    assert to_c.request.from_addr.uri.user == "6001"
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    c_leg = await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg)
                        and a_leg.bridge.other(a_leg) is not b_leg and a_leg.bridge.other(a_leg))
    assert c_leg.peer.name == "6003" and a_leg.relay.active
    press(pbx, call, "*2")  # atxfercomplete
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is c_leg)
    assert b_leg.relay.active
    await until(lambda: core.sent("BYE", A))
    assert b_leg.variables["ATTENDEDTRANSFER"] == a_leg.name
    assert core.sent("BYE", B) == [] and core.sent("BYE", C) == []


async def test_attended_transfer_abort_returns_to_the_transferee(pbx: Pbx) -> None:
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg) is not b_leg)
    press(pbx, call, "*1")  # atxferabort
    await until(lambda: core.sent("BYE", C))
    await until(lambda: a_leg.bridge is not None and a_leg.bridge.other(a_leg) is b_leg
                and a_leg.relay is not None and a_leg.relay.active)
    assert core.sent("BYE", A) == [] and core.sent("BYE", B) == []


async def test_transferer_hanging_up_during_consultation_completes(pbx: Pbx) -> None:
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    c_leg = await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg) is not b_leg
                        and a_leg.bridge.other(a_leg))
    bye_from(pbx, call)
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is c_leg)
    assert core.sent("BYE", B) == [] and core.sent("BYE", C) == []


async def test_target_hanging_up_returns_to_the_transferee(pbx: Pbx) -> None:
    core = pbx.core
    _call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    c_leg = await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg) is not b_leg
                        and a_leg.bridge.other(a_leg))
    pbx.calls.on_in_dialog(_from_callee(c_leg, "BYE"), "tx-c-bye", C)
    await until(lambda: a_leg.bridge is not None and a_leg.bridge.other(a_leg) is b_leg
                and a_leg.relay is not None and a_leg.relay.active, timeout=5.0)
    assert core.sent("BYE", A) == [] and core.sent("BYE", B) == []


async def test_complete_while_the_target_rings_hands_the_ringing_call_over(pbx: Pbx) -> None:
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 180, tag="c-tag"))
    await until(lambda: a_leg.player.playing)  # the transferer hears ringback
    press(pbx, call, "*2")
    await until(lambda: core.sent("BYE", A))
    await until(lambda: b_leg.player.playing)  # now the transferee does
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg).peer.name == "6003")


async def test_consultation_not_answered_returns_after_atxfernoanswertimeout(pbx: Pbx) -> None:
    core = pbx.core
    _call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 180, tag="c-tag"))
    await until(lambda: core.sent("CANCEL", C), timeout=6.0)
    await until(lambda: a_leg.bridge is not None and a_leg.bridge.other(a_leg) is b_leg
                and a_leg.relay is not None and a_leg.relay.active, timeout=5.0)


# ------------------------------------------------------------------------- parking


async def test_refer_to_700_parks_the_call_and_dialing_the_space_retrieves_it(
        pbx: Pbx) -> None:
    core = pbx.core
    registry = DeviceStates()
    pbx.calls.parking.install(registry)
    states: list[tuple[str, str]] = []
    registry.listen(lambda device: states.append((device, registry.state(device).name)))
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    pbx.calls.on_in_dialog(refer(call, "<sip:700@127.0.0.1>"), "tx-refer", A)
    lot = pbx.calls.parking.lot("default")
    await until(lambda: 701 in lot.calls)
    assert lot.calls[701].leg is b_leg and lot.calls[701].parker == a_leg.name
    assert b_leg.variables["PARKINGSLOT"] == "701"
    # The transferer hears "seven zero one", then the final NOTIFY says 200.
    assert a_leg.player.playing
    await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
    assert registry.state("park:701@parkedcalls") is DeviceState.INUSE
    assert registry.state("park:702@parkedcalls") is DeviceState.NOT_INUSE
    assert registry.state("park:799@parkedcalls") is DeviceState.INVALID  # no such space
    assert states == [("park:701@parkedcalls", "INUSE")]
    # The lot's hints are in the dialplan, for BLF keys.
    ctx = pbx.calls.config.dialplan.contexts["parkedcalls"]
    assert ctx.extensions[("701", None)].hint == "park:701@parkedcalls"
    # Phone D dials 701: it gets Bob.
    take = Call("d1", "d1-t", "6004", "701", D, "tx-d1")
    pbx.calls.on_invite(phone_request(take, "INVITE", body=SDP), take.tx, D)
    await until(lambda: [r for r in core.answers(take.tx) if r.status == 200])
    d_leg = pbx.leg("d1")
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is d_leg)
    assert 701 not in lot.calls and states[-1] == ("park:701@parkedcalls", "NOT_INUSE")


@pytest.mark.parametrize(("musicclass", "channel_class", "prefer", "heard"), [
    ("", "", "yes", "default"),  # no class anywhere: musiconhold.conf's default
    ("parked", "", "yes", "parked"),  # the lot's parkedmusicclass
    ("parked", "office", "yes", "office"),  # CHANNEL(musicclass) first (Asterisk's rule)
    ("parked", "office", "no", "parked"),  # preferchannelclass=no: the lot's first
    ("", "office", "yes", "office"),  # the channel's class when the lot has none
])
async def test_a_parked_call_hears_music_on_hold(tmp_path: Path, musicclass: str,
                                                 channel_class: str, prefer: str,
                                                 heard: str) -> None:
    """A parked call hears a class of musiconhold.conf until it is taken back: the
    lot's parkedmusicclass, else the channel's class, else default; a class set on
    the channel (CHANNEL(musicclass)) wins while preferchannelclass=yes, as the
    res_parking.conf sample says."""
    pbx = await start(make_pbx(tmp_path, musicclass=musicclass, prefer=prefer))
    try:
        call, _ = await place(pbx, "6001", "6002", "a1")
        a_leg = pbx.leg("a1")
        b_leg = a_leg.bridge.other(a_leg)
        b_leg.musicclass = channel_class
        assert b_leg.features.moh_class is None
        pbx.calls.on_in_dialog(refer(call, "<sip:700@127.0.0.1>"), "tx-refer", A)
        lot = pbx.calls.parking.lot("default")
        # (after Alice has heard the space: "seven zero one")
        await until(lambda: 701 in lot.calls and b_leg.features.moh_class is not None,
                    timeout=10.0)
        assert b_leg.features.moh_class == heard
        assert b_leg.media.generating  # the music plays to Bob's session
        take = Call("d1", "d1-t", "6004", "701", D, "tx-d1")
        pbx.calls.on_invite(phone_request(take, "INVITE", body=SDP), take.tx, D)
        await until(lambda: [r for r in pbx.core.answers(take.tx) if r.status == 200])
        d_leg = pbx.leg("d1")
        await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is d_leg)
        assert b_leg.features.moh_class is None and not b_leg.media.generating
    finally:
        await pbx.calls.stop()


async def test_the_transferee_hears_music_while_the_transferer_dials(pbx: Pbx) -> None:
    """#1 (blindxfer): Bob waits with music on hold while Alice hears the prompt and
    dials; a wrong number takes them back to talking, and the music stops."""
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    bridge = a_leg.bridge
    press(pbx, call, "#1")
    await until(lambda: bridge.suspended_for is a_leg)
    assert b_leg.features.moh_class == "default" and a_leg.features.moh_class is None
    press(pbx, call, "4")  # no extension starts with 4: pbx-invalid, then a last try
    await asyncio.sleep(0.1)
    press(pbx, call, "5")
    await until(lambda: bridge.suspended_for is None, timeout=8.0)
    assert b_leg.features.moh_class is None and a_leg.relay.active


async def test_a_busy_lamp_on_a_parking_space_follows_park_and_retrieval(pbx: Pbx) -> None:
    """The lot's hint 701 (park:701@parkedcalls) through the PBX's device-state
    registry: a BLF subscription to 701 gets a NOTIFY when Bob is parked there
    (confirmed) and when Dave takes him back (terminated)."""
    import xml.etree.ElementTree as ET

    from pbx.hints import HintStates
    from pbx.presence import PresencePackage
    from pbx.subscriptions import SubscriptionServer
    from tests.unit.core.test_presence_sub import NS, subscribe

    core = pbx.core
    registry = DeviceStates()
    pbx.calls.parking.install(registry)
    hints = HintStates(registry, lambda: pbx.calls.config.dialplan)
    server = SubscriptionServer(core, lambda: pbx.calls.config,  # type: ignore[arg-type]
                                lambda: pbx.calls.auth)
    server.add_package("dialog", PresencePackage(hints))
    assert hints.state("internal", "701") is ExtensionState.NOT_INUSE

    def states() -> list[str]:
        out = []
        for sent in core.sent("NOTIFY"):
            if b"dialog-info" not in sent.request.body:
                continue
            root = ET.fromstring(sent.request.body)
            dialog = root.find("d:dialog", NS)
            out.append(dialog.find("d:state", NS).text if dialog is not None else "idle")
        return out

    def answer_notifies() -> None:
        for sent in core.sent("NOTIFY"):
            if not getattr(sent, "answered", False):
                sent.answered = True
                sent.callback(reply(sent, 200))

    req = subscribe("6004", "701")  # a peer without a secret: no digest asked
    server.on_subscribe(req, "tx-sub", D)  # type: ignore[arg-type]
    final = core.answers("tx-sub")[-1]
    assert final.status in (200, 202), final
    await until(lambda: len(states()) == 1)
    assert states()[0] in ("idle", "terminated")  # the space is free
    answer_notifies()
    call, _ = await place(pbx, "6001", "6002", "a1")
    pbx.calls.on_in_dialog(refer(call, "<sip:700@127.0.0.1>"), "tx-refer", A)
    await until(lambda: states()[-1:] == ["confirmed"])
    answer_notifies()
    assert hints.state("internal", "701") is ExtensionState.INUSE
    take = Call("d1", "d1-t", "6004", "701", D, "tx-d1")
    pbx.calls.on_invite(phone_request(take, "INVITE", body=SDP), take.tx, D)
    await until(lambda: len(states()) >= 3 and states()[-1] in ("terminated", "idle"))
    assert hints.state("internal", "701") is ExtensionState.NOT_INUSE


async def test_dialing_an_empty_space_plays_invalidpark(pbx: Pbx) -> None:
    core = pbx.core
    take = Call("d1", "d1-t", "6004", "702", D, "tx-d1")
    pbx.calls.on_invite(phone_request(take, "INVITE", body=SDP), take.tx, D)
    ok = await until(lambda: [r for r in core.answers(take.tx) if r.status == 200])
    take.pbx_tag = ok[0].to_addr.tag or ""
    d_leg = pbx.leg("d1")
    assert d_leg.lastapp == "ParkedCall"
    pbx.calls.on_ack(phone_request(take, "ACK"), None, D)
    await until(lambda: core.sent("BYE", D), timeout=6.0)


async def test_parking_timeout_rings_the_parker_back(tmp_path: Path) -> None:
    pbx = await start(make_pbx(tmp_path, parkingtime=0.5))
    try:
        core = pbx.core
        call, _ = await place(pbx, "6001", "6002", "a1")
        a_leg = pbx.leg("a1")
        b_leg = a_leg.bridge.other(a_leg)
        press(pbx, call, "#1")
        await until(lambda: a_leg.bridge.suspended_for is a_leg)
        started = time.monotonic()
        press(pbx, call, "700")
        await until(lambda: core.sent("BYE", A), timeout=8.0)  # after hearing the space
        # parkingtime passes: the PBX calls Alice again, from Bob.
        back = await until(lambda: core.sent("INVITE", A), timeout=8.0)
        assert time.monotonic() - started >= 0.5
        assert back[-1].request.from_addr.uri.user == "6002"
        assert b_leg.variables["PARKING_SPACE"] == "701"
        assert b_leg.variables["PARKER"] == "SIP/6001"
    finally:
        await pbx.calls.stop()


async def test_parking_timeout_without_comeback_goes_to_parkedcallstimeout(
        tmp_path: Path) -> None:
    pbx = await start(make_pbx(tmp_path, parkingtime=0.3, comeback="no"))
    try:
        core = pbx.core
        call, _ = await place(pbx, "6001", "6002", "a1")
        a_leg = pbx.leg("a1")
        b_leg = a_leg.bridge.other(a_leg)
        pbx.calls.on_in_dialog(refer(call, "<sip:700@127.0.0.1>"), "tx-refer", A)
        await answer_notifies(pbx, A, [b"SIP/2.0 100 Trying\r\n", b"SIP/2.0 200 OK\r\n"])
        to_d = await until(lambda: core.sent("INVITE", D), timeout=6.0)
        assert b_leg.variables["CAME_BACK"] == "701"
        assert to_d[0].request.from_addr.uri.user == "6002"
    finally:
        await pbx.calls.stop()


async def test_invite_with_replaces_takes_a_parked_call(pbx: Pbx) -> None:
    """A busy lamp key's pickup of a parked call: INVITE with Replaces naming it."""
    core = pbx.core
    call, _ = await place(pbx, "6001", "6002", "a1")
    a_leg = pbx.leg("a1")
    b_leg = a_leg.bridge.other(a_leg)
    pbx.calls.on_in_dialog(refer(call, "<sip:700@127.0.0.1>"), "tx-refer", A)
    lot = pbx.calls.parking.lot("default")
    await until(lambda: 701 in lot.calls)
    take = Call("d1", "d1-t", "6004", "6002", D, "tx-d1")
    pbx.calls.on_invite(phone_request(take, "INVITE", body=SDP, headers=(
        f"Replaces: {b_leg.call_id};to-tag={b_leg.local_tag};from-tag=6002-tag\r\n")),
        take.tx, D)
    await until(lambda: [r for r in core.answers(take.tx) if r.status == 200])
    d_leg = pbx.leg("d1")
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is d_leg)
    assert 701 not in lot.calls and d_leg.transfer["type"] == "replaces"
    assert core.sent("BYE", B) == []  # Bob's call goes on, with Dave


async def test_dialing_700_parks_the_caller_itself(pbx: Pbx) -> None:
    core = pbx.core
    lot = pbx.calls.parking.lot("default")
    me = Call("p1", "p1-t", "6001", "700", A, "tx-p1")
    pbx.calls.on_invite(phone_request(me, "INVITE", body=SDP), me.tx, A)
    ok = await until(lambda: [r for r in core.answers(me.tx) if r.status == 200])
    me.pbx_tag = ok[0].to_addr.tag or ""
    pbx.calls.on_ack(phone_request(me, "ACK"), None, A)
    await until(lambda: 701 in lot.calls)
    leg = pbx.leg("p1")
    assert lot.calls[701].parker == leg.name and leg.player.playing  # hears its space


async def test_parkcall_key_parks_the_other_party(pbx: Pbx) -> None:
    """Dial(...,K): the caller presses #72; the callee is parked, the caller's call ends."""
    core = pbx.core
    call, _ = await place(pbx, "6001", "7004", "a1", rings="6004")
    lot = pbx.calls.parking.lot("default")
    a_leg = pbx.leg("a1")
    d_leg = a_leg.bridge.other(a_leg)
    press(pbx, call, "#72")
    await until(lambda: 701 in lot.calls)
    assert lot.calls[701].leg is d_leg and lot.calls[701].parker == a_leg.name
    await until(lambda: core.sent("BYE", A), timeout=8.0)


async def test_automixmon_key_starts_and_stops_mixmonitor(pbx: Pbx, tmp_path: Path) -> None:
    """Dial(...,X): *3 records the call with MixMonitor (TOUCH_MIXMONITOR names the
    file); *3 again stops it. The call goes on throughout."""
    core = pbx.core
    call, _ = await place(pbx, "6001", "7004", "a1", rings="6004")
    a_leg = pbx.leg("a1")
    a_leg.variables["TOUCH_MIXMONITOR"] = str(tmp_path / "touch")
    path = str(tmp_path / "touch.wav")
    press(pbx, call, "*3")
    await until(lambda: path in a_leg.recordings and a_leg.features.monitors)
    assert os.path.exists(path) and a_leg.variables["MIXMONITOR_FILENAME"] == path
    press(pbx, call, "*3")
    await until(lambda: not a_leg.features.monitors)
    assert a_leg.relay.active and core.sent("BYE", A) == []


async def test_attended_transfer_swap_then_complete(pbx: Pbx) -> None:
    """*4 switches between the two parties (the other waits); *2 then joins them."""
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    c_leg = await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg) is not b_leg
                        and a_leg.bridge.other(a_leg))
    consult = a_leg.bridge
    press(pbx, call, "*4")  # back to Bob; Carol waits
    await until(lambda: a_leg.bridge is not consult and a_leg.bridge.other(a_leg) is b_leg
                and a_leg.relay is not None and a_leg.relay.active)
    assert consult.suspended_for is a_leg and c_leg.relay is None
    press(pbx, call, "*4")  # Carol again; Bob waits
    await until(lambda: a_leg.bridge is consult and consult.suspended_for is None
                and a_leg.relay is not None and a_leg.relay.active)
    press(pbx, call, "*2")
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is c_leg)
    await until(lambda: core.sent("BYE", A))


async def test_attended_transfer_threeway_then_transferer_leaves(pbx: Pbx) -> None:
    """*3 joins all three (mixed); when the transferer hangs up, the others talk on."""
    core = pbx.core
    call, a_leg, b_leg, to_c = await _consult(pbx)
    to_c.callback(reply(to_c, 200, tag="c-tag", body=SDP))
    c_leg = await until(lambda: a_leg.bridge and a_leg.bridge.other(a_leg) is not b_leg
                        and a_leg.bridge.other(a_leg))
    press(pbx, call, "*3")
    await until(lambda: a_leg.bridge is None and b_leg.bridge is None and c_leg.bridge is None
                and type(a_leg.media.consumer).__name__ == "MixMember")
    assert {type(x.media.consumer).__name__ for x in (b_leg, c_leg)} == {"MixMember"}
    bye_from(pbx, call)
    await until(lambda: b_leg.bridge is not None and b_leg.bridge.other(b_leg) is c_leg
                and b_leg.relay is not None and b_leg.relay.active)
    assert core.sent("BYE", B) == [] and core.sent("BYE", C) == []
