#!/usr/bin/env python3
"""A headless PJSUA2 softphone for the end-to-end tests (pip: pjsua2-python).

Registers USER at the PBX, then calls --call EXT or answers (--answer; --auto-answer:
only calls whose INVITE asks for it with Call-Info answer-after or Alert-Info, as
desk phones do for paging) or only rings (--ring: 180 until the call is cancelled);
plays --play WAV into the call and records what it hears into --record WAV
(null sound device: the conference bridge's clock keeps the recording going,
silence included). --tls registers and calls over TLS (--ca: the CA that must have
signed the PBX's certificate), --srtp makes SRTP with SDES keys mandatory.
--hold "T:D,T:D" puts the call on hold T seconds after it
is confirmed for D seconds (re-INVITE sendonly, then sendrecv). Prints one line
per event ("REG 200", "CALL CONFIRMED 200", "HOLD +2.0", "UNHOLD +3.5",
"MEDIA dir=3"); exits 0 when it registered and its call was confirmed and ended.
Everything is bound to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import gc
import os
import struct
import sys
import time

import pjsua2 as pj


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--user", required=True)
    ap.add_argument("--password", required=True)
    ap.add_argument("--registrar", required=True, help="host:port of the PBX")
    ap.add_argument("--port", type=int, required=True)
    ap.add_argument("--rtp-port", type=int, default=0, help="0: any")
    ap.add_argument("--call")
    ap.add_argument("--answer", action="store_true")
    ap.add_argument("--ring", action="store_true",
                    help="stay registered; incoming calls ring (180) until cancelled")
    ap.add_argument("--auto-answer", action="store_true",
                    help="answer only a call that asks for it (Call-Info answer-after, "
                         "Alert-Info auto-answer), as a desk phone does for paging")
    ap.add_argument("--play")
    ap.add_argument("--record")
    ap.add_argument("--hold", default="", help="T:D,T:D seconds after confirmed")
    ap.add_argument("--duration", type=float, default=10.0, help="caller hangs up after")
    ap.add_argument("--tls", action="store_true", help="SIP over TLS to the registrar")
    ap.add_argument("--ca", help="CA file that must have signed the registrar's certificate")
    ap.add_argument("--srtp", action="store_true", help="SRTP with SDES keys, mandatory")
    ap.add_argument("--timeout", type=float, default=60.0)
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
    if a.tls:
        tc.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
        if a.ca:
            tc.tlsConfig.CaListFile = a.ca
            tc.tlsConfig.verifyServer = True
    ep.transportCreate(pj.PJSIP_TRANSPORT_TLS if a.tls else pj.PJSIP_TRANSPORT_UDP, tc)
    ep.libStart()
    ep.audDevManager().setNullDev()
    for c in ep.codecEnum2():  # G.711 only, like a basic desk phone
        ep.codecSetPriority(c.codecId, 200 if c.codecId.startswith(("PCMU", "PCMA")) else 0)

    state: dict = {"reg": None, "confirmed_at": None, "ended": False}
    calls: list = []

    class Call(pj.Call):
        def __init__(self, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID) -> None:
            super().__init__(acc, call_id)
            self.player = None
            self.rec = None

        def onCallState(self, prm: pj.OnCallStateParam) -> None:
            ci = self.getInfo()
            print(f"CALL {ci.stateText} {ci.lastStatusCode}", flush=True)
            if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and state["confirmed_at"] is None:
                state["confirmed_at"] = time.time()
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                state["ended"] = True

        def onCallMediaState(self, prm: pj.OnCallMediaStateParam) -> None:
            ci = self.getInfo()
            for i, mi in enumerate(ci.media):
                if mi.type != pj.PJMEDIA_TYPE_AUDIO:
                    continue
                print(f"MEDIA status={mi.status} dir={mi.dir}", flush=True)
                if mi.status not in (pj.PJSUA_CALL_MEDIA_ACTIVE,
                                     pj.PJSUA_CALL_MEDIA_LOCAL_HOLD,
                                     pj.PJSUA_CALL_MEDIA_REMOTE_HOLD):
                    continue
                am = self.getAudioMedia(i)
                if a.play and self.player is None:
                    self.player = pj.AudioMediaPlayer()
                    self.player.createPlayer(a.play, pj.PJMEDIA_FILE_NO_LOOP)
                if self.player is not None:
                    self.player.startTransmit(am)
                if a.record and self.rec is None:
                    self.rec = pj.AudioMediaRecorder()
                    self.rec.createRecorder(a.record)
                if self.rec is not None:
                    am.startTransmit(self.rec)

    class Account(pj.Account):
        def onRegState(self, prm: pj.OnRegStateParam) -> None:
            state["reg"] = prm.code
            print(f"REG {prm.code} {prm.reason}", flush=True)

        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
            c = Call(self, prm.callId)
            calls.append(c)
            op = pj.CallOpParam()
            answer = a.answer
            if a.auto_answer:
                asked = [line for line in prm.rdata.wholeMsg.splitlines()
                         if line.lower().startswith(("call-info:", "alert-info:"))
                         and ("answer-after=0" in line or "auto" in line.lower())]
                for line in asked:
                    print(f"AUTOANSWER {line.strip()}", flush=True)
                answer = bool(asked)
            op.statusCode = 200 if answer else 180
            c.answer(op)

    tp = ";transport=tls" if a.tls else ""
    acfg = pj.AccountConfig()
    acfg.idUri = f"sip:{a.user}@{a.registrar}"
    acfg.regConfig.registrarUri = f"sip:{a.registrar}{tp}"
    if a.tls:
        acfg.sipConfig.proxies.append(f"sip:{a.registrar}{tp};lr")
    if a.srtp:  # SDES only (no DTLS-SRTP), and nothing but SRTP
        acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
        acfg.mediaConfig.srtpSecureSignaling = 1 if a.tls else 0
        keyings = pj.IntVector()
        keyings.append(pj.PJMEDIA_SRTP_KEYING_SDES)
        acfg.mediaConfig.srtpOpt.keyings = keyings
    acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.user, 0, a.password))
    acfg.mediaConfig.transportConfig.port = a.rtp_port
    acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
    acc = Account()
    acc.create(acfg)

    holds = []
    for item in filter(None, a.hold.split(",")):
        at, length = item.split(":")
        holds.append([float(at), "hold"])
        holds.append([float(at) + float(length), "unhold"])
    deadline = time.time() + a.timeout
    placed = False
    while time.time() < deadline and not state["ended"]:
        ep.libHandleEvents(10)
        if state["reg"] is not None and state["reg"] >= 300:
            break
        if (state["reg"] == 200 and not a.call and not a.answer and not a.auto_answer
                and not a.ring):
            break  # registration only
        if state["reg"] == 200 and a.call and not placed:
            c = Call(acc)
            calls.append(c)
            placed = True
            c.makeCall(f"sip:{a.call}@{a.registrar}{tp}", pj.CallOpParam(True))
        confirmed = state["confirmed_at"]
        if confirmed is None:
            continue
        elapsed = time.time() - confirmed
        while holds and elapsed >= holds[0][0]:
            _, action = holds.pop(0)
            for c in calls:
                prm = pj.CallOpParam(True)
                try:
                    if action == "hold":
                        c.setHold(prm)
                    else:
                        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
                        c.reinvite(prm)
                    print(f"{action.upper()} +{elapsed:.1f}", flush=True)
                except pj.Error as exc:
                    print(f"{action.upper()} error {exc.info()}", flush=True)
        if a.call and elapsed > a.duration:
            for c in calls:
                try:
                    c.hangup(pj.CallOpParam(True))
                except pj.Error:
                    pass
            a.call = None  # hang up once, then wait for DISCONNECTED
    ok = state["reg"] == 200 and (
        (not a.call and not a.answer and not a.auto_answer and not a.ring)
        or (a.ring and state["ended"])
        or (state["confirmed_at"] is not None and state["ended"]))
    for c in calls:
        c.rec = c.player = None
    gc.collect()
    if a.record and os.path.exists(a.record):
        _fix_wav_sizes(a.record)
    sys.stdout.flush()
    # Not libDestroy(): the Call wrappers would be destroyed after the library and
    # abort the process (pjsua_call_set_user_data asserts on a dead call id).
    os._exit(0 if ok else 1)


def _fix_wav_sizes(path: str) -> None:
    """pjmedia writes the RIFF and data sizes only when the recorder is destroyed,
    which the exit below skips: fill them in from the file's length."""
    size = os.path.getsize(path)
    with open(path, "r+b") as f:
        f.seek(4)
        f.write(struct.pack("<I", size - 8))
        f.seek(40)
        f.write(struct.pack("<I", size - 44))


if __name__ == "__main__":
    main()
