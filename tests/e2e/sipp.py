"""Running SIPp in the tests, and the call scenarios they use."""

from __future__ import annotations

import subprocess
from pathlib import Path

from tests.e2e.harness import require_tool

SCENARIOS = Path(__file__).resolve().parent / "scenarios"

_SDP = """
      v=0
      o=- 1 1 IN IP4 [local_ip]
      s=-
      c=IN IP4 [local_ip]
      t=0 0
      m=audio [rtpport] RTP/AVP [codec_pt] 101
      a=rtpmap:[codec_pt] [codec_name]
      a=rtpmap:101 telephone-event/8000
      a=fmtp:101 0-16
      a=ptime:20
      a={direction}"""

_HDR = """      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From: "Caller" <sip:[user]@[remote_ip]:[remote_port]>;tag=[pid]SIPpTag00[call_number]
      To: <sip:[service]@[remote_ip]:[remote_port]>{to_tag}
      Call-ID: [call_id]
      CSeq: {cseq}
      Max-Forwards: 70"""


def _invite(cseq: int, auth: bool) -> str:
    authorization = "\n      [authentication]" if auth else ""
    return f"""  <send retrans="500">
    <![CDATA[
      INVITE sip:[service]@[remote_ip]:[remote_port] SIP/2.0
{_HDR.format(to_tag="", cseq=f"{cseq} INVITE")}
      Contact: <sip:[user]@[local_ip]:[local_port]>{authorization}
      Content-Type: application/sdp
      Content-Length: [len]
{_SDP.format(direction="sendrecv")}
    ]]>
  </send>
"""


def _ack(cseq: int, url: str) -> str:
    """ACK for a 2xx: a new transaction (new branch)."""
    return f"""  <send>
    <![CDATA[
      ACK {url} SIP/2.0
{_HDR.format(to_tag="[peer_tag_param]", cseq=f"{cseq} ACK")}
      Content-Length: 0
    ]]>
  </send>
"""


def _ack_error(cseq: int) -> str:
    """ACK for a non-2xx final: part of the INVITE transaction, so the INVITE's
    Via (RFC 3261 17.1.1.3); SIPp's [branch] would be a new one and the PBX
    would keep retransmitting its final response."""
    return f"""  <send>
    <![CDATA[
      ACK sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      [last_Via:]
{_HDR.format(to_tag="[peer_tag_param]", cseq=f"{cseq} ACK").split(chr(10), 1)[1]}
      Content-Length: 0
    ]]>
  </send>
"""


# Logs the peer's SDP address as "MEDIA <ip> <port>" (run SIPp with log_file=...),
# so a test's own RTP socket learns where to send.
_LOG_MEDIA = """    <action>
      <ereg regexp="c=IN IP[46] ([0-9a-fA-F.:]+)" search_in="body" check_it="true"
            assign_to="mc,mip"/>
      <ereg regexp="m=audio ([0-9]+)" search_in="body" check_it="true" assign_to="mm,mport"/>
      <log message="MEDIA [$mip] [$mport] ([$mc] [$mm])"/>
    </action>
"""


def _reinvite(cseq: int, direction: str, expect: str) -> str:
    """A re-INVITE from the caller with `direction`; the 200 must say `expect`."""
    return f"""  <send retrans="500">
    <![CDATA[
      INVITE [next_url] SIP/2.0
{_HDR.format(to_tag="[peer_tag_param]", cseq=f"{cseq} INVITE")}
      Contact: <sip:[user]@[local_ip]:[local_port]>
      Content-Type: application/sdp
      Content-Length: [len]
{_SDP.format(direction=direction).replace("o=- 1 1", f"o=- 1 {cseq}")}
    ]]>
  </send>
  <recv response="100" optional="true"/>
  <recv response="200">
    <action>
      <ereg regexp="a={expect}" search_in="body" check_it="true" assign_to="dir{cseq}"/>
      <log message="got [$dir{cseq}]"/>
    </action>
  </recv>
{_ack(cseq, "[next_url]")}  <pause milliseconds="1000"/>
"""


def call_scenario(ending: str, *, auth: bool = True, log_media: bool = False,
                  hold: bool = False) -> str:
    """A caller: INVITE (407 + auth when `auth`), 200, ACK, then `ending`:
    "pbx_bye" waits for the PBX's BYE; "caller_bye" pauses (-d ms) and sends BYE;
    "cancel" sends CANCEL while ringing (after the -d pause) and expects 487;
    "reject:CODE" expects that final status (a failed call). `log_media` logs
    the PBX's SDP address; `hold` puts the call on hold (sendonly, answer must
    be recvonly) and resumes it before the ending."""
    cseq = 1
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
             f'<scenario name="call-{ending}">\n', _invite(cseq, False),
             '  <recv response="100" optional="true"/>\n']
    if auth:
        parts += ['  <recv response="407" auth="true"/>\n',
                  _ack_error(cseq)]
        cseq = 2
        parts += [_invite(cseq, True), '  <recv response="100" optional="true"/>\n']
    if ending == "cancel":
        parts += ['  <recv response="180"/>\n  <pause/>\n', f"""  <send retrans="500">
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-4];rport
{_HDR.format(to_tag="", cseq=f"{cseq} CANCEL").split(chr(10), 1)[1]}
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
""", _ack_error(cseq), "</scenario>\n"]
        return "".join(parts)
    if ending.startswith("reject:"):
        # The call fails with this final status (e.g. reject:486): ACK it.
        parts += ['  <recv response="180" optional="true"/>\n',
                  '  <recv response="183" optional="true"/>\n',
                  f'  <recv response="{int(ending[7:])}" timeout="30000"/>\n',
                  _ack_error(cseq), "</scenario>\n"]
        return "".join(parts)
    parts += ['  <recv response="180" optional="true"/>\n',
              '  <recv response="183" optional="true"/>\n',
              '  <recv response="200" rrs="true">\n' + (_LOG_MEDIA if log_media else "")
              + '  </recv>\n', _ack(cseq, "[next_url]")]
    if hold:
        parts += [_reinvite(cseq + 1, "sendonly", "recvonly"),
                  _reinvite(cseq + 2, "sendrecv", "sendrecv")]
        cseq += 2
    if ending == "pbx_bye":
        parts.append("""  <recv request="BYE" timeout="60000"/>
  <send>
    <![CDATA[
      SIP/2.0 200 OK
      [last_Via:]
      [last_From:]
      [last_To:]
      [last_Call-ID:]
      [last_CSeq:]
      Content-Length: 0
    ]]>
  </send>
""")
    else:
        parts.append(f"""  <pause/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
{_HDR.format(to_tag="[peer_tag_param]", cseq=f"{cseq + 1} BYE")}
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
""")
    parts.append("</scenario>\n")
    return "".join(parts)


def run_sipp(scenario: str | Path, host: str, port: int, *, tmp: Path, service: str = "",
             user: str = "", password: str = "", keys: dict[str, str] | None = None,
             calls: int = 1, rate: float = 10, limit: int | None = None, pause_ms: int = 0,
             transport: str = "u1", timeout_s: int = 30, extra: list[str] = (),
             background: bool = False, local_ip: str | None = None,
             ) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run SIPp against the PBX (or ``host``); it binds ``local_ip`` (default: ``host``).
    Returns the finished process (or the running one)."""
    sipp = require_tool("sipp")
    if isinstance(scenario, str) and scenario.lstrip().startswith("<?xml"):
        path = tmp / f"scenario-{abs(hash(scenario))}.xml"
        path.write_text(scenario)
        scenario = path
    cmd = [sipp, f"{host}:{port}", "-sf", str(scenario), "-m", str(calls), "-r", str(rate),
           "-i", local_ip or host, "-p", "0", "-t", transport, "-nostdin",
           "-timeout", f"{timeout_s}s", "-timeout_error", "-max_recv_loops", "1000", "-trace_err",
           "-error_file", str(tmp / "sipp-errors.log")]
    if limit is not None:
        cmd += ["-l", str(limit)]
    if pause_ms:
        cmd += ["-d", str(pause_ms)]
    if service:
        cmd += ["-s", service]
    if user:
        cmd += ["-au", user, "-ap", password]
    for key, value in {"user": user or "sipp", **(keys or {})}.items():
        if key == "codec_name" and "/" not in str(value):
            value = f"{value}/8000"  # "PCMU" -> "PCMU/8000"; "opus/48000/2" as given
        cmd += ["-key", key, str(value)]
    cmd += list(extra)
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=timeout_s + 30)


def sipp_errors(tmp: Path) -> str:
    path = tmp / "sipp-errors.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""


_UAS_RESPONSE = """  <send>
    <![CDATA[
      SIP/2.0 {status}
      [last_Via:]
      [last_From:]
      [last_To:]{tag}
      [last_Call-ID:]
      [last_CSeq:]
      Contact: <sip:[local_ip]:[local_port];transport=[transport]>
{body}
    ]]>
  </send>
"""
_TAG = ";tag=[pid]SIPpTag01[call_number]"
_SDP_BODY = ("      Content-Type: application/sdp\n      Content-Length: [len]\n"
             + _SDP.replace("101", "[dtmf_pt]"))


def _uas_send(status: str, *, tag: bool = True, sdp: str | None = None) -> str:
    body = (_SDP_BODY.format(direction=sdp) if sdp else "      Content-Length: 0")
    return _UAS_RESPONSE.format(status=status, tag=_TAG if tag else "", body=body)


def uas_scenario(*, final: int = 200, ring_ms: int = 0, ending: str = "wait_bye",
                 reinvites: tuple[tuple[str, str], ...] = (), bye_after_ms: int = 1000,
                 early_media: bool = False, infos: int = 0) -> str:
    """A callee: INVITE (the PBX's offer is logged as MEDIA), 100, 180 (183 with
    SDP when `early_media`), then:
    final=200: answer after `ring_ms`, ACK, each of `reinvites` ((offered
    direction the re-INVITE must carry, direction we answer)), then `ending`
    "wait_bye" (the PBX hangs up) or "send_bye" (we do after `bye_after_ms`); with
    `infos`, that many SIP INFO (DTMF) come first, each logged "INFO <signal>";
    final=0: ring until CANCEL (200 to it, 487, ACK);
    final=4xx..6xx: reject with it, ACK."""
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
             '<scenario name="uas">\n',
             '  <recv request="INVITE" crlf="true" rrs="true">\n', _LOG_MEDIA.replace(
                 "    </action>",
                 '      <ereg regexp=".*" search_in="hdr" header="From:" assign_to="inv_from"/>\n'
                 '      <ereg regexp=".*" search_in="hdr" header="To:" assign_to="inv_to"/>\n'
                 '      <ereg regexp=".*" search_in="hdr" header="CSeq:" assign_to="inv_cseq"/>\n'
                 '      <log message="INVITE [$inv_from] [$inv_to] [$inv_cseq]"/>\n'
                 "    </action>"),
             "  </recv>\n", _uas_send("100 Trying", tag=False)]
    parts.append(_uas_send("183 Session Progress", sdp="sendrecv") if early_media
                 else _uas_send("180 Ringing"))
    if final == 0:
        parts += ['  <recv request="CANCEL" timeout="30000"/>\n', _uas_send("200 OK"),
                  _UAS_RESPONSE.format(status="487 Request Terminated", tag=_TAG,
                                       body="      Content-Length: 0").replace(
                      "[last_CSeq:]", "CSeq:[$inv_cseq]"),
                  '  <recv request="ACK"/>\n']
    elif final >= 300:
        reason = {486: "Busy Here", 480: "Temporarily Unavailable",
                  603: "Decline"}.get(final, "Failed")
        parts += [_uas_send(f"{final} {reason}"), '  <recv request="ACK"/>\n']
    else:
        if ring_ms:
            parts.append(f'  <pause milliseconds="{ring_ms}"/>\n')
        parts += [_uas_send("200 OK", sdp="sendrecv"),
                  '  <recv request="ACK" timeout="10000"/>\n']
        for i, (offered, answered) in enumerate(reinvites):
            parts += ['  <recv request="INVITE" timeout="15000">\n    <action>\n'
                      f'      <ereg regexp="a={offered}" search_in="body" check_it="true"'
                      f' assign_to="re{i}"/>\n      <log message="got [$re{i}]"/>\n'
                      '    </action>\n  </recv>\n',
                      _uas_send("200 OK", tag=False, sdp=answered),
                      '  <recv request="ACK" timeout="10000"/>\n']
        for i in range(infos):
            parts += ['  <recv request="INFO" timeout="15000">\n    <action>\n'
                      '      <ereg regexp="Signal=([0-9A-D*#])" search_in="body" check_it="true"'
                      f' assign_to="i{i},sig{i}"/>\n'
                      f'      <log message="INFO [$sig{i}] ([$i{i}])"/>\n'
                      '    </action>\n  </recv>\n', _uas_send("200 OK", tag=False)]
        if ending == "send_bye":
            parts.append(f"""  <pause milliseconds="{bye_after_ms}"/>
  <send retrans="500">
    <![CDATA[
      BYE [next_url] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch];rport
      From:[$inv_to]{_TAG}
      To:[$inv_from]
      Call-ID: [call_id]
      CSeq: 100 BYE
      Max-Forwards: 70
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
""")
        else:
            parts += ['  <recv request="BYE" timeout="60000"/>\n', _uas_send("200 OK", tag=False)]
    parts.append("</scenario>\n")
    return "".join(parts)


def media_address(log_file: Path, timeout: float = 10.0) -> tuple[str, int] | None:
    """The peer's SDP address SIPp logged (scenarios with MEDIA logging), or None."""
    import re
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log_file.exists():
            m = re.search(r"MEDIA (\S+) (\d+)", log_file.read_text(errors="replace"))
            if m:
                return m.group(1), int(m.group(2))
        time.sleep(0.05)
    return None


def register(host: str, port: int, local_port: int, user: str, password: str | None,
             expires: int = 300, timeout: float = 3.0, contact_host: str | None = None,
             local_host: str = "127.0.0.1") -> int:
    """REGISTER `user` with Contact 127.0.0.1:`local_port` (or `contact_host`, e.g. a
    private address behind a NAT), sent FROM that port (the PBX calls the source
    address), answering a digest challenge (401 or 407). Returns the status."""
    import hashlib
    import re
    import socket
    import uuid

    if not host.startswith("127.") and host != "::1":
        raise ValueError("tests only talk to loopback")
    call_id = uuid.uuid4().hex
    contact = f"{contact_host or local_host}:{local_port}"
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((local_host, local_port))
        s.settimeout(timeout)
        auth = ""
        for cseq in (1, 2):
            msg = (f"REGISTER sip:{host}:{port} SIP/2.0\r\n"
                   f"Via: SIP/2.0/UDP {local_host}:{local_port};rport;"
                   f"branch=z9hG4bK{uuid.uuid4().hex}\r\n"
                   f"From: <sip:{user}@{host}>;tag={call_id[:8]}\r\nTo: <sip:{user}@{host}>\r\n"
                   f"Call-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
                   f"Contact: <sip:{user}@{contact}>\r\nExpires: {expires}\r\n"
                   f"Max-Forwards: 70\r\n{auth}Content-Length: 0\r\n\r\n")
            s.sendto(msg.encode(), (host, port))
            while True:
                data = s.recv(65535).decode(errors="replace")
                status = int(data.split(" ", 2)[1])
                if status >= 200:
                    break
            if status not in (401, 407) or password is None:
                return status
            # The MD5 challenge (the PBX may offer SHA-256 first).
            prefix = "www-authenticate:" if status == 401 else "proxy-authenticate:"
            challenges = [line for line in data.split("\r\n")
                          if line.lower().startswith(prefix)]
            challenge = next((c for c in challenges if "MD5" in c.upper()
                              and "SHA" not in c.upper()), challenges[0])
            realm = re.search(r'realm="([^"]*)"', challenge).group(1)  # type: ignore[union-attr]
            nonce = re.search(r'nonce="([^"]*)"', challenge).group(1)  # type: ignore[union-attr]
            qop = "auth" if "qop" in challenge else None
            uri = f"sip:{host}:{port}"

            def md5(text: str) -> str:
                return hashlib.md5(text.encode()).hexdigest()

            ha1, ha2 = md5(f"{user}:{realm}:{password}"), md5(f"REGISTER:{uri}")
            if qop:
                cnonce = uuid.uuid4().hex[:8]
                response = md5(f"{ha1}:{nonce}:00000001:{cnonce}:auth:{ha2}")
                extra = f', qop=auth, nc=00000001, cnonce="{cnonce}"'
            else:
                response, extra = md5(f"{ha1}:{nonce}:{ha2}"), ""
            name = "Authorization" if status == 401 else "Proxy-Authorization"
            auth = (f'{name}: Digest username="{user}", realm="{realm}", '
                    f'nonce="{nonce}", uri="{uri}", response="{response}", '
                    f'algorithm=MD5{extra}\r\n')
        return status
