#!/usr/bin/env python3
"""Headless PJSUA2 softphone for acceptance tests (from the shared peers, with --tls/--ca/--srtp added) (pip install pjsua2-python; NOT 'pjsua2', whose sdist is broken).
Registers USER at REGISTRAR, then either calls --call EXT or waits for --answer (auto-answer),
plays --play WAV into the call, records what it hears to --record WAV, sends --dtmf DIGITS (RFC 2833)
1 s after answer, hangs up after --duration s (caller) or when the peer hangs up.
Prints one line per event: REG <code>, CALL <state> <code>, DTMF <d>, MEDIA active.
Exit 0 iff registration got 200 and (with --call/--answer) the call reached CONFIRMED and then ended.
All sockets are bound to 127.0.0.1 (no sound card: null audio device)."""
import argparse, sys, time
import pjsua2 as pj

ap = argparse.ArgumentParser()
ap.add_argument("--user", required=True); ap.add_argument("--password", required=True)
ap.add_argument("--registrar", default="127.0.0.1:5070"); ap.add_argument("--port", type=int, default=5088)
ap.add_argument("--rtp-port", type=int, default=18000); ap.add_argument("--tcp", action="store_true")
ap.add_argument("--tls", action="store_true", help="SIP over TLS (sips hop to the registrar)")
ap.add_argument("--ca", help="CA file that must have signed the registrar's certificate (TLS)")
ap.add_argument("--srtp", action="store_true", help="SRTP with SDES keys, mandatory")
ap.add_argument("--call"); ap.add_argument("--answer", action="store_true"); ap.add_argument("--ring", action="store_true", help="ring (180), never answer; stay until --timeout")
ap.add_argument("--play"); ap.add_argument("--record"); ap.add_argument("--dtmf", default="")
ap.add_argument("--duration", type=float, default=6); ap.add_argument("--timeout", type=float, default=30)
ap.add_argument("--log-level", type=int, default=1)
ap.add_argument("--hold-at", type=float, default=0)
ap.add_argument("--hold-for", type=float, default=2)
ap.add_argument("--dtmf-at", type=float, default=1)
ap.add_argument("--dtmf-seq", default="", help="T:DIGITS,T:DIGITS (seconds after answer)")
a = ap.parse_args()

state = {"held": 0, "reg": None, "confirmed": False, "ended": False, "answered_at": None, "dtmf_sent": False, "rx_dtmf": ""}
ep = pj.Endpoint()
calls = []

class Call(pj.Call):
    def __init__(self, acc, call_id=pj.PJSUA_INVALID_ID):
        super().__init__(acc, call_id); self.player = None; self.rec = None
    def onCallState(self, prm):
        ci = self.getInfo()
        print(f"CALL {ci.stateText} {ci.lastStatusCode}", flush=True)
        if ci.state == pj.PJSIP_INV_STATE_CONFIRMED:
            state["confirmed"] = True; state["answered_at"] = time.time()
        if ci.state == pj.PJSIP_INV_STATE_DISCONNECTED:
            state["ended"] = True
    def onCallMediaState(self, prm):
        ci = self.getInfo()
        for i, mi in enumerate(ci.media):
            if mi.type == pj.PJMEDIA_TYPE_AUDIO and mi.status == pj.PJSUA_CALL_MEDIA_ACTIVE:
                am = self.getAudioMedia(i)
                if a.play and not self.player:
                    self.player = pj.AudioMediaPlayer(); self.player.createPlayer(a.play, pj.PJMEDIA_FILE_NO_LOOP)
                if self.player: self.player.startTransmit(am)
                if a.record and not self.rec:
                    self.rec = pj.AudioMediaRecorder(); self.rec.createRecorder(a.record)
                if self.rec: am.startTransmit(self.rec)
                print("MEDIA active", flush=True)
        for i, mi in enumerate(ci.media):
            print(f"MEDIA state status={mi.status} dir={mi.dir}", flush=True)
    def onDtmfDigit(self, prm):
        state["rx_dtmf"] += prm.digit; print(f"DTMF {prm.digit}", flush=True)

class Account(pj.Account):
    def onRegState(self, prm):
        state["reg"] = prm.code; print(f"REG {prm.code} {prm.reason}", flush=True)
    def onIncomingCall(self, prm):
        c = Call(self, prm.callId); calls.append(c)
        op = pj.CallOpParam(); op.statusCode = 180; c.answer(op)
        if a.answer:
            op = pj.CallOpParam(); op.statusCode = 200; c.answer(op)

ep.libCreate()
cfg = pj.EpConfig(); cfg.uaConfig.threadCnt = 0; cfg.uaConfig.mainThreadOnly = True
cfg.logConfig.level = a.log_level; cfg.logConfig.consoleLevel = a.log_level
cfg.medConfig.clockRate = 8000; cfg.medConfig.sndClockRate = 8000; cfg.medConfig.noVad = True
ep.libInit(cfg)
tc = pj.TransportConfig(); tc.port = a.port; tc.boundAddress = "127.0.0.1"; tc.publicAddress = "127.0.0.1"
if a.tls:
    tc.tlsConfig.method = pj.PJSIP_TLSV1_2_METHOD
    if a.ca:
        tc.tlsConfig.CaListFile = a.ca; tc.tlsConfig.verifyServer = True
ep.transportCreate(pj.PJSIP_TRANSPORT_TLS if a.tls else pj.PJSIP_TRANSPORT_TCP if a.tcp else pj.PJSIP_TRANSPORT_UDP, tc)
ep.libStart()
ep.audDevManager().setNullDev()
for c in ep.codecEnum2():  # G.711 only, like a basic desk phone
    ep.codecSetPriority(c.codecId, 200 if c.codecId.startswith(("PCMU", "PCMA")) else 0)

acfg = pj.AccountConfig()
tp = ";transport=tls" if a.tls else ";transport=tcp" if a.tcp else ""
acfg.idUri = f"sip:{a.user}@{a.registrar}"
acfg.regConfig.registrarUri = f"sip:{a.registrar}{tp}"
acfg.sipConfig.proxies.append(f"sip:{a.registrar}{tp};lr")
acfg.sipConfig.authCreds.append(pj.AuthCredInfo("digest", "*", a.user, 0, a.password))
acfg.mediaConfig.transportConfig.port = a.rtp_port
acfg.mediaConfig.transportConfig.boundAddress = "127.0.0.1"
acfg.mediaConfig.transportConfig.publicAddress = "127.0.0.1"
if a.srtp:  # SDES only (no DTLS-SRTP), and nothing but SRTP
    acfg.mediaConfig.srtpUse = pj.PJMEDIA_SRTP_MANDATORY
    acfg.mediaConfig.srtpSecureSignaling = 1 if a.tls else 0
    keyings = pj.IntVector(); keyings.append(pj.PJMEDIA_SRTP_KEYING_SDES)
    acfg.mediaConfig.srtpOpt.keyings = keyings
acc = Account(); acc.create(acfg)

deadline = time.time() + a.timeout; placed = False
while time.time() < deadline:
    ep.libHandleEvents(20)
    if state["reg"] and state["reg"] != 200 and state["reg"] >= 300: break
    if state["reg"] == 200 and a.call and not placed:
        c = Call(acc); calls.append(c); placed = True
        c.makeCall(f"sip:{a.call}@{a.registrar}{tp}", pj.CallOpParam(True))
    if state["answered_at"] and a.dtmf and not state["dtmf_sent"] and time.time() - state["answered_at"] > a.dtmf_at:
        for c in calls:
            try: c.dialDtmf(a.dtmf)
            except pj.Error as e: print("DTMF send error", e.info())
        state["dtmf_sent"] = True; print(f"DTMF sent {a.dtmf}", flush=True)
    if a.dtmf_seq and state["answered_at"]:
        for item in list(state.setdefault("seq", [x.split(":", 1) for x in a.dtmf_seq.split(",")])):
            if time.time() - state["answered_at"] > float(item[0]):
                for c in calls:
                    try: c.dialDtmf(item[1]); print(f"DTMF sent {item[1]} at +{float(item[0]):.1f}s", flush=True)
                    except pj.Error as e: print("DTMF send error", e.info(), flush=True)
                state["seq"].remove(item)
    if a.hold_at and state["answered_at"] and state["held"] == 0 and time.time() - state["answered_at"] > a.hold_at:
        for c in calls:
            try: c.setHold(pj.CallOpParam(True)); print("HOLD sent", flush=True)
            except pj.Error as e: print("HOLD error", e.info(), flush=True)
        state["held"] = 1
    if a.hold_at and state["held"] == 1 and time.time() - state["answered_at"] > a.hold_at + a.hold_for:
        for c in calls:
            try:
                prm = pj.CallOpParam(True); prm.opt.flag = pj.PJSUA_CALL_UNHOLD; c.reinvite(prm); print("UNHOLD sent", flush=True)
            except pj.Error as e: print("UNHOLD error", e.info(), flush=True)
        state["held"] = 2
    if state["answered_at"] and a.call and not state["ended"] and time.time() - state["answered_at"] > a.duration:
        for c in calls:
            try: c.hangup(pj.CallOpParam())
            except pj.Error: pass
    if state["ended"] or (state["reg"] == 200 and not a.call and not a.answer and not a.ring): break
for _ in range(25): ep.libHandleEvents(20)
ok = state["reg"] == 200 and ((not a.call and not a.answer) or (state["confirmed"] and state["ended"]))
print(f"RESULT {'PASS' if ok else 'FAIL'} reg={state['reg']} confirmed={state['confirmed']} ended={state['ended']} rx_dtmf={state['rx_dtmf']!r}", flush=True)
# Teardown order matters: Python Call objects collected after libDestroy() abort (SIGABRT);
# libDestroy() is what closes the WAV recorder (writes its header). So: drop calls, gc, destroy, _exit.
import gc, os
sys.stdout.flush()
del calls[:]; gc.collect()
try:
    ep.hangupAllCalls()
    for _ in range(10): ep.libHandleEvents(20)
    ep.libDestroy()
except Exception as e:
    print("teardown:", e)
sys.stdout.flush(); sys.stderr.flush()
os._exit(0 if ok else 1)
