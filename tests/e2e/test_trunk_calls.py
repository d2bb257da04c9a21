"""Calls both ways through a real provider: Debian's kamailio (tests/e2e/provider/) on
127.0.0.2 as registrar and proxy, challenging the PBX's REGISTER and INVITE with 401
or 407, and a "PSTN number": a SIPp UAS registered at the provider as 2565550100
whose media is the test's own RTP socket, which plays a known WAV.

* out: a baresip phone (6001) dials 9 + the number; the PBX answers the provider's
  challenge with the trunk's credentials; the phone hears the number's WAV and the
  number hears the phone's (by content); the number sees the trunk's fromuser and
  the dialplan's caller ID as P-Asserted-Identity;
* in: a PSTN caller calls the office's registered number through the provider; the
  PBX knows the trunk by its address (no challenge), routes it by the contact user
  (5000) to a pjsua2 phone (6002), with the caller ID of the trusted PAI; audio
  both ways by content;
* a wrong password: Rejected in `pbx registry`, CHANUNAVAIL for calls;
* the same with pjsip.conf (type=registration/endpoint/aor/identify/auth);
* a phone behind a NAT (Contact 10.0.0.5, REGISTER from 127.0.0.1, SDP address
  127.0.0.5) is reached at its source, and its RTP is latched (nat=comedia).
"""

from __future__ import annotations

import importlib
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.baresip import Baresip
from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.media import (
    SOUNDS,
    RtpEndpoint,
    chirp,
    correlation,
    g711_roundtrip,
    prompt_pcm,
    runs,
    tone,
    tone_present,
    windows_found,
)
from tests.e2e.provider import Provider, password, start_provider
from tests.e2e.sipp import (
    call_scenario,
    media_address,
    register,
    run_sipp,
    sipp_errors,
    uas_scenario,
)
from tests.e2e.test_calls import _wait_bound
from tests.e2e.test_trunk_registration import registry, wait_state

pytestmark = pytest.mark.e2e

importlib.import_module("pjsua2")  # the DID test's phone: a missing wheel fails the run

NUMBER = "2565550100"  # the PSTN number registered at the provider
CALLER_ID = "2565550111"  # what the dialplan sets as the office's caller ID

SIP_CONF = """\
[general]
context=default
allowguest=no
register => office:{secret}@127.0.0.2:{kport}/5000~120

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
nat=force_rport,comedia

[provider]
type=peer
host=127.0.0.2
port={kport}
context=from-provider
defaultuser=office
remotesecret={secret}
fromuser=office
fromdomain=pbx.test
insecure=port,invite
sendrpid=pai
trustrpid=yes
qualify=yes
disallow=all
allow=ulaw
"""

PJSIP_CONF = """\
[provider-auth]
type=auth
auth_type=userpass
username=office
password={secret}

[provider]
type=registration
server_uri=sip:127.0.0.2:{kport}
client_uri=sip:office@pbx.test
contact_user=5000
outbound_auth=provider-auth
expiration=120

[provider]
type=endpoint
context=from-provider
disallow=all
allow=ulaw
outbound_auth=provider-auth
aors=provider
from_user=office
from_domain=pbx.test
send_pai=yes
trust_id_inbound=yes

[provider]
type=aor
contact=sip:127.0.0.2:{kport}
qualify_frequency=30

[provider]
type=identify
endpoint=provider
match=127.0.0.2

[office](!)
type=endpoint
context=internal
disallow=all
allow=ulaw,alaw

[6001](office)
auth=6001
aors=6001
callerid="Alice" <6001>

[6001]
type=auth
auth_type=userpass
username=6001
password=6001pass

[6001]
type=aor
max_contacts=1

[6002](office)
auth=6002
aors=6002
callerid="Bob" <6002>

[6002]
type=auth
auth_type=userpass
username=6002
password=6002pass

[6002]
type=aor
max_contacts=1
"""

DIALPLAN = """\
[general]
autofallthrough=yes

[default]

[internal]
exten => _9X.,1,Set(CALLERID(num)={caller_id})
 same => n,Dial({trunk},30)
 same => n,Log(NOTICE,DIALSTATUS=${{DIALSTATUS}} HANGUPCAUSE=${{HANGUPCAUSE}})
exten => 6002,1,Dial({tech}/6002,20)
 same => n,Hangup()

[from-provider]
exten => 5000,1,Dial({tech}/6002,20)
 same => n,Hangup()
"""

VARIANTS = {
    # sip.conf, the provider challenging with 401 (as Asterisk does)
    "sip.conf": ((), "SIP/provider/${EXTEN:1}", "SIP"),
    # pjsip.conf, the provider challenging with 407 (a proxy)
    "pjsip.conf": (("PROXY_407", "WITH_QOP"), "PJSIP/${EXTEN:1}@provider", "PJSIP"),
    # sip.conf, the trunk over TCP (register => tcp://..., transport=tcp)
    "sip.conf-tcp": (("WITH_QOP",), "SIP/${EXTEN:1}@provider", "SIP"),
}


def trunk_pbx(tmp: Path, provider: Provider, variant: str, secret: str = "pwoffice",
              ) -> PbxProcess:
    _, trunk, tech = VARIANTS[variant]
    dialplan = DIALPLAN.format(caller_id=CALLER_ID, trunk=trunk, tech=tech)
    conf = tmp / "etc"
    conf.mkdir()
    if variant.startswith("sip.conf"):
        sip_conf = SIP_CONF.format(secret=secret, kport=provider.port)
        if variant.endswith("-tcp"):
            sip_conf = sip_conf.replace("register => ", "register => tcp://").replace(
                "insecure=port,invite\n", "insecure=port,invite\ntransport=tcp\n")
            assert "transport=tcp" in sip_conf
        return make_config(conf, sip_conf=sip_conf, extensions=dialplan,
                           extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    pbx = make_config(conf, sip_conf="[general]\ncontext=default\n", extensions=dialplan,
                      extra_yaml=f"sounds: {{path: [{SOUNDS.parent}]}}\n")
    (conf / "pjsip.conf").write_text(PJSIP_CONF.format(secret=secret, kport=provider.port))
    return pbx


@pytest.fixture
def cleanup() -> Iterator[list]:
    things: list = []
    yield things
    for thing in reversed(things):
        thing.stop()


def registration_name(variant: str, provider: Provider) -> str:
    return f"office@127.0.0.2:{provider.port}" if variant.startswith("sip.conf") \
        else "provider"


def start(tmp: Path, variant: str, cleanup: list, secret: str = "pwoffice",
          state: str = "Registered") -> tuple[Provider, PbxProcess]:
    provider = start_provider(tmp, *VARIANTS[variant][0], host="127.0.0.2")
    cleanup.append(provider)
    pbx = trunk_pbx(tmp, provider, variant, secret)
    cleanup.append(pbx)
    check = pbx.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr
    pbx.start("--sip-trace")
    wait_state(pbx, registration_name(variant, provider), state)
    return provider, pbx


class Pstn:
    """The PSTN number: a SIPp UAS registered at the provider, its media our socket."""

    def __init__(self, tmp: Path, provider: Provider, rtp: RtpEndpoint) -> None:
        self.tmp = tmp
        port = free_port(both=False)
        status = register(provider.host, provider.port, port, NUMBER, password(NUMBER))
        assert status == 200, f"the PSTN number could not register: {status}"
        # Behind a proxy the UAS copies Record-Route into its answers (RFC 3261 12.1.1).
        scenario = uas_scenario(ring_ms=300, ending="wait_bye").replace(
            "      [last_Call-ID:]\n", "      [last_Call-ID:]\n      [last_Record-Route:]\n")
        assert "[last_Record-Route:]" in scenario
        self.proc = run_sipp(
            scenario, provider.host, provider.port,
            tmp=tmp, keys={"rtpport": str(rtp.port), "codec_pt": "0", "codec_name": "PCMU",
                           "dtmf_pt": "101"}, timeout_s=40, local_ip="127.0.0.1",
            extra=["-p", str(port), "-trace_logs", "-log_file", str(tmp / "pstn-media.log"),
                   "-trace_msg", "-message_file", str(tmp / "pstn-messages.log")],
            background=True)

    @property
    def messages(self) -> str:
        path = self.tmp / "pstn-messages.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def finish(self, pbx: PbxProcess, provider: Provider) -> None:
        try:
            _, err = self.proc.communicate(timeout=40)  # type: ignore[union-attr]
        except subprocess.TimeoutExpired:
            self.proc.kill()  # type: ignore[union-attr]
            _, err = self.proc.communicate()  # type: ignore[union-attr]
        assert self.proc.returncode == 0, (  # type: ignore[union-attr]
            f"PSTN UAS failed: {err}\n{sipp_errors(self.tmp)}\n{self.messages[-3000:]}\n"
            f"--- pbx\n{pbx.log()[-3000:]}\n--- kamailio\n{provider.log()[-2000:]}")


@pytest.mark.parametrize("variant", list(VARIANTS))
def test_a_phone_calls_a_number_through_the_trunk(tmp_path: Path, cleanup: list,
                                                  variant: str) -> None:
    provider, pbx = start(tmp_path, variant, cleanup)
    wait_status(pbx, "provider", "OK")  # qualify=yes / qualify_frequency: OPTIONS answered
    speech = prompt_pcm("tt-weasels")  # what the PSTN number plays
    sweep = chirp(3.0)  # what the phone's microphone says
    write_wav(tmp_path / "alice.wav", sweep)
    with RtpEndpoint() as pstn_rtp:
        pstn = Pstn(tmp_path, provider, pstn_rtp)
        alice = Baresip(tmp_path / "alice", "6001", "6001pass", pbx.host, pbx.sip_port,
                        tmp_path / "alice.wav")
        cleanup.append(alice)
        alice.wait_registered()
        alice.command("dial", f"9{NUMBER}")
        alice.wait_event("CALL_ESTABLISHED", timeout=15)
        dest = media_address(tmp_path / "pstn-media.log")
        assert dest is not None, pstn.messages[-3000:]
        pstn_rtp.send_audio(dest, speech[: 2 * 8000 * 3], 0, background=False)
        # The phone's 3 s sweep (150 packets) started with the call: let it play out.
        assert pstn_rtp.wait_packets(145, timeout=5, pt=0), len(pstn_rtp.audio(0))
        alice.command("hangup")
        alice.wait_event("CALL_CLOSED")
        pstn.finish(pbx, provider)  # the phone's hangup reached the number as a BYE
        alice.stop()
        heard_by_pstn = pstn_rtp.decoded(0)
    heard = alice.received_wav()
    assert heard is not None
    assert windows_found(read_wav(heard), g711_roundtrip(speech[: 2 * 8000 * 3])) >= 0.8
    assert windows_found(heard_by_pstn, g711_roundtrip(sweep)) >= 0.8
    # What the number saw: the trunk's fromuser/fromdomain, the caller ID as PAI.
    invite = pstn.messages[pstn.messages.index("INVITE sip:"):]
    invite = invite[:invite.index("\n\n")] if "\n\n" in invite else invite
    assert re.search(r"^From: .*<sip:office@pbx\.test>", invite, re.M), invite
    assert re.search(rf"^P-Asserted-Identity: .*<sip:{CALLER_ID}@pbx\.test>", invite,
                     re.M), invite
    # The PBX answered the provider's challenge once, with the trunk's username.
    trace = pbx.log()
    header = "Proxy-Authorization" if variant == "pjsip.conf" else "Authorization"
    tcp = ";transport=tcp" if variant.endswith("-tcp") else ""
    assert re.search(rf"^INVITE sip:{NUMBER}@127\.0\.0\.2:{provider.port}{tcp} ", trace, re.M)
    if tcp:
        assert re.search(rf"send to tcp:127\.0\.0\.2:{provider.port} --->\nINVITE ", trace)
    assert re.search(rf'^{header}: Digest username="office"', trace, re.M), trace[-3000:]


def pjsua2_phone(pbx: PbxProcess, tmp: Path, user: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("pjsua2_phone.py")),
         "--user", user, "--password", f"{user}pass",
         "--registrar", f"{pbx.host}:{pbx.sip_port}", "--port", str(free_port()),
         "--rtp-port", str(free_port()), "--timeout", "40", *args],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


PSTN_CALLER = """<?xml version="1.0" encoding="ISO-8859-1" ?>
<!DOCTYPE scenario SYSTEM "sipp.dtd">
<scenario name="pstn-caller">
  <send retrans="500">
    <![CDATA[
      INVITE sip:office@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:anonymous@anonymous.invalid>;tag=[pid]pstn[call_number]
      To: <sip:office@[remote_ip]:[remote_port]>
      Call-ID: [call_id]
      CSeq: 1 INVITE
      Max-Forwards: 70
      Contact: <sip:pstn@[local_ip]:[local_port]>
      P-Asserted-Identity: "Jane Roe" <sip:2565550123@carrier.example>
      X-No-Auth: yes
      Content-Type: application/sdp
      Content-Length: [len]

      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio [rtpport] RTP/AVP 0
      a=rtpmap:0 PCMU/8000
      a=ptime:20
      a=sendrecv
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="180" optional="true"/>
  <recv response="183" optional="true"/>
  <recv response="200" rrs="true">
    <action>
      <ereg regexp="c=IN IP[46] ([0-9a-fA-F.:]+)" search_in="body" check_it="true"
            assign_to="mc,mip"/>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="mm,mport"/>
      <log message="MEDIA [$mip] [$mport] ([$mc] [$mm])"/>
    </action>
  </recv>
  <send>
    <![CDATA[
      ACK [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:anonymous@anonymous.invalid>;tag=[pid]pstn[call_number]
      To: <sip:office@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 1 ACK
      [routes]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <pause/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: <sip:anonymous@anonymous.invalid>;tag=[pid]pstn[call_number]
      To: <sip:office@[remote_ip]:[remote_port]>[peer_tag_param]
      Call-ID: [call_id]
      CSeq: 2 BYE
      [routes]
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
</scenario>
"""


@pytest.mark.parametrize("variant", ["sip.conf", "pjsip.conf"])
def test_a_call_to_the_office_number_rings_the_extension(tmp_path: Path, cleanup: list,
                                                         variant: str) -> None:
    provider, pbx = start(tmp_path, variant, cleanup)
    pj_tone, pstn_tone = 500.0, 1300.0
    write_wav(tmp_path / "bob.wav", tone(pj_tone, 8.0))
    phone = pjsua2_phone(pbx, tmp_path, "6002", "--answer", "--play",
                         str(tmp_path / "bob.wav"), "--record", str(tmp_path / "bob-rec.wav"))
    try:
        wait_contact(pbx, "6002")
        with RtpEndpoint() as pstn_rtp:
            caller = run_sipp(PSTN_CALLER, provider.host, provider.port, tmp=tmp_path,
                              keys={"rtpport": str(pstn_rtp.port)}, pause_ms=4000,
                              timeout_s=40, local_ip="127.0.0.1",
                              extra=["-trace_logs", "-log_file",
                                     str(tmp_path / "caller-media.log"), "-trace_msg",
                                     "-message_file", str(tmp_path / "caller-messages.log")],
                              background=True)
            dest = media_address(tmp_path / "caller-media.log", timeout=15)
            assert dest is not None, (f"{_text(tmp_path / 'caller-messages.log')[-3000:]}\n"
                                      f"--- pbx\n{pbx.log()[-4000:]}")
            pstn_rtp.send_audio(dest, tone(pstn_tone, 2.5), 0, background=False)
            _, err = caller.communicate(timeout=40)  # type: ignore[union-attr]
            assert caller.returncode == 0, (  # type: ignore[union-attr]
                f"{err}\n{sipp_errors(tmp_path)}\n"
                f"{_text(tmp_path / 'caller-messages.log')[-3000:]}\n--- pbx\n"
                f"{pbx.log()[-4000:]}")
            heard_by_pstn = pstn_rtp.decoded(0)
        out, _ = phone.communicate(timeout=30)
        assert phone.returncode == 0, f"pjsua2:\n{out}\n--- pbx\n{pbx.log()[-4000:]}"
    finally:
        if phone.poll() is None:
            phone.kill()
    # Audio both ways, by content: each side hears the other's tone.
    assert sum(tone_present(heard_by_pstn, pj_tone)) >= 8, runs(
        tone_present(heard_by_pstn, pj_tone))
    recorded = read_wav(tmp_path / "bob-rec.wav")
    assert sum(tone_present(recorded, pstn_tone)) >= 8, runs(tone_present(recorded, pstn_tone))
    # The trunk was known by its address (no challenge to the provider's INVITE), the
    # call went to the registration's extension, and the phone got the PAI's caller ID.
    trace = pbx.log()
    invite_in = _message(trace, r"INVITE sip:5000@127\.0\.0\.1")
    assert invite_in, trace[-4000:]
    assert "Proxy-Authenticate" not in _message(trace, r"SIP/2\.0 407", after=invite_in)
    to_phone = _message(trace, r"INVITE sip:6002@127\.0\.0\.1")
    assert re.search(r'^From: "Jane Roe" <sip:2565550123@', to_phone, re.M), to_phone


def peers(pbx: PbxProcess) -> dict[str, list[dict]]:
    return {p["name"]: p["contacts"] for p in pbx.mgmt("/peers")["peers"]}


def wait_status(pbx: PbxProcess, name: str, status: str, timeout: float = 10.0) -> None:
    """Wait until the qualify status of ``name``'s contact starts with ``status``."""
    deadline = time.monotonic() + timeout
    contacts: list[dict] = []
    while time.monotonic() < deadline:
        contacts = peers(pbx).get(name, [])
        if contacts and contacts[0]["status"].startswith(status):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name}: {contacts}, not {status}\n{pbx.log()[-3000:]}")


def wait_contact(pbx: PbxProcess, name: str, timeout: float = 15.0) -> None:
    """Wait until ``name`` has a registered contact (the management endpoint's /peers)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if peers(pbx).get(name):
            return
        time.sleep(0.1)
    raise AssertionError(f"{name} did not register:\n{pbx.log()[-3000:]}")


def _text(path: Path) -> str:
    return path.read_text(errors="replace") if path.exists() else ""


def _message(trace: str, start: str, after: str = "") -> str:
    """The first SIP message in the trace whose start line matches ``start``."""
    text = trace[trace.index(after) + len(after):] if after else trace
    m = re.search(rf"^{start}.*?(?=^\[|\Z)", text, re.M | re.S)  # to the next log line
    return m.group(0) if m else ""


@pytest.mark.parametrize("variant", ["sip.conf", "pjsip.conf"])
def test_wrong_password_is_rejected_and_calls_are_chanunavail(tmp_path: Path, cleanup: list,
                                                              variant: str) -> None:
    provider, pbx = start(tmp_path, variant, cleanup, secret="not-the-password",
                          state="Rejected")
    row = registry(pbx)[registration_name(variant, provider)]
    assert "refused the credentials" in row["last_error"]
    assert "Rejected" in pbx.cli("registry").stdout
    with RtpEndpoint() as rtp:
        result = run_sipp(call_scenario("reject:503", log_media=False), pbx.host, pbx.sip_port,
                          tmp=tmp_path, service=f"9{NUMBER}", user="6001",
                          password="6001pass", keys={"rtpport": str(rtp.port), "codec_pt": "0",
                                                     "codec_name": "PCMU"}, timeout_s=30)
    assert result.returncode == 0, f"{sipp_errors(tmp_path)}\n{pbx.log()[-4000:]}"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "DIALSTATUS=CHANUNAVAIL" not in pbx.log():
        time.sleep(0.1)
    assert "DIALSTATUS=CHANUNAVAIL HANGUPCAUSE=21" in pbx.log(), pbx.log()[-4000:]
    # Answered once: two INVITEs to the provider (the first, then one with credentials).
    invites = re.findall(rf"^INVITE sip:{NUMBER}@127\.0\.0\.2", pbx.log(), re.M)
    assert len(invites) == 2, invites


def test_a_phone_behind_nat_is_reached_at_its_source(tmp_path: Path, cleanup: list) -> None:
    """6002 registers Contact 10.0.0.5 from 127.0.0.1 and says 127.0.0.5 in its SDP;
    nat=force_rport,comedia: the INVITE goes to the REGISTER's source and the RTP to
    where the phone's RTP comes from. Nothing is ever sent to 10.0.0.5."""
    pbx = make_config(tmp_path, sip_conf=SIP_CONF.format(secret="x", kport=9).replace(
        "register =>", ";register =>"), extensions=DIALPLAN.format(
        caller_id=CALLER_ID, trunk="SIP/provider", tech="SIP"))
    cleanup.append(pbx)
    pbx.start("--sip-trace")
    port = free_port(both=False)
    assert register(pbx.host, pbx.sip_port, port, "6002", "6002pass",
                    contact_host="10.0.0.5") == 200
    uas = uas_scenario(ending="wait_bye").replace("c=IN IP4 [local_ip]",
                                                  "c=IN IP4 [media_ip]")
    speech, sweep = prompt_pcm("tt-weasels")[: 2 * 8000 * 2], chirp(2.0)
    with RtpEndpoint() as a, RtpEndpoint() as b:
        callee = run_sipp(uas, pbx.host, pbx.sip_port, tmp=tmp_path,
                          keys={"rtpport": str(b.port), "codec_pt": "0", "codec_name": "PCMU",
                                "dtmf_pt": "101", "media_ip": "127.0.0.5"}, timeout_s=30,
                          extra=["-p", str(port), "-trace_logs", "-log_file",
                                 str(tmp_path / "nat-media.log")], background=True)
        _wait_bound(port)
        caller = run_sipp(call_scenario("caller_bye", log_media=True), pbx.host,
                          pbx.sip_port, tmp=tmp_path, service="6002", user="6001",
                          password="6001pass", pause_ms=4000,
                          keys={"rtpport": str(a.port), "codec_pt": "0",
                                "codec_name": "PCMU"}, timeout_s=30,
                          extra=["-trace_logs", "-log_file", str(tmp_path / "a-media.log")],
                          background=True)
        a_dest = media_address(tmp_path / "a-media.log")
        b_dest = media_address(tmp_path / "nat-media.log")
        assert a_dest is not None and b_dest is not None, pbx.log()[-3000:]
        # The phone behind the NAT talks first: the PBX latches on its real source.
        tb = b.send_audio(b_dest, sweep, 0)
        time.sleep(0.2)
        ta = a.send_audio(a_dest, speech, 0)
        assert ta is not None and tb is not None
        ta.join(5)
        tb.join(5)
        time.sleep(0.3)
        for proc in (caller, callee):
            _, err = proc.communicate(timeout=30)  # type: ignore[union-attr]
            assert proc.returncode == 0, f"{err}\n{sipp_errors(tmp_path)}\n{pbx.log()[-4000:]}"
        heard_by_b, heard_by_a = b.decoded(0), a.decoded(0)
    assert correlation(heard_by_b, g711_roundtrip(speech)) > 0.9
    assert correlation(heard_by_a, g711_roundtrip(sweep)) > 0.9
    trace = pbx.log()
    assert re.search(rf"<--- send to udp:127\.0\.0\.1:{port} --->\nINVITE sip:6002@10\.0\.0\.5",
                     trace), trace[-4000:]
    assert "send to udp:10.0.0.5" not in trace

