"""ConfBridge() callers on the real media clock with fake sessions and channels:
waiting for the leader with the music-on-hold hook, end_marked, timeouts, the
recorded name announced, menu volumes, full rooms, CONFBRIDGE(), ConfKick,
CONFBRIDGE_INFO through the dialplan."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import numpy as np

from dialplan.interpreter import Interpreter
from dialplan.services import DialplanServices
from pbx.channel import CallerId, Channel, ChannelState, Hangup, RecordResult
from pbx.conference.config import ConfBridgeConfig, load_confbridge_conf
from pbx.conference.service import ConferenceService
from pbx.media.clock import MediaClock
from pbx.media.codecs import PCMU, ulaw_decode
from pbx.media.prompts import PromptLibrary
from pbx.media.wav import write_wav
from tests.unit.dialplan.test_interpreter import dialplan

REPO = Path(__file__).resolve().parents[3]

CONF = """\
[waiter]
type=user
wait_marked=yes
end_marked=yes
music_on_hold_when_empty=yes
quiet=yes

[leader]
type=user
marked=yes

[brief]
type=user
timeout=1
quiet=yes

[named]
type=user
announce_join_leave=yes

[admin]
type=user
admin=yes
quiet=yes

[small]
type=bridge
max_members=2

[vol]
type=menu
6=increase_listening_volume
9=increase_talking_volume
5=reset_listening_volume
"""


class Session:
    """What the conference uses of a MediaSession, on the real media clock."""

    def __init__(self, clock: MediaClock) -> None:
        self.clock = clock
        self.codec = PCMU
        self.consumer: Any = None
        self.closed = False
        self.sent: list[tuple[bytes, bool]] = []

    def set_consumer(self, c: Any) -> Any:
        prev, self.consumer = self.consumer, c
        return prev

    def send_audio(self, payload: Any, marker: bool = False, samples: int = 0) -> bool:
        self.sent.append((bytes(payload), marker))
        return True

    def heard(self) -> np.ndarray:
        return np.frombuffer(ulaw_decode(b"".join(p for p, _ in self.sent)), "<i2")


class Caller(Channel):
    """A channel whose prompts take no time; digits come from `press`."""

    def __init__(self, name: str, clock: MediaClock, **kw: Any) -> None:
        super().__init__(name=name, callerid=CallerId(num=name[4:8]), **kw)
        self.media = Session(clock)
        self.played: list[str] = []
        self.state = ChannelState.UP
        self.name_wav: bytes = b""

    async def play(self, prompts: list[str], interrupt: str = "") -> str:
        self.check_hangup()
        self.played.extend(prompts)
        await asyncio.sleep(0)
        return ""

    async def record(self, path: str, **kw: Any) -> RecordResult:
        write_wav(Path(path), self.name_wav)
        return RecordResult(path, len(self.name_wav) / 16000, "silence")

    def press(self, digits: str) -> None:
        for d in digits:
            self.digits.put_nowait(d)

    async def hang_up(self) -> None:
        await self.hangup()
        self.media.closed = True
        if self.media.consumer is not None:
            self.media.consumer.session_closed()


def service(tmp_path: Path) -> ConferenceService:
    path = tmp_path / "confbridge.conf"
    path.write_text(CONF)
    diags: list = []
    cfg = load_confbridge_conf(path, diags)
    assert not [d for d in diags if d.severity == "error"], diags
    library = PromptLibrary([str(REPO / "sounds")])
    return ConferenceService(config=lambda: cfg, prompts=lambda: library, storage_dir=tmp_path)


async def join(svc: ConferenceService, ch: Caller, room: str, user: str = "",
               bridge: str = "", menu: str = "") -> asyncio.Task:
    b, u, m = svc.profiles(ch, bridge, user, menu)
    task = asyncio.ensure_future(svc.join(ch, room, b, u, m))
    await asyncio.sleep(0.05)
    return task


async def until(cond: Any, timeout: float = 3.0) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not cond():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.02)


async def test_waiting_for_the_leader_with_hold_music_then_end_marked(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    w = Caller("SIP/6001-1", clock)
    tw = await join(svc, w, "r", user="waiter")
    conf = svc.rooms["r"]
    assert conf.room.state == "INACTIVE" and svc.info("parties", "r") == "1"
    # The hook plays encoded silence (marked), the mixer leaves the waiter alone.
    await until(lambda: len(w.media.sent) >= 5)
    assert w.media.sent[0] == (b"\xff" * 160, True)
    part = conf.parts[conf.room.waiting[0].id]
    assert part.hold is not None and part.mix is not None and part.mix.private
    assert part.mix.muted  # waiting: may not talk
    boss = Caller("SIP/6002-2", clock)
    tb = await join(svc, boss, "r", user="leader")
    await until(lambda: part.hold is None)
    assert not part.mix.private and not part.mix.muted
    assert conf.room.state == "MULTI_MARKED"
    # The leader's arrival was announced to the room ("the conference will now begin").
    await until(lambda: len(w.media.heard()) > 8000)
    assert np.abs(w.media.heard()).max() > 1000
    assert svc.info("marked", "r") == "1"
    await boss.hang_up()
    assert await asyncio.wait_for(tb, 3) == "HANGUP"
    assert await asyncio.wait_for(tw, 3) == "ENDMARKED"
    assert "r" not in svc.rooms and svc.info("parties", "r") == "0"
    clock.stop()


async def test_timeout_ends_the_stay(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    ch = Caller("SIP/6001-1", clock)
    t = await join(svc, ch, "r", user="brief")
    assert await asyncio.wait_for(t, 3) == "TIMEOUT"
    assert ch.media.consumer is None and "r" not in svc.rooms
    clock.stop()


async def test_recorded_name_is_announced_to_the_room_on_join_and_leave(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    host = Caller("SIP/6001-1", clock)
    th = await join(svc, host, "r", user="admin")
    guest = Caller("SIP/6002-2", clock)
    t = np.arange(8000) / 8000
    guest.name_wav = (6000 * np.sin(2 * np.pi * 440 * t)).astype("<i2").tobytes()
    tg = await join(svc, guest, "r", user="named")
    assert guest.played[:2] == ["vm-rec-name", "beep"]
    await until(lambda: len(host.media.sent) > 60)
    heard = host.media.heard().astype(float)
    spectrum = np.abs(np.fft.rfft(heard[:8000 * 2]))
    peak = np.argmax(spectrum) * 8000 / len(heard[:16000])
    assert abs(peak - 440) < 5  # the name, announced
    name_files = list((tmp_path / "confbridge").glob("confbridge-name-r-*.wav"))
    assert len(name_files) == 1
    await guest.hang_up()
    assert await asyncio.wait_for(tg, 3) == "HANGUP"
    assert not list((tmp_path / "confbridge").glob("*.wav"))  # deleted with the caller
    await host.hang_up()
    await asyncio.wait_for(th, 3)
    clock.stop()


async def test_menu_volume_steps(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    a = Caller("SIP/6001-1", clock)
    ta = await join(svc, a, "r", user="admin", menu="vol")
    part = next(iter(svc.rooms["r"].parts.values()))
    assert part.mix is not None
    a.press("66")
    await until(lambda: part.mix.listen == 3.0)
    a.press("9")
    await until(lambda: part.mix.talk == 2.0)
    a.press("5")
    await until(lambda: part.mix.listen == 1.0)
    a.press("6666666")  # capped
    await until(lambda: part.listen_level == 4)
    await a.hang_up()
    await asyncio.wait_for(ta, 3)
    clock.stop()


async def test_a_full_room_takes_only_admins(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    callers = [Caller(f"SIP/600{i}-{i}", clock) for i in range(1, 5)]
    tasks = [await join(svc, c, "r", bridge="small") for c in callers[:2]]
    assert await asyncio.wait_for(await join(svc, callers[2], "r", bridge="small"), 3) \
        == "FAILED"
    assert callers[2].played == ["conf-locked"]
    tasks.append(await join(svc, callers[3], "r", user="admin", bridge="small"))
    assert svc.info("parties", "r") == "3" and svc.info("admins", "r") == "1"
    assert svc.kick("r", "participants") is True
    assert [await asyncio.wait_for(t, 3) for t in tasks[:2]] == ["KICKED", "KICKED"]
    assert callers[0].played[-1] == "conf-kicked"
    assert svc.kick("r", "nobody") is False and svc.kick("nowhere", "all") is None
    await callers[3].hang_up()
    await asyncio.wait_for(tasks[2], 3)
    clock.stop()


async def test_dialplan_confbridge_dynamic_profile_info_and_confkick(tmp_path: Path) -> None:
    """Set(CONFBRIDGE(user,...)) makes a quiet admin of the caller; a second call reads
    CONFBRIDGE_INFO and kicks everyone with ConfKick."""
    clock = MediaClock(asyncio.get_running_loop())
    svc = service(tmp_path)
    dp = dialplan("""\
[test]
exten => 1,1,Set(CONFBRIDGE(user,template)=default_user)
 same => n,Set(CONFBRIDGE(user,admin)=yes)
 same => n,Set(CONFBRIDGE(user,quiet)=yes)
 same => n,ConfBridge(7000)
 same => n,Set(RESULT=${CONFBRIDGE_RESULT})
 same => n,Hangup()
exten => 2,1,Set(N=${CONFBRIDGE_INFO(parties,7000)}/${CONFBRIDGE_INFO(admins,7000)})
 same => n,ConfKick(7000,all)
 same => n,Hangup()
exten => 3,1,ConfBridge(7000,no_such_profile)
""")
    services = DialplanServices(conferences=svc)
    interp = Interpreter(dp, services)
    a = Caller("SIP/6001-1", clock, context="test", exten="1")
    ta = asyncio.ensure_future(interp.run(a))
    await until(lambda: "7000" in svc.rooms)
    assert a.played == []  # quiet: not even "only person"
    b = Caller("SIP/6002-2", clock, context="test", exten="2")
    await interp.run(b)
    assert b.variables["N"] == "1/1" and b.variables["CONFKICKSTATUS"] == "SUCCESS"
    await asyncio.wait_for(ta, 3)
    assert a.variables["RESULT"] == "KICKED"
    c = Caller("SIP/6003-3", clock, context="test", exten="3")
    result = await interp.run(c)
    assert c.variables["CONFBRIDGE_RESULT"] == "FAILED" and result.reason == "hangup"
    clock.stop()


async def test_a_caller_already_gone_is_not_answered_again(tmp_path: Path) -> None:
    clock = MediaClock(asyncio.get_running_loop())
    cfg = ConfBridgeConfig()
    u = cfg.users["default_user"]
    u.pin = "1"
    library = PromptLibrary([str(REPO / "sounds")])
    svc = ConferenceService(config=lambda: cfg, prompts=lambda: library, storage_dir=tmp_path)
    ch = Caller("SIP/6001-1", clock)
    await ch.hangup()
    b, user, m = svc.profiles(ch, "", "", "")
    try:
        await svc.join(ch, "r", b, user, m)
        raise AssertionError("no Hangup")
    except Hangup:
        pass
    assert "r" not in svc.rooms
    clock.stop()


def test_dynamic_menu_from_a_template_leaves_the_config_alone(tmp_path: Path) -> None:
    svc = service(tmp_path)
    ch = Caller.__new__(Caller)  # only datastores are used
    Channel.__init__(ch, name="SIP/x-1")
    assert svc.set_dynamic(ch, "menu", "template", "vol") is None
    assert svc.set_dynamic(ch, "menu", "1", "toggle_mute") is None
    assert svc.set_dynamic(ch, "menu", "X1", "toggle_mute") == \
        "CONFBRIDGE: 'x1' is not a DTMF sequence"
    assert svc.set_dynamic(ch, "user", "bogus", "1") == \
        "CONFBRIDGE: unknown user profile option 'bogus'"
    assert svc.set_dynamic(ch, "room", "x", "1") is not None
    _, _, menu = svc.profiles(ch, "", "", "")
    assert "1" in menu.entries and "6" in menu.entries
    assert "1" not in svc.config().menus["vol"].entries
