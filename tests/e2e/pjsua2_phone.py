#!/usr/bin/env python3
"""A headless PJSUA2 softphone for the end-to-end tests (pip: pjsua2-python).

Registers USER at the PBX, then calls --call EXT or answers (--answer;
--answer-after S rings S seconds first; --auto-answer: only calls whose INVITE
asks for it with Call-Info answer-after or Alert-Info, as desk phones do for
paging) or only rings (--ring: 180 until the call is cancelled); plays
--play WAV into every call and records what it hears into --record WAV (null
sound device: the conference bridge's clock keeps the recording going, silence
included; one file for all of the phone's calls).
--tls registers and calls over TLS (--ca: the CA that must have signed the
PBX's certificate), --srtp makes SRTP with SDES keys mandatory. --hold
"T:D,T:D" puts the call on hold T seconds after it is confirmed for D seconds
(re-INVITE sendonly, then sendrecv).

Transfers, as a phone's transfer button does them: --xfer EXT blind-transfers
the first call (REFER) --xfer-after S seconds after it is confirmed; --call2
EXT holds the first call --call2-after S seconds after it is confirmed and
calls EXT; --xfer-replaces then transfers the first call to the second
(REFER with Replaces, pjsua2's xferReplaces) --xfer-after S seconds after the
second is confirmed (with --xfer-ringing, after it starts ringing). On a final
2xx NOTIFY the transferred call is hung up, as phones do. --dtmf "T:DIGITS,..."
sends RFC 4733 digits T seconds after the first call is confirmed.
--hangup-after S hangs up an answered call S seconds after it is confirmed;
--expect-calls N keeps the phone up until N calls have come and gone.

Prints one line per event ("REG 200", "CALL CONFIRMED 200", "HOLD +2.0",
"UNHOLD +3.5", "MEDIA dir=3", "XFER 200 final", "DTMF 5", "INCOMING 6002",
"AUTOANSWER Call-Info: ..."); exits 0 when it registered and its calls were
confirmed and ended.
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
    ap.add_argument("--answer-after", type=float, default=0.0)
    ap.add_argument("--ring", action="store_true",
                    help="stay registered; incoming calls ring (180) until cancelled")
    ap.add_argument("--auto-answer", action="store_true",
                    help="answer only a call that asks for it (Call-Info answer-after, "
                         "Alert-Info auto-answer), as a desk phone does for paging")
    ap.add_argument("--play")
    ap.add_argument("--record")
    ap.add_argument("--hold", default="", help="T:D,T:D seconds after confirmed")
    ap.add_argument("--duration", type=float, default=10.0, help="caller hangs up after")
    ap.add_argument("--hangup-after", type=float, default=0.0, help="answered call ends after")
    ap.add_argument("--xfer", help="blind transfer of the call to this extension")
    ap.add_argument("--xfer-after", type=float, default=2.0)
    ap.add_argument("--call2", help="second call (the call is held first)")
    ap.add_argument("--call2-after", type=float, default=1.0)
    ap.add_argument("--xfer-replaces", action="store_true", help="attended transfer")
    ap.add_argument("--xfer-ringing", action="store_true",
                    help="attended transfer while the second call still rings")
    ap.add_argument("--dtmf", default="", help="T:DIGITS,... after the call is confirmed")
    ap.add_argument("--expect-calls", type=int, default=1)
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

    state: dict = {"reg": None}
    calls: list = []
    shared: dict = {"player": None, "rec": None}

    def media_player():
        if a.play and shared["player"] is None:
            shared["player"] = pj.AudioMediaPlayer()
            shared["player"].createPlayer(a.play, pj.PJMEDIA_FILE_NO_LOOP)
        return shared["player"]

    def media_recorder():
        if a.record and shared["rec"] is None:
            shared["rec"] = pj.AudioMediaRecorder()
            shared["rec"].createRecorder(a.record)
        return shared["rec"]

    class Call(pj.Call):
        def __init__(self, acc: pj.Account, call_id: int = pj.PJSUA_INVALID_ID,
                     outgoing: bool = True) -> None:
            super().__init__(acc, call_id)
            self.outgoing = outgoing
            self.confirmed_at: float | None = None
            self.early_at: float | None = None
            self.ended = False
            self.answer_at: float | None = None
            self.hung_up = False

        def onCallState(self, prm: pj.OnCallStateParam) -> None:
            ci = self.getInfo()
            print(f"CALL {ci.stateText} {ci.lastStatusCode}", flush=True)
            if ci.state == pj.PJSIP_INV_STATE_EARLY and self.early_at is None:
                self.early_at = time.time()
            if ci.state == pj.PJSIP_INV_STATE_CONFIRMED and self.confirmed_at is None:
                self.confirmed_at = time.time()
            if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
                self.ended = True

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
                player = media_player()
                if player is not None:
                    player.startTransmit(am)
                rec = media_recorder()
                if rec is not None:
                    am.startTransmit(rec)

        def onCallTransferStatus(self, prm: pj.OnCallTransferStatusParam) -> None:
            print(f"XFER {prm.statusCode} {'final' if prm.finalNotify else 'progress'}",
                  flush=True)
            if prm.finalNotify and 200 <= prm.statusCode < 300:
                hang_up(self)  # the transfer is done: this call is over for us
                prm.cont = False

        def onDtmfDigit(self, prm: pj.OnDtmfDigitParam) -> None:
            print(f"DTMF {prm.digit}", flush=True)

    def hang_up(c: Call) -> None:
        if c.hung_up or c.ended:
            return
        c.hung_up = True
        try:
            c.hangup(pj.CallOpParam(True))
        except pj.Error:
            pass

    class Account(pj.Account):
        def onRegState(self, prm: pj.OnRegStateParam) -> None:
            state["reg"] = prm.code
            print(f"REG {prm.code} {prm.reason}", flush=True)

        def onIncomingCall(self, prm: pj.OnIncomingCallParam) -> None:
            c = Call(self, prm.callId, outgoing=False)
            calls.append(c)
            print(f"INCOMING {c.getInfo().remoteUri}", flush=True)
            op = pj.CallOpParam()
            answer = a.answer
            if a.auto_answer:
                asked = [line for line in prm.rdata.wholeMsg.splitlines()
                         if line.lower().startswith(("call-info:", "alert-info:"))
                         and ("answer-after=0" in line or "auto" in line.lower())]
                for line in asked:
                    print(f"AUTOANSWER {line.strip()}", flush=True)
                answer = bool(asked)
            op.statusCode = 200 if answer and not a.answer_after else 180
            c.answer(op)
            if answer and a.answer_after:
                c.answer_at = time.time() + a.answer_after

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
    dtmf = []
    for item in filter(None, a.dtmf.split(",")):
        at, digits = item.split(":")
        dtmf.append([float(at), digits])
    deadline = time.time() + a.timeout
    placed = False
    first: Call | None = None
    second: Call | None = None
    xferred = False
    while time.time() < deadline:
        ep.libHandleEvents(10)
        now = time.time()
        if state["reg"] is not None and state["reg"] >= 300:
            break
        if (state["reg"] == 200 and not a.call and not a.answer and not a.auto_answer
                and not a.ring):
            break  # registration only
        if state["reg"] == 200 and a.call and not placed:
            first = Call(acc)
            calls.append(first)
            placed = True
            first.makeCall(f"sip:{a.call}@{a.registrar}{tp}", pj.CallOpParam(True))
        for c in calls:
            if c.answer_at is not None and now >= c.answer_at and not c.ended:
                c.answer_at = None
                op = pj.CallOpParam()
                op.statusCode = 200
                try:
                    c.answer(op)
                except pj.Error as exc:
                    print(f"ANSWER error {exc.info()}", flush=True)
            if not c.outgoing and a.hangup_after and c.confirmed_at is not None and \
                    now - c.confirmed_at > a.hangup_after:
                hang_up(c)
        if first is None and calls:
            first = calls[0]
        if first is not None and first.confirmed_at is not None and not first.ended:
            elapsed = now - first.confirmed_at
            while holds and elapsed >= holds[0][0]:
                _, action = holds.pop(0)
                prm = pj.CallOpParam(True)
                try:
                    if action == "hold":
                        first.setHold(prm)
                    else:
                        prm.opt.flag = pj.PJSUA_CALL_UNHOLD
                        first.reinvite(prm)
                    print(f"{action.upper()} +{elapsed:.1f}", flush=True)
                except pj.Error as exc:
                    print(f"{action.upper()} error {exc.info()}", flush=True)
            while dtmf and elapsed >= dtmf[0][0]:
                _, digits = dtmf.pop(0)
                try:
                    first.dialDtmf(digits)
                    print(f"SENT {digits}", flush=True)
                except pj.Error as exc:
                    print(f"SENT error {exc.info()}", flush=True)
            if a.xfer and not xferred and elapsed >= a.xfer_after:
                xferred = True
                try:
                    first.xfer(f"sip:{a.xfer}@{a.registrar}{tp}", pj.CallOpParam(True))
                    print(f"REFER {a.xfer}", flush=True)
                except pj.Error as exc:
                    print(f"REFER error {exc.info()}", flush=True)
            if a.call2 and second is None and elapsed >= a.call2_after:
                try:
                    first.setHold(pj.CallOpParam(True))
                except pj.Error as exc:
                    print(f"HOLD error {exc.info()}", flush=True)
                second = Call(acc)
                calls.append(second)
                second.makeCall(f"sip:{a.call2}@{a.registrar}{tp}", pj.CallOpParam(True))
            if a.xfer_replaces and second is not None and not xferred:
                since = second.early_at if a.xfer_ringing else second.confirmed_at
                if since is not None and now - since >= a.xfer_after:
                    xferred = True
                    try:
                        first.xferReplaces(second, pj.CallOpParam(True))
                        print("REFER replaces", flush=True)
                    except pj.Error as exc:
                        print(f"REFER error {exc.info()}", flush=True)
            if a.call and elapsed > a.duration:
                for c in calls:
                    hang_up(c)
        if calls and all(c.ended for c in calls) and len(calls) >= a.expect_calls:
            break
    confirmed = [c for c in calls if c.confirmed_at is not None]
    ok = state["reg"] == 200 and (
        (not a.call and not a.answer and not a.auto_answer and not a.ring)
        or (a.ring and bool(calls) and all(c.ended for c in calls))
        or (bool(confirmed) and all(c.ended for c in calls)))
    shared["rec"] = shared["player"] = None
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
