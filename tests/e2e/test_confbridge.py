"""Conferences end to end: SIPp callers into ConfBridge() rooms of the real PBX.

SIPp signals; each caller's media is the test's own RTP socket, which sends a
tone of its own frequency, so what each one hears is checked by content: the
others' tones at their level, its own absent. Also G.722 with G.711 in one
room (a 16 kHz mix), the PIN and the menus by RFC 4733 DTMF, `pbx confbridge`
on a running room, CONFBRIDGE_INFO, and record_conference on disk.
"""

from __future__ import annotations

import csv
import io
import json
import time
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from pbx.media.codecs import G722
from pbx.media.wav import read_wav
from tests.e2e.harness import PbxProcess, make_config
from tests.e2e.media import SOUNDS, RtpEndpoint, best_lag, prompt_pcm, tone
from tests.e2e.sipp import call_scenario, run_sipp
from tests.e2e.test_calls import Sipp, _sipp_extra

SIP_CONF = """\
[general]
context=default
allowguest=no

[office](!)
type=friend
host=dynamic
context=internal
disallow=all
allow=ulaw,alaw,g722

[6001](office)
secret=6001pass
callerid="Alice" <6001>

[6002](office)
secret=6002pass
callerid="Bob" <6002>

[6003](office)
secret=6003pass
callerid="Carol" <6003>

[6004](office)
secret=6004pass
callerid="Dave" <6004>
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 7000,1,ConfBridge(7000)
 same => n,Log(NOTICE,CONFBRIDGE_RESULT=${CONFBRIDGE_RESULT})
 same => n,Hangup()
; quiet callers with the user menu (8 leaves, 1 mutes)
exten => 7001,1,ConfBridge(7001,,quiet_user,sample_user_menu)
 same => n,Log(NOTICE,CONFBRIDGE_RESULT=${CONFBRIDGE_RESULT})
 same => n,Playback(goodbye)
 same => n,Hangup()
; the admin with a PIN, and the others, in room 7100
exten => 7100,1,ConfBridge(7100,,admin_user,sample_admin_menu)
 same => n,Log(NOTICE,CONFBRIDGE_RESULT=${CONFBRIDGE_RESULT})
 same => n,Hangup()
exten => _710[12],1,Set(PROFILE=${IF($[${EXTEN} = 7101]?quiet_user:default_user)})
 same => n,ConfBridge(7100,,${PROFILE},sample_user_menu)
 same => n,Log(NOTICE,CONFBRIDGE_RESULT=${CONFBRIDGE_RESULT})
 same => n,Playback(goodbye)
 same => n,Hangup()
; a recorded room
exten => 7200,1,ConfBridge(7200,recorded)
 same => n,Hangup()
; CONFBRIDGE_INFO into the CDR
exten => 7400,1,Answer()
 same => n,Set(A=${CONFBRIDGE_INFO(parties,7000)}/${CONFBRIDGE_INFO(locked,7100)})
 same => n,Set(CDR(userfield)=${A}/${CONFBRIDGE_INFO(admins,7100)}/${CONFBRIDGE_INFO(parties,x)})
 same => n,Hangup()
"""

CONFBRIDGE_CONF = """\
[quiet_user]
type=user
quiet=yes

[admin_user]
type=user
admin=yes
pin=4242

[recorded]
type=bridge
record_conference=yes
record_file=board
record_file_timestamp=no

[sample_user_menu]
type=menu
*=playback_and_continue(conf-usermenu)
1=toggle_mute
8=leave_conference

[sample_admin_menu]
type=menu
1=toggle_mute
2=admin_toggle_conference_lock
3=admin_kick_last
"""

USERS = [("6001", "6001pass"), ("6002", "6002pass"), ("6003", "6003pass"),
         ("6004", "6004pass")]
FREQS = [500.0, 1100.0, 1700.0, 2300.0]


@pytest.fixture
def pbx(tmp_path: Path) -> Iterator[PbxProcess]:
    proc = make_config(tmp_path, sip_conf=SIP_CONF, extensions=DIALPLAN,
                       extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    (tmp_path / "confbridge.conf").write_text(CONFBRIDGE_CONF)
    proc.start()
    try:
        yield proc
    finally:
        proc.stop()


def caller(pbx: PbxProcess, tmp: Path, exten: str, rtp: RtpEndpoint, who: int, *,
           ending: str = "caller_bye", pause_ms: int = 0, pt: int = 0,
           tag: str = "") -> Sipp:
    user, password = USERS[who]
    name = {0: "PCMU", 8: "PCMA", 9: "G722"}[pt]
    tag = tag or f"c{who}"
    # One file per scenario, written once: SIPps started together must not read
    # it while run_sipp rewrites it.
    scenario = tmp / f"scenario-{ending}.xml"
    if not scenario.exists():
        scenario.write_text(call_scenario(ending, log_media=True))
    proc = run_sipp(scenario, pbx.host, pbx.sip_port, tmp=tmp,
                    service=exten, user=user, password=password,
                    keys={"rtpport": str(rtp.port), "codec_pt": str(pt), "codec_name": name},
                    pause_ms=pause_ms, timeout_s=60, extra=_sipp_extra(tmp, tag),
                    background=True)
    return Sipp(proc, tag, tmp)  # type: ignore[arg-type]


def level(pcm: bytes, freq: float, rate: int = 8000) -> float:
    """Amplitude of the `freq` component (one DFT bin, Hann window)."""
    x = np.frombuffer(pcm, dtype="<i2").astype(float)
    if len(x) == 0:
        return 0.0
    w = np.hanning(len(x))
    t = np.arange(len(x)) / rate
    return float(2 * abs(np.dot(x * w, np.exp(-2j * np.pi * freq * t))) / w.sum())


def members(pbx: PbxProcess, room: str) -> list[str]:
    out = pbx.cli("confbridge", "list", room)
    if out.returncode != 0:
        return []
    return [line.split()[0] for line in out.stdout.splitlines()[2:] if line.strip()]


def wait_members(pbx: PbxProcess, room: str, n: int, timeout: float = 20.0) -> list[str]:
    deadline = time.monotonic() + timeout
    found: list[str] = []
    while time.monotonic() < deadline:
        found = members(pbx, room)
        if len(found) >= n:
            return found
        time.sleep(0.2)
    pytest.fail(f"room {room}: {found}, expected {n} members\n{pbx.log()[-3000:]}")


def send_tones(rtps: list[RtpEndpoint], dests: list[tuple], freqs: list[float],
               seconds: float, pts: list[int] | None = None) -> float:
    """Every endpoint sends its tone at once (real time); returns the start time."""
    start = time.monotonic()
    threads = []
    for i, (rtp, dest, f) in enumerate(zip(rtps, dests, freqs, strict=True)):
        pt = pts[i] if pts else 0
        pcm = tone(f, seconds) if pt != 9 else tone16(f, seconds)
        threads.append(rtp.send_audio(dest, pcm, pt))
    for t in threads:
        assert t is not None
        t.join(seconds + 5)
    return start


def tone16(freq: float, seconds: float, amplitude: float = 8000.0) -> bytes:
    t = np.arange(int(seconds * 16000)) / 16000.0
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype("<i2").tobytes()


def window(rtp: RtpEndpoint, start: float, seconds: float, pt: int = 0) -> bytes:
    """What arrived between start+0.5 s and start+seconds (the mix settled)."""
    return b"".join(p.payload for p in rtp.audio(pt)
                    if start + 0.5 <= p.at <= start + seconds)


def heard(rtp: RtpEndpoint, start: float, seconds: float, pt: int = 0) -> bytes:
    payload = window(rtp, start, seconds, pt)
    return G722.decode(payload) if pt == 9 else rtp_decode(payload, pt)


def rtp_decode(payload: bytes, pt: int) -> bytes:
    from tests.e2e.media import DECODE

    return DECODE[pt](payload)


# --- three callers ---------------------------------------------------------------------
def test_three_callers_each_hear_the_other_two_and_not_themselves(
        pbx: PbxProcess, tmp_path: Path) -> None:
    rtps = [RtpEndpoint() for _ in range(3)]
    try:
        calls = [caller(pbx, tmp_path, "7000", rtps[i], i, pause_ms=9000) for i in range(3)]
        dests = [c.media() for c in calls]
        names = wait_members(pbx, "7000", 3)
        assert all(n.startswith("SIP/600") for n in names)
        rooms = pbx.cli("confbridge", "list")
        assert rooms.returncode == 0 and "7000" in rooms.stdout and "     3" in rooms.stdout
        info = pbx.cli("cdr", "--csv")  # nothing asked yet; the room is on
        assert info.returncode == 0
        time.sleep(1.0)  # the join sounds are over
        start = send_tones(rtps, dests, FREQS[:3], 2.5)
        for i, rtp in enumerate(rtps):
            pcm = heard(rtp, start, 2.5)
            assert len(pcm) > 2 * 8000 * 1.5, f"caller {i} heard too little"
            for j, f in enumerate(FREQS[:3]):
                a = level(pcm, f)
                if i == j:
                    assert a < 150, f"caller {i} hears itself ({f} Hz at {a:.0f})"
                else:
                    assert a > 4000, f"caller {i} does not hear caller {j} ({a:.0f})"
        # Mute caller 1 from the CLI: the others stop hearing it, it still hears them.
        bob = next(n for n in names if n.startswith("SIP/6002-"))  # caller 1
        out = pbx.cli("confbridge", "mute", "7000", bob)
        assert out.returncode == 0, out.stderr
        assert "Muting" in out.stdout
        listing = pbx.cli("confbridge", "list", "7000").stdout
        assert f"{bob:<30} m " in listing
        start = send_tones(rtps, dests, FREQS[:3], 1.5)
        p0, p1 = heard(rtps[0], start, 1.5), heard(rtps[1], start, 1.5)
        assert level(p0, FREQS[1]) < 150 and level(p0, FREQS[2]) > 4000
        assert level(p1, FREQS[0]) > 4000
        for c in calls:
            c.finish(pbx)
    finally:
        for r in rtps:
            r.close()
    assert pbx.log().count("left conference 7000 (HANGUP)") == 3


def test_the_first_caller_hears_it_is_alone(pbx: PbxProcess, tmp_path: Path) -> None:
    with RtpEndpoint() as rtp:
        call = caller(pbx, tmp_path, "7000", rtp, 0, pause_ms=4000)
        call.media()
        assert rtp.wait_packets(150, timeout=10)
        call.finish(pbx)
        got = rtp.decoded(0)
    onlyperson = prompt_pcm("conf-onlyperson")
    _, ncc = best_lag(got, onlyperson[: 2 * 8000])
    assert ncc > 0.9


def test_g722_caller_mixed_with_two_g711_callers(pbx: PbxProcess, tmp_path: Path) -> None:
    """A G.722 caller makes the room mix at 16 kHz: it hears both G.711 callers,
    they hear it (its 16 kHz voice downsampled) and each other, nobody itself; the
    G.722 caller's 6 kHz tone (wideband only) reaches nobody narrowband."""
    pts = [9, 0, 8]
    rtps = [RtpEndpoint() for _ in range(3)]
    try:
        calls = [caller(pbx, tmp_path, "7001", rtps[i], i, pause_ms=8000, pt=pts[i])
                 for i in range(3)]
        dests = [c.media() for c in calls]
        wait_members(pbx, "7001", 3)
        assert "a=rtpmap:9 G722/8000" in calls[0].messages
        time.sleep(0.5)
        start = send_tones(rtps, dests, FREQS[:3], 2.5, pts)
        wide = heard(rtps[0], start, 2.5, 9)  # 16 kHz
        assert level(wide, FREQS[1], 16000) > 4000 and level(wide, FREQS[2], 16000) > 4000
        assert level(wide, FREQS[0], 16000) < 150
        for i in (1, 2):
            pcm = heard(rtps[i], start, 2.5, pts[i])
            assert level(pcm, FREQS[0]) > 4000, f"caller {i} does not hear the G.722 one"
            other = 3 - i
            assert level(pcm, FREQS[other]) > 4000 and level(pcm, FREQS[i]) < 150
        for c in calls:
            c.finish(pbx)
    finally:
        for r in rtps:
            r.close()


# --- PIN and menus ---------------------------------------------------------------------
def test_pin_then_admin_menu_lock_and_kick_last_user_menu_mute_and_leave(
        pbx: PbxProcess, tmp_path: Path) -> None:
    """The admin enters a wrong PIN (conf-invalidpin), then 4242#. A caller joins
    with the user menu and mutes itself by DTMF (conf-muted; the admin stops hearing
    it); the admin locks the room (2): a third caller hears conf-locked and is
    refused; the admin unlocks it and kicks the last caller (3), who hears
    conf-kicked; the user presses 8 and leaves (DTMF) to hear goodbye."""
    admin_rtp, user_rtp, late_rtp = RtpEndpoint(), RtpEndpoint(), RtpEndpoint()
    try:
        admin = caller(pbx, tmp_path, "7100", admin_rtp, 0, pause_ms=20000, tag="admin")
        a_dest = admin.media()
        assert admin_rtp.wait_packets(40, timeout=10)  # conf-getpin is playing
        for d in "99#":
            admin_rtp.send_dtmf(a_dest, d)
        assert admin_rtp.wait_for(lambda ps: _has(ps, "conf-invalidpin"), timeout=10), \
            "no conf-invalidpin after a wrong PIN"
        time.sleep(0.3)
        for d in "4242#":
            admin_rtp.send_dtmf(a_dest, d)
        wait_members(pbx, "7100", 1)
        user = caller(pbx, tmp_path, "7101", user_rtp, 1, pause_ms=20000, tag="user")
        u_dest = user.media()
        wait_members(pbx, "7100", 2)
        time.sleep(0.5)
        # The user mutes itself with 1: it hears conf-muted, the admin stops hearing it.
        mark = time.monotonic()
        user_rtp.send_dtmf(u_dest, "1")
        assert user_rtp.wait_for(lambda ps: _has(ps, "conf-muted", since=mark), timeout=5)
        start = send_tones([admin_rtp, user_rtp], [a_dest, u_dest], FREQS[:2], 1.5)
        assert level(heard(admin_rtp, start, 1.5), FREQS[1]) < 150
        assert level(heard(user_rtp, start, 1.5), FREQS[0]) > 4000
        assert " m " in pbx.cli("confbridge", "list", "7100").stdout
        # The admin locks the room: the late caller is refused with conf-locked.
        mark = time.monotonic()
        admin_rtp.send_dtmf(a_dest, "2")
        assert admin_rtp.wait_for(lambda ps: _has(ps, "conf-lockednow", since=mark), 5)
        late = caller(pbx, tmp_path, "7101", late_rtp, 2, ending="pbx_bye", tag="late")
        late.media()
        late.finish(pbx)
        assert _has(late_rtp.packets, "conf-locked")
        assert "ConfBridge 7100: FAILED" in pbx.log()
        # Unlocked, it gets in; the admin kicks the last one to join: it.
        admin_rtp.send_dtmf(a_dest, "2")
        late_rtp2 = RtpEndpoint()
        try:
            late2 = caller(pbx, tmp_path, "7102", late_rtp2, 3, ending="pbx_bye",
                           tag="late2")  # not quiet: it is told it was kicked
            late2.media()
            wait_members(pbx, "7100", 3)
            admin_rtp.send_dtmf(a_dest, "3")
            late2.finish(pbx)  # kicked: conf-kicked, goodbye, hung up
            assert _has(late_rtp2.packets, "conf-kicked")
            assert _has(late_rtp2.packets, "goodbye")
        finally:
            late_rtp2.close()
        assert "CONFBRIDGE_RESULT=KICKED" in pbx.log()
        # The user leaves with 8: the dialplan goes on (goodbye), then hangs up.
        mark = time.monotonic()
        user_rtp.send_dtmf(u_dest, "8")
        assert user_rtp.wait_for(lambda ps: _has(ps, "goodbye", since=mark), timeout=8)
        assert "CONFBRIDGE_RESULT=DTMF" in pbx.log()
    finally:
        for r in (admin_rtp, user_rtp, late_rtp):
            r.close()


def _has(packets: list, prompt: str, since: float = 0.0, pt: int = 0) -> bool:
    """Whether the start of `prompt` is in what arrived (PCMU), by correlation."""
    from tests.e2e.media import DECODE

    payload = b"".join(p.payload for p in packets if p.pt == pt and p.at >= since)
    ref = prompt_pcm(prompt)[: 2 * 4000]  # its first half second
    got = DECODE[pt](payload)
    if len(got) < len(ref):
        return False
    return best_lag(got, ref)[1] > 0.9


# --- information, recording --------------------------------------------------------------
def test_confbridge_info_and_a_recorded_room(pbx: PbxProcess, tmp_path: Path) -> None:
    rtps = [RtpEndpoint() for _ in range(2)]
    try:
        calls = [caller(pbx, tmp_path, "7200", rtps[i], i, pause_ms=5000) for i in range(2)]
        dests = [c.media() for c in calls]
        wait_members(pbx, "7200", 2)
        with RtpEndpoint() as probe:
            q = caller(pbx, tmp_path, "7400", probe, 2, ending="pbx_bye", tag="probe")
            q.finish(pbx)
        time.sleep(0.5)
        send_tones(rtps, dests, FREQS[:2], 2.0)
        for c in calls:
            c.finish(pbx)
    finally:
        for r in rtps:
            r.close()
    rows = list(csv.DictReader(io.StringIO(pbx.cli("cdr", "--csv").stdout)))
    probe_row = [r for r in rows if r.get("dst") == "7400"]
    assert probe_row and probe_row[-1]["userfield"] == "0/0/0/0", probe_row
    path = tmp_path / "var" / "monitor" / "board.wav"
    deadline = time.monotonic() + 5
    while not path.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert path.exists(), list((tmp_path / "var").rglob("*"))
    with wave.open(str(path)) as w:
        assert w.getframerate() == 8000 and w.getnframes() > 8000 * 3
    pcm = read_wav(path)
    assert level(pcm, FREQS[0]) > 1000 and level(pcm, FREQS[1]) > 1000


def test_confbridge_info_counts_a_running_room(pbx: PbxProcess, tmp_path: Path) -> None:
    rtps = [RtpEndpoint() for _ in range(2)]
    try:
        calls = [caller(pbx, tmp_path, "7000", rtps[i], i, pause_ms=4000) for i in range(2)]
        for c in calls:
            c.media()
        wait_members(pbx, "7000", 2)
        with RtpEndpoint() as probe:
            q = caller(pbx, tmp_path, "7400", probe, 2, ending="pbx_bye", tag="probe")
            q.finish(pbx)
        for c in calls:
            c.finish(pbx)
    finally:
        for r in rtps:
            r.close()
    rows = list(csv.DictReader(io.StringIO(pbx.cli("cdr", "--csv").stdout)))
    probe_row = [r for r in rows if r.get("dst") == "7400"]
    assert probe_row and probe_row[-1]["userfield"] == "2/0/0/0", probe_row
    listing = json.loads(json.dumps(members(pbx, "7000")))
    assert listing == []  # the room is gone with its last caller
