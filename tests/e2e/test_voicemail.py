"""Voicemail end to end: SIPp callers leave messages through the real PBX on
loopback, a real SMTP server (aiosmtpd) receives the mail, VoiceMailMain is
driven with RFC 4733 DTMF from the test's own RTP socket, and a raw SIP client
subscribes to message-summary (MWI). Audio is checked by content: the WAV
attached to the mail and the message played back correlate with what the
caller sent.
"""

from __future__ import annotations

import contextlib
import email
import email.policy
import io
import re
import socket
import subprocess
import threading
import time
import wave
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from email.message import EmailMessage
from pathlib import Path

import pytest
from aiosmtpd.controller import Controller

from pbx.sip.auth import build_authorization, parse_challenge
from pbx.sip.message import Request, Response, make_response, parse_message
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import SOUNDS, RtpEndpoint, chirp, correlation, g711_roundtrip, prompt_pcm
from tests.e2e.sipclient import SipClient
from tests.e2e.sipp import call_scenario, media_address, run_sipp, sipp_errors

SIP_CONF = """\
[general]
context=default
allowguest=no

[office](!)
type=friend
host=dynamic
context=internal

[6001](office)
secret=6001pass
callerid="Alice" <6001>

[6002](office)
secret=6002pass
callerid="Bob" <6002>
mailbox=6002@default
"""

# 6002 never registers: Dial() fails at once (CHANUNAVAIL) and the caller
# reaches the mailbox; `s` skips vm-intro to keep the test short.
DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => 6002,1,Dial(SIP/6002,2)
 same => n,VoiceMail(6002@default,us)
 same => n,Hangup()
exten => 800,1,VoiceMailMain()
exten => 801,1,VoiceMailMain(6002@default)
"""

MAXSILENCE = 2
VOICEMAIL_CONF = f"""\
[general]
attach=yes
serveremail=pbx@example.com
minsecs=1
maxsilence={MAXSILENCE}

[default]
6002 => 4242,Bob,bob@example.com
"""

CALLER = ("6001", "6001pass")
PIN = "4242"
MESSAGE_SECONDS = 2.0


# --- the SMTP server ---------------------------------------------------------------
class Mailbag:
    """aiosmtpd handler keeping every message it accepts."""

    def __init__(self) -> None:
        self.messages: list[EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []
        self._cond = threading.Condition()

    async def handle_DATA(self, server: object, session: object, envelope: object) -> str:
        """Keep the message (parsed) and its envelope."""
        raw: bytes = envelope.original_content or envelope.content  # type: ignore[attr-defined]
        msg = email.message_from_bytes(raw, policy=email.policy.default)
        with self._cond:
            self.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))  # type: ignore[attr-defined]
            self.messages.append(msg)  # type: ignore[arg-type]
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def wait(self, n: int, timeout: float) -> list[EmailMessage]:
        """At least `n` messages, or fail after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self.messages) < n:
                left = deadline - time.monotonic()
                if left <= 0:
                    pytest.fail(f"expected {n} mails, got {len(self.messages)}")
                self._cond.wait(left)
            return list(self.messages)


@dataclass
class SmtpServer:
    """A real aiosmtpd SMTP server on 127.0.0.1 (started and stopped by the test)."""

    port: int
    bag: Mailbag = field(default_factory=Mailbag)
    controller: Controller | None = None

    def start(self) -> SmtpServer:
        self.controller = Controller(self.bag, hostname="127.0.0.1", port=self.port)
        self.controller.start()
        return self

    def stop(self) -> None:
        if self.controller is not None:
            self.controller.stop()
            self.controller = None


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer(free_port(socket.SOCK_STREAM, both=False)).start()
    try:
        yield server
    finally:
        server.stop()


def vm_config(tmp: Path, smtp_port: int) -> PbxProcess:
    """The PBX config: SMTP on `smtp_port`, the repo's prompts, fast mail retries."""
    proc = make_config(tmp, sip_conf=SIP_CONF, extensions=DIALPLAN, extra_yaml=(
        f"smtp: {{host: 127.0.0.1, port: {smtp_port}, timeout: 5}}\n"
        f"sounds: {{path: [{SOUNDS.parent}]}}\n"
        "voicemail: {retry_min: 0.5, retry_max: 1}\n"))
    (tmp / "voicemail.conf").write_text(VOICEMAIL_CONF)
    return proc


def start(proc: PbxProcess) -> PbxProcess:
    """Start the PBX and wait until voicemail is up too. It answers OPTIONS before
    (see test_subscribe_is_handled_as_soon_as_the_pbx_answers): until then a
    SUBSCRIBE gets 405 and VoiceMail() would find no service."""
    proc.start()
    client = SipClient(proc.host, proc.sip_port, "6002", "6002pass")
    try:
        deadline = time.monotonic() + 10
        while True:
            status = client.send(client.request("SUBSCRIBE", headers=[
                ("Event", "message-summary"), ("Expires", "0")])).status
            if status != 405:
                return proc
            assert time.monotonic() < deadline, "SUBSCRIBE is never handled"
            time.sleep(0.05)
    finally:
        client.close()


@pytest.fixture
def pbx(tmp_path: Path, smtp: SmtpServer) -> Iterator[PbxProcess]:
    proc = start(vm_config(tmp_path, smtp.port))
    try:
        yield proc
    finally:
        proc.stop()


# --- SIPp callers ----------------------------------------------------------------------
@dataclass
class Call:
    """One SIPp caller in the background; its media is the test's RtpEndpoint."""

    proc: subprocess.Popen
    tag: str
    tmp: Path
    rtp: RtpEndpoint

    @property
    def messages(self) -> str:
        path = self.tmp / f"{self.tag}-messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def media(self, timeout: float = 10.0) -> tuple[str, int]:
        addr = media_address(self.tmp / f"{self.tag}-media.log", timeout)
        assert addr is not None, f"{self.tag}: no SDP from the PBX\n{self.messages[-3000:]}"
        assert addr[0] == "127.0.0.1", addr
        return addr

    def finish(self, pbx: PbxProcess, timeout: float = 40.0) -> None:
        """SIPp must end with its scenario passed (here: the PBX's BYE answered)."""
        try:
            _, err = self.proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            _, err = self.proc.communicate()
            pytest.fail(f"{self.tag}: SIPp did not finish\n{self.messages[-3000:]}\n"
                        f"--- pbx log\n{pbx.log()[-4000:]}")
        assert self.proc.returncode == 0, (
            f"{self.tag}: SIPp failed ({self.proc.returncode}): {err[-1500:] if err else ''}\n"
            f"{sipp_errors(self.tmp)}\n--- messages\n{self.messages[-3000:]}\n"
            f"--- pbx log\n{pbx.log()[-4000:]}")


def call(pbx: PbxProcess, tmp: Path, exten: str, rtp: RtpEndpoint, tag: str,
         timeout_s: int = 60) -> Call:
    """6001 calls `exten` and waits for the PBX to hang up (SIPp `pbx_bye`)."""
    extra = ["-trace_logs", "-log_file", str(tmp / f"{tag}-media.log"),
             "-trace_msg", "-message_file", str(tmp / f"{tag}-messages.log")]
    proc = run_sipp(call_scenario("pbx_bye", log_media=True), pbx.host, pbx.sip_port, tmp=tmp,
                    service=exten, user=CALLER[0], password=CALLER[1],
                    keys={"rtpport": str(rtp.port), "codec_pt": "0", "codec_name": "PCMU"},
                    timeout_s=timeout_s, extra=extra, background=True)
    return Call(proc, tag, tmp, rtp)  # type: ignore[arg-type]


# --- listening and pressing keys ---------------------------------------------------
def prompt_seconds(*names: str) -> float:
    return sum(len(prompt_pcm(n)) for n in names) / 16000


def wait_prompt_end(rtp: RtpEndpoint, since: int, what: str, quiet: float = 0.5,
                    timeout: float = 20.0) -> bytes:
    """Wait for the PBX to start playing (packets after index `since`) and to stop;
    returns the audio it played."""
    assert rtp.wait_for(lambda ps: len(ps) > since + 3, timeout), f"nothing played: {what}"
    assert rtp.wait_quiet(quiet, timeout), f"{what}: the PBX kept playing"
    return pcm_since(rtp, since)


def wait_audio(rtp: RtpEndpoint, since: int, seconds: float, what: str,
               timeout: float = 30.0) -> bytes:
    """Wait until `seconds` of audio (plus slack: the prompt a key interrupted
    keeps playing until the key is through) arrived after packet index `since`."""
    frames = int((seconds + 0.8) * 50)
    assert rtp.wait_for(lambda ps: len(ps) >= since + frames, timeout), (
        f"{what}: less than {seconds:.1f} s of audio")
    return pcm_since(rtp, since)


def pcm_since(rtp: RtpEndpoint, since: int) -> bytes:
    from tests.e2e.media import DECODE

    with rtp._cond:
        packets = rtp.packets[since:]
    return b"".join(DECODE[0](p.payload) for p in packets if p.pt == 0)


def mark(rtp: RtpEndpoint) -> int:
    with rtp._cond:
        return len(rtp.packets)


def press(rtp: RtpEndpoint, dest: tuple[str, int], keys: str) -> None:
    """Type `keys` as RFC 4733 events (PT 101), a short gap between them."""
    for k in keys:
        rtp.send_dtmf(dest, k)
        time.sleep(0.08)


def heard(audio: bytes, prompt: str, threshold: float = 0.9) -> bool:
    """Whether the whole prompt is in `audio` (by normalised cross-correlation)."""
    return correlation(audio, g711_roundtrip(prompt_pcm(prompt))) > threshold


def message_audio(seconds: float = MESSAGE_SECONDS, seed: int = 0) -> bytes:
    """What a caller says: a sweep (one clear correlation peak), different per seed."""
    return chirp(seconds, f0=300.0 + 200 * seed, f1=3000.0 - 300 * seed)


def leave_message(pbx: PbxProcess, tmp: Path, rtp: RtpEndpoint, tag: str,
                  audio: bytes) -> Call:
    """Call 6002 (unregistered): greeting and beep, then `audio`, then silence
    until the PBX hangs up (maxsilence). Returns the finished call."""
    c = call(pbx, tmp, "6002", rtp, tag)
    dest = c.media()
    # The greeting and beep end; the PBX is silent while it records.
    greeting = wait_prompt_end(rtp, 0, "greeting", quiet=0.4)
    assert heard(greeting, "vm-isunavail"), "the unavailable greeting was not played"
    assert heard(greeting, "beep"), "no beep before the recording"
    rtp.send_audio(dest, audio, 0, background=False)
    c.finish(pbx)
    return c


def wav_pcm(data: bytes) -> bytes:
    with wave.open(io.BytesIO(data), "rb") as w:
        assert (w.getframerate(), w.getsampwidth(), w.getnchannels()) == (8000, 2, 1)
        return w.readframes(w.getnframes())


def spool(pbx: PbxProcess, folder: str) -> list[str]:
    path = pbx.config_dir / "var" / "voicemail" / "default" / "6002" / folder
    return sorted(p.name for p in path.glob("msg*.wav")) if path.is_dir() else []


def wait_log(pbx: PbxProcess, pattern: str, timeout: float = 10.0, count: int = 1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(re.findall(pattern, pbx.log())) >= count:
            return
        time.sleep(0.1)
    pytest.fail(f"{pattern!r} (x{count}) not in the PBX log:\n{pbx.log()[-4000:]}")


def check_mail(msg: EmailMessage, audio: bytes, number: int) -> None:
    """Asterisk's default subject and body, the headers, and the WAV's audio."""
    assert msg["Subject"] == f"[PBX]: New message {number} in mailbox 6002", msg["Subject"]
    assert "bob@example.com" in msg["To"] and "pbx@example.com" in msg["From"]
    body = msg.get_body(("plain",))
    assert body is not None
    text = body.get_content()
    seconds = int(msg["X-Asterisk-VM-Duration"])
    assert abs(seconds - MESSAGE_SECONDS) <= 1, msg["X-Asterisk-VM-Duration"]
    assert "Dear Bob:" in text, text
    assert f"a 0:{seconds:02d} long message (number {number})" in text, text
    assert "in mailbox 6002 from Alice" in text, text
    assert time.strftime("%B %d, %Y") in text, text  # the date (emaildateformat)
    assert msg["X-Asterisk-VM-Caller-ID-Num"] == "6001"
    wavs = [p for p in msg.iter_attachments() if p.get_content_type() == "audio/x-wav"]
    assert len(wavs) == 1, [p.get_content_type() for p in msg.iter_attachments()]
    assert wavs[0].get_filename() == f"msg{number - 1:04d}.wav"
    recorded = wav_pcm(wavs[0].get_content())
    ncc = correlation(recorded, g711_roundtrip(audio))
    assert ncc > 0.8, f"the attached recording does not match what was said (ncc {ncc:.2f})"


# --- MWI: a raw SIP subscriber ----------------------------------------------------------
class MwiSubscriber:
    """6002's phone subscribing to message-summary; answers every NOTIFY with 200."""

    def __init__(self, pbx: PbxProcess, user: str = "6002", password: str = "6002pass") -> None:
        self.client = SipClient(pbx.host, pbx.sip_port, user, password)
        self.notifies: list[Request] = []
        self.responses: list[Response] = []  # final answers to in-dialog requests
        self.to_tag = ""
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def subscribe(self, expires: int = 600) -> None:
        c = self.client
        headers = [("Event", "message-summary"), ("Expires", str(expires)),
                   ("Accept", "application/simple-message-summary"),
                   ("Contact", f"<sip:{c.user}@{c.host}:{c.local_port}>")]
        first = c.send(c.request("SUBSCRIBE", headers=headers))
        assert first.status == 401, f"SUBSCRIBE must be challenged like REGISTER: {first.status}"
        challenge = parse_challenge(first.headers.get_all("WWW-Authenticate")[0])
        auth = build_authorization(challenge, c.user, c.password, "SUBSCRIBE",
                                   f"sip:{c.hostport}")
        assert auth is not None
        # A new SUBSCRIBE outside any dialog (no To tag), with credentials.
        final = c.send(c.request("SUBSCRIBE", headers=[*headers, ("Authorization", auth)]))
        assert final.status == 200, final.status
        assert final.headers.get("Expires"), "200 to SUBSCRIBE must say Expires"
        self.to_tag = final.to_addr.tag or ""
        assert self.to_tag, "the 200 to SUBSCRIBE must set the dialog's To tag"
        self.headers = headers
        for req in c.received:  # a NOTIFY that overtook the 200
            self._answer(req)
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        sock = self.client.sock
        assert sock is not None
        sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = sock.recv(65535)
            except TimeoutError:
                continue
            except OSError:
                return
            msg = parse_message(data)
            if isinstance(msg, Request):
                self._answer(msg)
            elif msg.status >= 200:
                with self._cond:
                    self.responses.append(msg)
                    self._cond.notify_all()

    def _answer(self, req: Request) -> None:
        resp = make_response(req, 200, "OK", to_tag=self.client.tag)
        assert self.client.sock is not None
        self.client.sock.sendto(resp.to_bytes(), (self.client.host, self.client.port))
        if req.method == "NOTIFY":
            with self._cond:
                # Retransmissions carry the same CSeq: count each NOTIFY once.
                if all(n.cseq != req.cseq for n in self.notifies):
                    self.notifies.append(req)
                self._cond.notify_all()

    def wait_summary(self, voice: str, timeout: float = 10.0) -> Request:
        """The first NOTIFY whose body says `Voice-Message: <voice>` (e.g. "1/0")."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for n in self.notifies:
                    if f"Voice-Message: {voice} " in n.body.decode(errors="replace"):
                        return n
                left = deadline - time.monotonic()
                if left <= 0:
                    bodies = [n.body.decode(errors="replace") for n in self.notifies]
                    pytest.fail(f"no NOTIFY with Voice-Message {voice}: {bodies}")
                self._cond.wait(left)

    def unsubscribe(self) -> Response:
        """SUBSCRIBE with Expires: 0 inside the dialog; returns the final answer."""
        c = self.client
        headers = [(k, "0" if k == "Expires" else v) for k, v in self.headers]
        raw = c.request("SUBSCRIBE", headers=headers).decode()
        # Inside the dialog: the To tag the PBX gave in its 200.
        raw = re.sub(r"^(To: [^\r\n]*)", rf"\1;tag={self.to_tag}", raw, count=1, flags=re.M)
        with self._cond:
            n = len(self.responses)
        assert c.sock is not None
        c.sock.sendto(raw.encode(), (c.host, c.port))
        with self._cond:
            assert self._cond.wait_for(lambda: len(self.responses) > n, 5), "no answer"
            return self.responses[n]

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        self.client.close()


# --- the tests ---------------------------------------------------------------------------
def test_unanswered_call_leaves_a_message_that_is_mailed(
        pbx: PbxProcess, smtp: SmtpServer, tmp_path: Path) -> None:
    """Nobody answers 6002: greeting, beep, the caller's sweep is recorded; the mail
    has Asterisk's subject and body and a WAV that correlates with what was sent."""
    audio = message_audio()
    with RtpEndpoint() as rtp:
        leave_message(pbx, tmp_path, rtp, "deposit", audio)
    [msg] = smtp.bag.wait(1, timeout=15)
    check_mail(msg, audio, 1)
    assert smtp.bag.envelopes[0] == ("pbx@example.com", ["bob@example.com"])
    assert spool(pbx, "INBOX") == ["msg0000.wav"]
    wait_log(pbx, r"voicemail mail \d+ for 6002@default delivered via smtp")
    queue = pbx.cli("mail", "queue")
    assert queue.returncode == 0 and "6002@default" not in queue.stdout, queue.stdout


def test_voicemailmain_with_rfc4733_dtmf(pbx: PbxProcess, smtp: SmtpServer,
                                         tmp_path: Path) -> None:
    """Two messages left at once; then VoiceMailMain: three wrong PINs end the call
    with goodbye; the right PIN hears the count, plays message 1 (the caller's
    audio), deletes it, plays message 2 and saves it to Work, changes the PIN;
    the new PIN logs in."""
    audios = [message_audio(seed=0), message_audio(seed=1)]
    with RtpEndpoint() as a, RtpEndpoint() as b:
        threads = [threading.Thread(target=leave_message, args=(pbx, tmp_path, r, f"dep{i}",
                                                                 audios[i]))
                   for i, r in enumerate((a, b))]
        errors: list[BaseException] = []
        for t in threads:
            t.run = _capturing(t.run, errors)  # type: ignore[method-assign]
            t.start()
        for t in threads:
            t.join(60)
        assert not errors, errors
    mails = smtp.bag.wait(2, timeout=15)
    assert sorted(m["Subject"] for m in mails) == [
        "[PBX]: New message 1 in mailbox 6002", "[PBX]: New message 2 in mailbox 6002"]
    assert spool(pbx, "INBOX") == ["msg0000.wav", "msg0001.wav"]
    # Which caller got message 1 depends on who finished first: the mails say.
    by_number = {int(m["X-Asterisk-VM-Message-Num"]): m for m in mails}
    said = {}
    for n, m in by_number.items():
        pcm = wav_pcm(next(m.iter_attachments()).get_content())
        said[n] = max(audios, key=lambda x: correlation(pcm, g711_roundtrip(x)))

    # Three wrong PINs: vm-incorrect each time, then goodbye and the PBX hangs up.
    with RtpEndpoint() as rtp:
        c = call(pbx, tmp_path, "801", rtp, "wrongpin")
        dest = c.media()
        start = 0  # the prompt may start before SIPp logs the SDP
        for attempt in range(3):
            got = wait_prompt_end(rtp, start, f"vm-password #{attempt + 1}")
            assert heard(got, "vm-password"), f"attempt {attempt + 1}: no PIN prompt"
            assert attempt == 0 or heard(got, "vm-incorrect"), "no 'incorrect' after a bad PIN"
            start = mark(rtp)
            press(rtp, dest, "1111#")
            wait_log(pbx, r"login failed for mailbox '6002'", count=attempt + 1)
        c.finish(pbx)
        tail = pcm_since(rtp, start)
        assert heard(tail, "vm-incorrect") and heard(tail, "vm-goodbye"), (
            "three wrong PINs must end with 'incorrect' and 'goodbye'")

    # The right PIN: the count, play, delete, next, save to Work, change the PIN.
    new_pin = "5555"
    with RtpEndpoint() as rtp:
        c = call(pbx, tmp_path, "801", rtp, "session")
        dest = c.media()
        wait_prompt_end(rtp, 0, "vm-password")
        start = mark(rtp)
        press(rtp, dest, PIN + "#")
        # "You have 2 new messages" (then the menu, which "1" interrupts).
        intro = ["vm-youhave", "digits/2", "vm-INBOX", "vm-messages"]
        got = wait_audio(rtp, start, prompt_seconds(*intro) + 0.3, "the count")
        assert heard(got, "vm-youhave") and heard(got, "digits/2"), "the count was not said"
        start = mark(rtp)
        press(rtp, dest, "1")
        got = wait_audio(rtp, start, prompt_seconds("vm-first", "vm-message")
                         + MESSAGE_SECONDS + 0.5, "message 1")
        ncc = correlation(got, g711_roundtrip(said[1]))
        assert ncc > 0.8, f"message 1 played back does not match what was left ({ncc:.2f})"
        start = mark(rtp)
        press(rtp, dest, "7")  # delete
        got = wait_audio(rtp, start, prompt_seconds("vm-message", "digits/1", "vm-deleted"),
                         "deleted")
        assert heard(got, "vm-deleted")
        start = mark(rtp)
        press(rtp, dest, "6")  # next
        got = wait_audio(rtp, start, prompt_seconds("vm-last", "vm-message")
                         + MESSAGE_SECONDS + 0.5, "message 2")
        ncc = correlation(got, g711_roundtrip(said[2]))
        assert ncc > 0.8, f"message 2 played back does not match what was left ({ncc:.2f})"
        start = mark(rtp)
        press(rtp, dest, "9")  # save: which folder? 2 = Work
        wait_audio(rtp, start, 0.3, "vm-savefolder")
        start = mark(rtp)
        press(rtp, dest, "2")
        got = wait_audio(rtp, start, prompt_seconds("vm-savedto", "vm-Work"), "saved")
        assert heard(got, "vm-savedto")
        start = mark(rtp)
        press(rtp, dest, "0")  # mailbox options
        wait_audio(rtp, start, 0.3, "vm-options")
        start = mark(rtp)
        press(rtp, dest, "5")  # change the PIN
        got = wait_prompt_end(rtp, start, "vm-newpassword")
        assert heard(got, "vm-newpassword")
        start = mark(rtp)
        press(rtp, dest, new_pin + "#")
        got = wait_prompt_end(rtp, start, "vm-reenterpassword")
        assert heard(got, "vm-reenterpassword")
        start = mark(rtp)
        press(rtp, dest, new_pin + "#")
        wait_log(pbx, r"PIN of 6002@default changed")
        wait_audio(rtp, start, prompt_seconds("vm-passchanged") + 0.3, "vm-passchanged")
        start = mark(rtp)
        press(rtp, dest, "*")  # back to the main menu
        wait_audio(rtp, start, 0.3, "the main menu")
        start = mark(rtp)
        press(rtp, dest, "#")  # exit: goodbye, and the changes are applied
        c.finish(pbx)
        assert heard(pcm_since(rtp, start), "vm-goodbye")
    assert spool(pbx, "INBOX") == [] and spool(pbx, "Old") == []
    assert spool(pbx, "Work") == ["msg0000.wav"], "message 2 saved to Work, 1 deleted"

    # The new PIN works, here through 800 (VoiceMailMain() asks the mailbox too).
    with RtpEndpoint() as rtp:
        c = call(pbx, tmp_path, "800", rtp, "newpin")
        dest = c.media()
        got = wait_prompt_end(rtp, 0, "vm-login")
        assert heard(got, "vm-login"), "VoiceMailMain() must ask the mailbox"
        start = mark(rtp)
        press(rtp, dest, "6002#")
        got = wait_prompt_end(rtp, start, "vm-password")
        assert heard(got, "vm-password")
        start = mark(rtp)
        press(rtp, dest, new_pin + "#")
        intro = ["vm-youhave", "digits/1", "vm-Old", "vm-message"]
        got = wait_audio(rtp, start, prompt_seconds(*intro) + 0.3, "the count")
        assert heard(got, "vm-youhave") and heard(got, "vm-Old"), "no count after the new PIN"
        start = mark(rtp)
        press(rtp, dest, "#")
        c.finish(pbx)
    assert len(re.findall(r"login failed for mailbox '6002'", pbx.log())) == 3


def _capturing(run: Callable[[], None], errors: list[BaseException]) -> Callable[[], None]:
    """A thread target that records its exception for the main thread."""
    def wrapped() -> None:
        try:
            run()
        except BaseException as exc:  # reported by the test
            errors.append(exc)
    return wrapped


def test_mail_left_while_smtp_is_down_arrives_once(tmp_path: Path) -> None:
    """SMTP down at deposit; the PBX restarts; the server comes up: exactly one mail."""
    port = free_port(socket.SOCK_STREAM, both=False)
    pbx = start(vm_config(tmp_path, port))
    server = SmtpServer(port)
    audio = message_audio()
    try:
        with RtpEndpoint() as rtp:
            leave_message(pbx, tmp_path, rtp, "deposit", audio)
        wait_log(pbx, r"voicemail mail \d+ for 6002@default not delivered", timeout=15)
        queue = pbx.cli("mail", "queue")
        assert queue.returncode == 0 and "6002@default" in queue.stdout, queue.stdout
        pbx.stop()
        start(pbx)
        wait_log(pbx, r"voicemail mail \d+ for 6002@default not delivered", timeout=15)
        server.start()
        [msg] = server.bag.wait(1, timeout=20)
        check_mail(msg, audio, 1)
        wait_log(pbx, r"voicemail mail \d+ for 6002@default delivered via smtp")
        # Retries come every second (retry_max): a second copy would show by now.
        time.sleep(3)
        assert len(server.bag.messages) == 1, "the mail must arrive exactly once"
        queue = pbx.cli("mail", "queue")
        assert queue.returncode == 0 and "6002@default" not in queue.stdout, queue.stdout
    finally:
        server.stop()
        pbx.stop()


def test_mwi_notify_after_deposit_and_after_listening(
        pbx: PbxProcess, smtp: SmtpServer, tmp_path: Path) -> None:
    """A subscribed phone gets Voice-Message 0/0, then 1/0 after a deposit, then 0/1
    once the message was played in VoiceMailMain."""
    sub = MwiSubscriber(pbx)
    try:
        sub.subscribe()
        first = sub.wait_summary("0/0")
        assert (first.headers.get("Event") or "").startswith("message-summary")
        assert "active" in (first.headers.get("Subscription-State") or "")
        assert "Messages-Waiting: no" in first.body.decode()
        with RtpEndpoint() as rtp:
            leave_message(pbx, tmp_path, rtp, "deposit", message_audio())
        notify = sub.wait_summary("1/0")
        assert "Messages-Waiting: yes" in notify.body.decode()
        assert notify.call_id == sub.client.call_id, "NOTIFY inside the SUBSCRIBE dialog"
        with RtpEndpoint() as rtp:
            c = call(pbx, tmp_path, "801", rtp, "listen")
            dest = c.media()
            wait_prompt_end(rtp, 0, "vm-password")
            start = mark(rtp)
            press(rtp, dest, PIN + "#")
            wait_audio(rtp, start, prompt_seconds("vm-youhave", "digits/1", "vm-INBOX",
                                                  "vm-message"), "the count")
            start = mark(rtp)
            press(rtp, dest, "1")
            wait_audio(rtp, start, prompt_seconds("vm-first", "vm-message") + MESSAGE_SECONDS,
                       "the message")
            press(rtp, dest, "#")
            c.finish(pbx)
        notify = sub.wait_summary("0/1")
        assert "Messages-Waiting: no" in notify.body.decode()
        assert notify.headers.get("Content-Type") == "application/simple-message-summary"
        # Unsubscribing: 200, and a last NOTIFY that says terminated.
        count = len(sub.notifies)
        resp = sub.unsubscribe()
        assert resp.status == 200, resp.status
        with sub._cond:
            assert sub._cond.wait_for(lambda: len(sub.notifies) > count, 5), "no final NOTIFY"
            last = sub.notifies[count]
        assert (last.headers.get("Subscription-State") or "").startswith("terminated"), (
            last.headers.get("Subscription-State"))
        # A phone of a peer with mailbox= that registers is told at once (unsolicited).
        phone = SipClient(pbx.host, pbx.sip_port, "6002", "6002pass")
        try:
            _, ok = phone.register(expires=60)
            assert ok is not None and ok.status == 200
            assert phone.sock is not None
            deadline = time.monotonic() + 5
            while not any(r.method == "NOTIFY" for r in phone.received):
                assert time.monotonic() < deadline, "no NOTIFY after REGISTER"
                msg = parse_message(phone.sock.recv(65535))
                if isinstance(msg, Request):
                    phone.received.append(msg)
            notify = next(r for r in phone.received if r.method == "NOTIFY")
            assert b"Voice-Message: 0/1 " in notify.body, notify.body
        finally:
            phone.close()
    finally:
        sub.close()


def test_subscribe_is_handled_as_soon_as_the_pbx_answers(tmp_path: Path) -> None:
    """Once the PBX answers SIP at all, SUBSCRIBE must be handled (401), never 405:
    a phone that registers and subscribes at once at start-up must not lose MWI."""
    pbx = vm_config(tmp_path, free_port(socket.SOCK_STREAM, both=False))
    starter = threading.Thread(target=pbx.start, daemon=True)
    statuses: list[int] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        s.settimeout(0.005)
        client = SipClient(pbx.host, pbx.sip_port, "6002", "6002pass")
        client.local_port = s.getsockname()[1]
        starter.start()
        deadline = time.monotonic() + 20
        try:
            # SUBSCRIBE every few ms while the PBX starts, and a few times after.
            after = 0
            while (starter.is_alive() or after < 5) and time.monotonic() < deadline:
                after += not starter.is_alive()
                with contextlib.suppress(OSError):
                    s.sendto(client.request("SUBSCRIBE", headers=[
                        ("Event", "message-summary"), ("Expires", "60")]),
                        ("127.0.0.1", pbx.sip_port))
                end = time.monotonic() + 0.005
                while time.monotonic() < end:
                    try:
                        data = s.recv(65535)
                    except OSError:
                        break
                    with contextlib.suppress(Exception):
                        msg = parse_message(data)
                        if isinstance(msg, Response) and msg.status >= 200:
                            statuses.append(msg.status)
        finally:
            client.close()
            starter.join(20)
            pbx.stop()
    assert statuses and statuses[-1] == 401, statuses
    assert 405 not in statuses, (
        f"SUBSCRIBE answered {statuses.count(405)} x 405 then {statuses.count(401)} x 401:"
        " 405 while the voicemail/MWI service was still starting (pbx/server.py"
        " listens before it registers the SUBSCRIBE handler)")
    assert set(statuses) == {401}, statuses
