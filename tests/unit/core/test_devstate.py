"""Device state and hints: Asterisk's aggregation rules, SIP devices fed by legs and
registrations, hints (literal, pattern, through includes), watchers, the
DEVICE_STATE()/EXTENSION_STATE()/HINT() functions and the busy-lamp bodies."""

from __future__ import annotations

import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from pbx.channel import CallerId, ChannelState
from pbx.config import Config, load_config
from pbx.devstate import (
    CustomDevices,
    DeviceState,
    DeviceStates,
    ExtensionState,
    aggregate,
    extension_state,
    extension_state_name,
)
from pbx.hints import HintInfo, HintStates, parse_hint
from pbx.location import Binding, Location
from pbx.presence_xml import dialog_info, pidf
from pbx.sip_devstate import SipDevices
from tests.unit.dialplan.test_interpreter import FakeChannel, dialplan

D = DeviceState
E = ExtensionState


def test_aggregate_follows_asterisks_order() -> None:
    assert aggregate([]) is D.INVALID
    assert aggregate([D.NOT_INUSE, D.UNAVAILABLE]) is D.NOT_INUSE
    assert aggregate([D.UNAVAILABLE, D.INVALID]) is D.UNAVAILABLE
    assert aggregate([D.NOT_INUSE, D.INUSE]) is D.INUSE
    assert aggregate([D.ONHOLD, D.NOT_INUSE]) is D.ONHOLD
    assert aggregate([D.ONHOLD, D.INUSE]) is D.INUSE  # in use outranks hold
    assert aggregate([D.RINGING, D.NOT_INUSE]) is D.RINGING
    assert aggregate([D.RINGING, D.INUSE]) is D.RINGINUSE
    assert aggregate([D.ONHOLD, D.RINGING]) is D.RINGINUSE
    assert aggregate([D.BUSY, D.INUSE]) is D.BUSY


def test_extension_states_and_names() -> None:
    assert extension_state(D.RINGINUSE) == E.INUSE | E.RINGING
    assert extension_state(D.INVALID) is E.UNAVAILABLE
    assert extension_state(D.UNKNOWN) is E.NOT_INUSE
    assert extension_state_name(E.INUSE | E.RINGING) == "RINGINUSE"
    assert extension_state_name(E.ONHOLD) == "ONHOLD"
    assert extension_state_name(None) == "UNKNOWN"
    assert D.parse("not_inuse") is D.NOT_INUSE and D.parse("bogus") is D.UNKNOWN


def test_parse_hint() -> None:
    assert parse_hint("SIP/6001&Custom:dnd${EXTEN}(Alice),CustomPresence:x", "6001") == (
        ("SIP/6001", "Custom:dnd6001"), "Alice")


# --- SIP devices ---------------------------------------------------------------------

SIP_CONF = """\
[general]
context=internal
[office](!)
type=friend
host=dynamic
context=internal
[6001](office)
[6002](office)
callgroup=1
[6003](office)
busylevel=1
[trunk]
type=peer
host=127.0.0.1
"""

EXTENSIONS = """\
[internal]
include => hints
exten => 6001,hint,SIP/6001&Custom:dnd6001(Alice)
exten => _6XXX,1,Dial(SIP/${EXTEN})
[hints]
exten => _60XX,hint,PJSIP/${EXTEN}
exten => 7000,hint,Custom:lamp
"""


@pytest.fixture
def config(tmp_path: Path) -> Config:
    (tmp_path / "sip.conf").write_text(SIP_CONF)
    (tmp_path / "extensions.conf").write_text(EXTENSIONS)
    return load_config(tmp_path)


@dataclass
class Leg:
    """What the SIP device provider reads from a leg."""

    name: str
    peer: object
    inbound: bool
    state: ChannelState = ChannelState.RING
    held: bool = False
    callerid: CallerId = field(default_factory=CallerId)
    created_at: float = field(default_factory=time.time)


@dataclass
class World:
    config: Config
    location: Location
    registry: DeviceStates
    sip: SipDevices
    hints: HintStates
    changes: list[str]
    unreachable: set[str]

    def register(self, name: str, reachable: bool | None = None) -> None:
        self.location.put(Binding(aor=name, contact=f"sip:{name}@127.0.0.1:5070",
                                  expires_at=time.time() + 60, reachable=reachable))
        self.sip.peer_changed(name)

    def leg(self, peer: str, *, inbound: bool, caller: str = "") -> Leg:
        leg = Leg(f"SIP/{peer}-1", self.config.sip.peers[peer], inbound,
                  callerid=CallerId(num=caller, name=f"Caller {caller}"))
        self.sip.leg_changed(leg)
        return leg

    def move(self, leg: Leg, state: ChannelState | None = None, held: bool | None = None) -> None:
        if state is not None:
            leg.state = state
        if held is not None:
            leg.held = held
        self.sip.leg_changed(leg)


@pytest.fixture
def world(config: Config) -> World:
    location = Location()
    registry = DeviceStates()
    unreachable: set[str] = set()
    sip = SipDevices(registry, lambda: config, location, lambda p: p.name in unreachable)
    sip.install()
    registry.add_provider("Custom", CustomDevices(registry, None))
    changes: list[str] = []
    registry.listen(changes.append)
    hints = HintStates(registry, lambda: config.dialplan)
    return World(config, location, registry, sip, hints, changes, unreachable)


def test_sip_device_from_registration_qualify_and_legs(world: World) -> None:
    reg = world.registry
    assert reg.state("SIP/6002") is D.UNAVAILABLE  # not registered
    assert reg.state("SIP/nobody") is D.INVALID
    assert reg.state("IAX2/6002") is D.INVALID  # no such technology here
    world.register("6002")
    assert world.changes == ["SIP/6002"]
    assert reg.state("PJSIP/6002") is D.NOT_INUSE  # PJSIP/ and SIP/ are one device
    assert reg.state("sip/6002") is D.NOT_INUSE
    # Dial rings it: RINGING with the caller's identity; answered: INUSE; held: ONHOLD.
    leg = world.leg("6002", inbound=False, caller="6001")
    assert reg.state("SIP/6002") is D.RINGING
    assert reg.ringing_caller(["SIP/6002"]) == CallerId("6001", "Caller 6001")
    world.move(leg, ChannelState.RINGING)  # 180: no change, no event
    assert world.changes.count("SIP/6002") == 2
    world.move(leg, ChannelState.UP)
    assert reg.state("SIP/6002") is D.INUSE and reg.ringing_caller(["SIP/6002"]) is None
    world.move(leg, held=True)
    assert reg.state("SIP/6002") is D.ONHOLD
    second = world.leg("6002", inbound=False, caller="6003")  # call waiting
    assert reg.state("SIP/6002") is D.RINGINUSE
    world.move(second, ChannelState.HUNGUP)
    world.move(leg, ChannelState.HUNGUP)
    assert reg.state("SIP/6002") is D.NOT_INUSE and world.sip.live_legs() == 0
    # A call the phone places is in use from its first moment.
    mine = world.leg("6002", inbound=True)
    assert reg.state("SIP/6002") is D.INUSE
    world.move(mine, ChannelState.HUNGUP)
    # Qualify: every contact unreachable -> UNAVAILABLE.
    world.location.remove_all("6002")
    world.register("6002", reachable=False)
    assert reg.state("SIP/6002") is D.UNAVAILABLE
    # A static peer: unavailable only when qualify says unreachable.
    assert reg.state("SIP/trunk") is D.NOT_INUSE
    world.unreachable.add("trunk")
    assert reg.state("SIP/trunk") is D.UNAVAILABLE


def test_busylevel_makes_the_device_busy(world: World) -> None:
    world.register("6003")
    leg = world.leg("6003", inbound=True)
    assert world.registry.state("SIP/6003") is D.BUSY  # busylevel=1
    world.move(leg, ChannelState.HUNGUP)
    assert world.registry.state("SIP/6003") is D.NOT_INUSE


def test_hints_literal_pattern_and_includes(world: World) -> None:
    hints = world.hints
    h = hints.hint("internal", "6001")
    assert h is not None and h.devices == ("SIP/6001", "Custom:dnd6001") and h.name == "Alice"
    # _60XX in an included context; ${EXTEN} replaced; PJSIP/ is the SIP device.
    h2 = hints.hint("internal", "6002")
    assert h2 is not None and h2.devices == ("SIP/6002",) and h2.context == "hints"
    assert hints.hint("internal", "6100") is None
    assert hints.state("internal", "6100") is None
    assert hints.state("internal", "6001") is E.UNAVAILABLE
    world.register("6001")
    assert hints.state("internal", "6001") is E.NOT_INUSE  # Custom unknown + idle phone


def test_watchers_hear_every_change_and_each_new_ringing_call(world: World) -> None:
    hints = world.hints
    world.register("6002")
    heard: list[HintInfo] = []
    watch = hints.watch("internal", "6002", heard.append)
    assert watch is not None and watch.info().state is E.NOT_INUSE
    first = world.leg("6002", inbound=False, caller="6001")
    assert heard[-1].state is E.RINGING and heard[-1].caller is not None
    assert heard[-1].caller.num == "6001"
    world.leg("6002", inbound=False, caller="6003")  # a second caller: told again
    assert [h.state for h in heard] == [E.RINGING, E.RINGING]
    world.move(first, ChannelState.UP)
    assert heard[-1].state == E.INUSE | E.RINGING
    world.register("6001")  # another device: not watched here
    assert len(heard) == 3
    assert hints.watchers("internal", "6002") == 1
    watch.cancel()
    world.move(first, ChannelState.HUNGUP)
    assert len(heard) == 3 and hints.watchers("internal", "6002") == 0


def test_custom_devices_and_hint_removed_by_reload(world: World, config: Config,
                                                   tmp_path: Path) -> None:
    hints = world.hints
    heard: list[HintInfo] = []
    assert hints.watch("internal", "7000", heard.append) is not None
    custom = CustomDevices(world.registry, None)
    world.registry.add_provider("Custom", custom)
    custom.set("lamp", D.BUSY)
    assert heard[-1].state is E.BUSY
    assert world.registry.state("custom:lamp") is D.BUSY
    custom.set("lamp", D.NOT_INUSE)
    assert heard[-1].state is E.NOT_INUSE
    # The dialplan loses the hint: the watcher is told (state None) and dropped.
    (tmp_path / "extensions.conf").write_text("[internal]\nexten => 1,1,NoOp()\n")
    config.dialplan = load_config(tmp_path).dialplan
    hints.refresh()
    assert heard[-1].state is None and hints.watchers("internal", "7000") == 0
    rows = hints.rows()
    assert rows == []


def test_pbx_hints_rows(world: World) -> None:
    world.register("6001")
    hints = world.hints
    hints.watch("internal", "6002", lambda info: None)
    rows = {(r["exten"], r["context"]): r for r in hints.rows()}
    assert rows[("6001", "internal")]["state"] == "Idle"
    assert rows[("7000", "hints")]["devices"] == ["Custom:lamp"]
    # A pattern hint shows once someone watches one of its extensions.
    assert rows[("6002", "internal")]["watchers"] == 1
    assert rows[("6002", "internal")]["state"] == "Unavailable"


# --- the dialplan functions ------------------------------------------------------------


async def test_device_state_functions_in_the_dialplan(world: World) -> None:
    world.register("6002")
    custom = CustomDevices(world.registry, None)
    world.registry.add_provider("Custom", custom)
    services = DialplanServices(devices=world.registry, custom_devices=custom,
                                hints=world.hints)
    text = """[internal]
include => hints
exten => 6001,hint,SIP/6001&Custom:dnd6001(Alice)
exten => 1,1,Set(DEVICE_STATE(Custom:lamp)=INUSE)
 same => n,Playback(${DEVICE_STATE(SIP/6002)}|${DEVICE_STATE(PJSIP/6001)}|\
${DEVICE_STATE(Custom:lamp)})
 same => n,Playback(${EXTENSION_STATE(7000@hints)}|${EXTENSION_STATE(6002@internal)}|\
${EXTENSION_STATE(6001)})
 same => n,Set(H=${HINT(6001@internal)}|${HINT(6001@internal,n)}|${HINT(6002@internal)})
 same => n,Set(DEVICE_STATE(SIP/6002)=BUSY)
 same => n,Playback(${DEVICE_STATE(SIP/6002)})
[hints]
exten => _60XX,hint,PJSIP/${EXTEN}
exten => 7000,hint,Custom:lamp
"""
    ch = FakeChannel("SIP/6001-00000001", context="internal", exten="1")
    await Interpreter(dialplan(text), services).run(ch)
    assert ch.played() == [
        "NOT_INUSE|UNAVAILABLE|INUSE",
        "INUSE|NOT_INUSE|UNKNOWN",  # no 6001 in context default: UNKNOWN
        "NOT_INUSE",  # only Custom: devices can be set
    ]
    assert ch.variables["H"] == "SIP/6001&Custom:dnd6001|Alice|PJSIP/6002"


async def test_device_state_set_to_a_bad_value_is_a_warning_and_sets_nothing(
        caplog: pytest.LogCaptureFixture) -> None:
    registry = DeviceStates()
    custom = CustomDevices(registry, None)
    registry.add_provider("Custom", custom)
    services = DialplanServices(devices=registry, custom_devices=custom)
    text = "[t]\nexten => 1,1,Set(DEVICE_STATE(Custom:x)=PURPLE)\n same => n,Playback(go)\n"
    ch = FakeChannel("SIP/a-1", context="t", exten="1")
    await Interpreter(dialplan(text), services).run(ch)
    assert ch.played() == ["go"]  # Set() of a function goes on, as in Asterisk
    assert "invalid state value 'PURPLE'" in caplog.text
    assert registry.state("Custom:x") is D.UNKNOWN


# --- the bodies ------------------------------------------------------------------------

NS = {"d": "urn:ietf:params:xml:ns:dialog-info", "p": "urn:ietf:params:xml:ns:pidf"}


def test_dialog_info_bodies() -> None:
    ringing = ET.fromstring(dialog_info("<sip:6002@pbx:5060>", "6002", 3, E.RINGING,
                                        caller=CallerId("6001", "Alice & Co"), domain="pbx",
                                        local_name="Bob"))
    assert ringing.get("version") == "3" and ringing.get("state") == "full"
    assert ringing.get("entity") == "sip:6002@pbx:5060"
    dialog = ringing.find("d:dialog", NS)
    assert dialog is not None and dialog.get("id") == "6002"
    assert dialog.get("direction") == "recipient"
    assert dialog.findtext("d:state", namespaces=NS) == "early"
    remote = dialog.find("d:remote/d:identity", NS)
    assert remote is not None and remote.text == "sip:6001@pbx"
    assert remote.get("display") == "Alice & Co"
    local = dialog.find("d:local/d:identity", NS)
    assert local is not None and local.get("display") == "Bob"
    for state, word in ((E.INUSE, "confirmed"), (E.NOT_INUSE, "terminated"),
                        (E.UNAVAILABLE, "terminated"), (E.BUSY, "confirmed"),
                        (E.INUSE | E.RINGING, "confirmed")):
        doc = ET.fromstring(dialog_info("sip:6002@pbx", "6002", 0, state))
        assert doc.findtext("d:dialog/d:state", namespaces=NS) == word, state
    held = ET.fromstring(dialog_info("sip:6002@pbx", "6002", 0, E.ONHOLD))
    param = held.find("d:dialog/d:local/d:target/d:param", NS)
    assert param is not None and param.get("pname") == "+sip.rendering"


def test_pidf_bodies() -> None:
    for state, basic, note in ((E.NOT_INUSE, "open", "Ready"), (E.RINGING, "open", "Ringing"),
                               (E.INUSE, "open", "On the phone"),
                               (E.ONHOLD, "open", "On hold"),
                               (E.UNAVAILABLE, "closed", "Unavailable")):
        doc = ET.fromstring(pidf("sip:6002@pbx", "6002", state, contact="sip:6002@pbx"))
        assert doc.get("entity") == "sip:6002@pbx"
        assert doc.findtext("p:tuple/p:status/p:basic", namespaces=NS) == basic
        assert doc.findtext("p:note", namespaces=NS) == note
        on_phone = doc.find(".//{urn:ietf:params:xml:ns:pidf:rpid}on-the-phone")
        assert (on_phone is not None) == (note not in ("Ready", "Unavailable")), state
