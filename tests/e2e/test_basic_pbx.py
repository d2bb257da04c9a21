"""Asterisk's own small-office configuration, configs/basic-pbx/ of Asterisk
22.9.0 (tests/fixtures/basic-pbx/, verbatim), run by `pbx run` with only its
bind address, trunk target and trunk account changed (tests/fixtures/basic_pbx.py).
pbx.yaml only moves the RTP and management ports out of the way of the other
tests running at the same time; SIP listens where pjsip.conf's transport binds.

Real phones: pjsua2 processes registered as the extensions, with the MAC
address usernames and passwords of its pjsip.conf. The provider is Kamailio on
127.0.0.2 (tests/e2e/provider.py); a caller "on the public network" registers
there and dials the office's number.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from pbx.media.wav import read_wav, write_wav
from tests.e2e.harness import PbxProcess, free_port, rtp_range
from tests.e2e.media import runs, tone, tone_present, tone_share
from tests.e2e.office import Phone
from tests.e2e.provider import REALM, Provider, password, start_provider
from tests.fixtures.basic_pbx import ACCOUNT, Trunk, phone_credentials, prepare

CREDENTIALS = phone_credentials()
CALLER = "2565550123"  # a number on the public network, at the provider


@dataclass
class Office:
    pbx: PbxProcess
    provider: Provider
    tmp: Path
    phones: list[Phone]

    def phone(self, ext: str, **kw) -> Phone:
        """A desk phone registered as ``ext`` with basic-pbx's credentials."""
        auth_user, secret = CREDENTIALS[ext]
        phone = Phone(self.pbx, ext, self.tmp, password=secret, auth_user=auth_user, **kw)
        self.phones.append(phone)
        return phone

    def outside_caller(self, **kw) -> Phone:
        """A phone registered at the provider as CALLER (its password rule: pwN)."""
        phone = Phone(self.pbx, CALLER, self.tmp, password=password(CALLER),
                      registrar=f"{self.provider.host}:{self.provider.port}", **kw)
        self.phones.append(phone)
        return phone

    def wait_trunk_registered(self, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            rows = self.pbx.mgmt("/registry")["registrations"]
            if any(row["name"] == "dcs-trunk" and row["state"] == "Registered" for row in rows):
                return
            time.sleep(0.2)
        pytest.fail(f"the office did not register at the provider:\n{self.pbx.log()[-3000:]}")


@pytest.fixture(params=["127.0.0.1"])
def office(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Office]:
    # The provider delivers the DID in the Request-URI, as real ones do: basic-pbx's
    # registration keeps pjsip's contact_user (s) and routes by the DID.
    provider = start_provider(tmp_path, "DID_IN_RURI", host="127.0.0.2")
    sip_port = free_port()
    http_port = free_port(socket.SOCK_STREAM, both=False)
    lo, hi = rtp_range()
    conf = prepare(tmp_path / "basic-pbx", f"{request.param}:{sip_port}",
                   Trunk(provider.host, provider.port, password(ACCOUNT), REALM))
    (conf / "pbx.yaml").write_text(f'rtp: {{ports: [{lo}, {hi}]}}\n'
                                   f'http: {{listen: "127.0.0.1:{http_port}"}}\n')
    pbx = PbxProcess(conf, sip_port, http_port)
    office = Office(pbx, provider, tmp_path, [])
    try:
        # -v: the dialplan's "Executing [...]" lines; the SIP trace: what was sent
        pbx.start("-v", "--sip-trace")
        yield office
    finally:
        for phone in office.phones:
            phone.close()
        pbx.stop()
        provider.stop()


def recorded(phone: Phone, n: int = 1) -> bytes:
    path = phone.dir / f"call-{n}.wav"
    phone.wait(rf"^RECORDED {n} ", 10)
    return read_wav(path)


def test_internal_call_not_answered_goes_to_the_callees_voicemail(office: Office) -> None:
    """1101 dials 1102, which rings for INTERNAL_DIAL_OPT's 30 s: NOANSWER, so
    Voicemail(1102@example,u) records what 1101 says into 1102's INBOX."""
    talk = office.tmp / "1101-talk.wav"
    write_wav(talk, tone(700.0, 60.0))
    maria = office.phone("1101", play=talk)
    tommie = office.phone("1102")
    maria.send("call 1102")
    tommie.wait(r"^INCOMING ", 10)
    # Still ringing just before the 30 s of Dial(PJSIP/1102,30) are up...
    assert not tommie.events("CALL 1 DISCONNECTED")
    tommie.wait(r"^CALL 1 DISCONNECTED", 40)  # ...then the PBX cancels it
    inbox = office.pbx.config_dir / "var" / "voicemail" / "example" / "1102" / "INBOX"
    time.sleep(1.0)
    maria.send("dtmf #")  # skips the unavailable greeting (as in Asterisk): the beep...
    time.sleep(5.0)  # ...then 1101's tone is recorded
    maria.send("hangup")
    maria.wait(r"^CALL 1 DISCONNECTED", 10)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not list(inbox.glob("msg0000.wav")):
        time.sleep(0.2)
    message = inbox / "msg0000.wav"
    assert message.exists(), office.pbx.log()[-4000:]
    flags = tone_present(read_wav(message), 700.0)
    assert sum(flags) >= 5, runs(flags)


def test_three_phones_in_conference_6000_hear_the_other_two_not_themselves(
        office: Office) -> None:
    tones = {"1101": 600.0, "1102": 1000.0, "1103": 1400.0}
    phones = {}
    for ext, freq in tones.items():
        mic = office.tmp / f"{ext}-mic.wav"
        write_wav(mic, tone(freq, 60.0))
        phones[ext] = office.phone(ext, play=mic, record=True)
    for phone in phones.values():
        phone.send("call 6000")
        phone.wait(r"^CALL 1 CONFIRMED", 10)
    time.sleep(9)  # everyone in the room for a while (after the join prompts)
    for phone in phones.values():
        phone.send("hangup")
    heard = {ext: recorded(phone) for ext, phone in phones.items()}
    for ext, pcm in heard.items():
        others = [o for o in tones if o != ext]
        a, b = (tone_share(pcm, tones[o]) for o in others)
        together = [i for i in range(len(a)) if a[i] > 0.2 and b[i] > 0.2]
        assert len(together) >= 8, (ext, together)  # 4 s or more with both others
        own = tone_share(pcm, tones[ext])
        assert max(own[i] for i in together) < 0.01, (ext, [own[i] for i in together])
    assert office.pbx.log().count("joined conference employees") == 3


def test_the_directory_finds_a_name_and_rings_that_phone(office: Office) -> None:
    """1101 dials the IVR (1100), presses 4 for Directory(example,Dial-Users), types
    B-R-O (276) and 1 at the name: Penelope Bronte's phone, 1103, rings."""
    maria = office.phone("1101")
    penelope = office.phone("1103")
    maria.send("call 1100")
    maria.wait(r"^CALL 1 CONFIRMED", 10)
    time.sleep(1.5)  # the IVR's greeting plays; a digit cuts it
    maria.send("dtmf 4")
    time.sleep(2.0)  # "dir-welcome"... cut by the first letter
    maria.send("dtmf 276")
    time.sleep(2.5)  # the name is being spelled: 1 takes it
    maria.send("dtmf 1")
    penelope.wait(r"^INCOMING ", 15)
    maria.send("hangup")


@pytest.mark.parametrize("office", ["0.0.0.0"], indirect=True)
def test_on_the_wildcard_bind_loopback_phones_see_the_loopback_address(office: Office) -> None:
    """bind = 0.0.0.0 as basic-pbx ships it: Via, Contact and SDP toward a phone
    on 127.0.0.1 carry 127.0.0.1 (the address the kernel sends from), so the
    call connects and audio flows both ways."""
    freq = {"1101": 600.0, "1102": 1000.0}
    phones = {}
    for ext, f in freq.items():
        mic = office.tmp / f"{ext}-mic.wav"
        write_wav(mic, tone(f, 30.0))
        phones[ext] = office.phone(ext, play=mic, record=True,
                                   incoming="answer" if ext == "1102" else "ring")
    phones["1101"].send("call 1102")
    phones["1101"].wait(r"^CALL 1 CONFIRMED", 10)
    time.sleep(3)
    phones["1101"].send("hangup")
    for ext, other in (("1101", "1102"), ("1102", "1101")):
        flags = tone_present(recorded(phones[ext]), freq[other])
        assert sum(flags) >= 8, (ext, runs(flags))
    sent = re.findall(r"<--- send to (\S+) --->\n(.*?)(?=^\[)", office.pbx.log(), re.M | re.S)
    to_phones = [msg for dest, msg in sent if dest.startswith("udp:127.0.0.1:")]
    assert len(to_phones) > 5
    for msg in to_phones:
        assert "0.0.0.0" not in msg, msg
    invite = next(msg for msg in to_phones if msg.startswith("INVITE sip:"))
    assert re.search(r"^Via: SIP/2\.0/UDP 127\.0\.0\.1:\d+;", invite, re.M), invite
    assert re.search(r"^Contact: <sip:[^@>]*@?127\.0\.0\.1:\d+", invite, re.M), invite
    assert "c=IN IP4 127.0.0.1" in invite, invite


SALES = ("1109", "1105", "1112")  # queues.conf [sales], in its order


def call_the_ivr_and_press_1(office: Office, caller: Phone) -> None:
    """The outside caller dials the office's number; the provider sends the call to
    the office's registration; the IVR answers (DCS-Incoming -> Main-IVR) and 1
    goes to the sales queue."""
    caller.send(f"call {ACCOUNT}")
    caller.wait(r"^CALL \d+ CONFIRMED", 15)
    time.sleep(1.5)  # basic-pbx-ivr-main plays; the digit cuts it
    caller.send("dtmf 1")


def test_ivr_option_1_rings_every_sales_member_and_one_answers(office: Office) -> None:
    """ringall, as basic-pbx ships [sales]: the three members ring at once; 1105
    answers and talks with the caller (audio both ways); the others stop ringing."""
    office.wait_trunk_registered()
    tones = {"caller": 500.0, "1105": 1300.0}
    mics = {}
    for who, freq in tones.items():
        mics[who] = office.tmp / f"{who}-mic.wav"
        write_wav(mics[who], tone(freq, 60.0))
    members = {ext: office.phone(ext, play=mics.get(ext), record=ext == "1105")
               for ext in SALES}
    caller = office.outside_caller(play=mics["caller"], record=True)
    call_the_ivr_and_press_1(office, caller)
    for ext in SALES:
        members[ext].wait(r"^INCOMING ", 15)
    members["1105"].send("answer")
    members["1105"].wait(r"^CALL 1 CONFIRMED", 10)
    for ext in ("1109", "1112"):
        members[ext].wait(r"^CALL 1 DISCONNECTED", 10)
    time.sleep(4)
    caller.send("hangup")
    heard_by_caller = recorded(caller)
    heard_by_member = recorded(members["1105"])
    flags = tone_present(heard_by_caller, tones["1105"])
    assert sum(flags) >= 10, runs(flags)
    flags = tone_present(heard_by_member, tones["caller"])
    assert sum(flags) >= 10, runs(flags)
    log = office.pbx.log()
    assert re.search(r'Executing \[2565551200@External-Features:3\] Queue\("[^"]+", '
                     r'"sales,,,,300"\)', log), log[-3000:]


def test_rrmemory_rings_one_member_at_a_time_taking_turns(office: Office) -> None:
    """The same queue switched to strategy=rrmemory (one word in queues.conf): the
    first call rings only the first member, the next call only the second."""
    queues = office.pbx.config_dir / "queues.conf"
    queues.write_text(queues.read_text().replace("[sales]\nstrategy=ringall",
                                                 "[sales]\nstrategy=rrmemory"))
    assert office.pbx.cli("reload").returncode == 0
    office.wait_trunk_registered()
    members = {ext: office.phone(ext) for ext in SALES}
    for turn, expected in enumerate(SALES[:2], start=1):
        caller = office.outside_caller()
        call_the_ivr_and_press_1(office, caller)
        members[expected].wait(r"^INCOMING ", 15)
        time.sleep(1.0)  # a ringall would have rung the others by now
        rang = {ext for ext, phone in members.items() if phone.events("INCOMING")}
        assert rang == set(SALES[:turn]), rang
        members[expected].send("answer")
        members[expected].wait(r"^CALL \d+ CONFIRMED", 10)
        caller.send("hangup")
        members[expected].wait(r"^CALL \d+ DISCONNECTED", 10)
        caller.close()
