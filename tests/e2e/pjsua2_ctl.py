#!/usr/bin/env python3
"""A headless PJSUA2 phone driven by commands on stdin, for the office-feature tests
(pip: pjsua2-python). It stays registered while the test runs several steps.

Options: --user/--password/--registrar (host:port)/--port/--rtp-port as the other
phone; --auth-user (the digest username when it is not the extension: Asterisk's
basic-pbx gives each phone its MAC address); --incoming ring|answer (what an
incoming call gets: 180 and nothing more, or 200 at once); --play WAV (sent into
every call, looped); --record-dir DIR (what each call hears goes to
DIR/call-N.wav, silence included: null sound device).

Commands (one per line): `call EXT`, `answer` (the calls ringing here), `hangup`,
`dtmf DIGITS` (RFC 4733 into the calls that are up), `watch EXT` (a buddy:
SUBSCRIBE presence), `im EXT TEXT` (SIP MESSAGE), `quit`.

Events (one line each, flushed): `REG <code>`, `INCOMING <n> <from uri>`,
`CALL <n> <state> <code> <reason>`, `MEDIA <n> <status>`, `RECORDED <n> <path>`,
`BUDDY <ext> open|closed|unknown <note>`, `IM <from uri> <body>`, `IMSTATUS <uri> <code>`.
Everything is bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gc
import os
import select
import struct
import sys
import time

import pjsua2 as pj


def say(line: str) -> None:
    print(line, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--auth-user")
    ap.add_argument("--registrar", required=True)
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, default=0)
    ap.add_argument("--incoming", choices=("ring", "answer"), default="ring")
    ap.add_argument("--play")
    ap.add_argument("--record-dir")
    ap.add_argument("--timeout", type=float, default=120.0)
    a = ap.parse_args()

    ep = pj.Endpoint()
    ep.libCreate()
    cfg = pj.EpConfig()
    cfg.uaConfig.threadCnt = 0
    cfg.uaConfig.mainThreadOnly = True
    cfg.logConfig.level = 1
    cfg.logConfig.consoleLevel = 1
    cfg.medConfig.clockRate = 8000
    cfg.medConfig.sndClockRate = 8000
    cfg.medConfig.noVad = True
    ep.libInit(cfg)
    tc = pj.TransportConfig()
    tc.port = a.port
    tc.boundAddress = "127.0.0.1"
    ep.transportCreate(pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():  # G.711 only, like a basic desk phone
        ep.codecSetPriority(c.codecId, 200 if c.codecId.startswith(("PCMU", "PCMA")) else 0)

    calls: dict[int, Call] = {}
    recordings: list[str] = []
    counter = [0]

    class Call(pj.Call):
        def __init__(self, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
            super().__init__(acc, call_id)
            counter[0] += 1
            self.n = counter[0]
            self.player: pj.AudioMediaPlayer | None = None
            self.rec: pj.AudioMediaRecorder | None = None
            self.record_path = ""
            calls[self.n] = self

        def onCallState(self, prm: pj.OnCallStateParam) -> None:
            ci = self.getInfo()
            say(f"CALL {self.n} {ci.stateText} {ci.lastStatusCode} {ci.lastReason}")
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                if self.rec is not None:
                    self.rec = None
                    gc.collect()  # the recorder writes its WAV header when destroyed...
                    path = self.record_path
                    _fix_wav_sizes(path)  # ...if it was: the sizes from the length anyway
                    say(f"RECORDED {self.n} {path}")
                self.player = None
                calls.pop(self.n, None)

        def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
            ci = self.getInfo()
            for i, mi in enumerate(ci.media):
                if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                    continue
                say(f"MEDIA {self.n} {mi.status}")
                if mi.status != pj.PJSUA_CALL_MEDIA_ACTIVE:
                    continue
                am = self.getAudioMedia(i)
                if a.play and self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(a.play)  # looped
                if self.player is not None:
                    self.player.startTransmit(am)
                if a.record_dir and self.rec is None:
                    path = os.path.join(a.record_dir, f"call-{self.n}.wav")
                    recordings.append(path)
                    self.record_path = path
                    self.rec = pj.AudioMediaRecorder()
                    self.rec.createRecorder(path)
                if self.rec is not None:
                    am.startTransmit(self.rec)

    class Buddy(pj.Buddy):
        def __init__(self, ext: str) -> None:
            super().__init__()
            self.ext = ext

        def onBuddyState(self) -> None:
            info = self.getInfo()
            st = info.presStatus
            status = {pj.PJSUA_BUDDY_STATUS_ONLINE: "open",
                      pj.PJSUA_BUDDY_STATUS_OFFLINE: "closed"}.get(st.status, "unknown")
            say(f"BUDDY {self.ext} {status} {st.note}")

    unregistered = [False]

    class Account(pj.Account):
        def onRegState(self, prm: pj.OnRegStateParam) -> None:
            if prm.expiration == 0 and prm.code // 100 == 2:
                unregistered[0] = True
                say("UNREG")
                return
            say(f"REG {prm.code}")

        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
            c = Call(self, prm.callId)
            say(f"INCOMING {c.n} {c.getInfo().remoteUri}")
            op = pj.CallOpParam()
            op.statusCode = 200 if a.incoming == "answer" else 180
            c.answer(op)

        def onInstantMessage(self, prm: pj.OnInstantMessageParam) -> None:
            say(f"IM {prm.fromUri} {prm.msgBody}")

        def onInstantMessageStatus(self, prm: pj.OnInstantMessageStatusParam) -> None:
            say(f"IMSTATUS {prm.toUri} {prm.code}")

    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{a.user}@{a.registrar}"
    acfg.regConfig.registrarUri = f"sip:{a.registrar}"
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.auth_user or a.user, 0,
                                                           a.password))
    acfg.mediaConfig.transportConfig.port = a.rtp_port
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acfg.presConfig.publishEnabled = False
    acc = Account()
    acc.create(acfg)
    buddies: dict[str, Buddy] = {}

    def buddy(ext: str, subscribe: bool) -> Buddy:
        b = buddies.get(ext)
        if b is None:
            bc = pj.BuddyConfig()
            bc.uri = f"sip:{ext}@{a.registrar}"
            bc.subscribe = subscribe
            b = Buddy(ext)
            b.create(acc, bc)
            buddies[ext] = b
        elif subscribe:
            b.subscribePresence(True)
        return b

    def command(line: str) -> bool:
        words = line.split(" ", 2)
        cmd = words[0]
        if cmd == "call":
            c = Call(acc)
            c.makeCall(f"sip:{words[1]}@{a.registrar}", pj.CallOpParam(True))
        elif cmd == "answer":
            for c in list(calls.values()):
                if c.getInfo().state in (pj.PJSIP_INV_STATE_INCOMING, pj.PJSIP_INV_STATE_EARLY):
                    op = pj.CallOpParam()
                    op.statusCode = 200
                    c.answer(op)
        elif cmd == "hangup":
            for c in list(calls.values()):
                try:
                    c.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
        elif cmd == "dtmf":
            for c in list(calls.values()):
                if c.getInfo().state == pj.PJSIP_INV_STATE_CONFIRMED:
                    c.dialDtmf(words[1])
        elif cmd == "watch":
            buddy(words[1], True)
        elif cmd == "im":
            prm = pj.SendInstantMessageParam()
            prm.content = words[2] if len(words) > 2 else ""
            buddy(words[1], False).sendInstantMessage(prm)
        elif cmd == "quit":
            return False
        return True

    deadline = time.time() + a.timeout
    running = True
    while running and time.time() < deadline:
        ep.libHandleEvents(10)
        while running and select.select([sys.stdin], [], [], 0)[0]:
            line = sys.stdin.readline()
            if not line:
                running = False
                break
            try:
                running = command(line.strip())
            except pj.Error as exc:
                say(f"ERROR {line.strip()}: {exc.info()}")
    # Unregister on the way out (a real phone switched off cleanly does), so the
    # PBX sees it gone at once.
    try:
        acc.setRegistration(False)
        end = time.time() + 3
        while time.time() < end and not unregistered[0]:
            ep.libHandleEvents(10)
    except pj.Error:
        pass
    for c in calls.values():
        c.rec = c.player = None
    gc.collect()
    for path in recordings:
        if os.path.exists(path):
            _fix_wav_sizes(path)
    sys.stdout.flush()
    # Not libDestroy(): the Call wrappers would be destroyed after the library and
    # abort the process (as tests/e2e/pjsua2_phone.py explains).
    os._exit(0)


def _fix_wav_sizes(path: str) -> None:
    """The RIFF and data sizes from the file's length (a recorder still open at exit
    has not written them)."""
    size = os.path.getsize(path)
    if size < 44:
        return
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(40)
        f.write(struct.pack("<I", size - 44))


if __name__ == "__main__":
    main()
