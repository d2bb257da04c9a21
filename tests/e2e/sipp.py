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
      a=rtpmap:[codec_pt] [codec_name]/8000
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
    return f"""  <send>
    <![CDATA[
      ACK {url} SIP/2.0
{_HDR.format(to_tag="[peer_tag_param]", cseq=f"{cseq} ACK")}
      Content-Length: 0
    ]]>
  </send>
"""


def call_scenario(ending: str, *, auth: bool = True) -> str:
    """A caller: INVITE (407 + auth when `auth`), 200, ACK, then `ending`:
    "pbx_bye" waits for the PBX's BYE; "caller_bye" pauses (-d ms) and sends BYE;
    "cancel" sends CANCEL while ringing (after the -d pause) and expects 487."""
    cseq = 1
    parts = ['<?xml version="1.0" encoding="ISO-8859-1" ?>\n<!DOCTYPE scenario SYSTEM "sipp.dtd">\n'
             f'<scenario name="call-{ending}">\n', _invite(cseq, False),
             '  <recv response="100" optional="true"/>\n']
    if auth:
        parts += ['  <recv response="407" auth="true"/>\n',
                  _ack(cseq, "sip:[service]@[remote_ip]:[remote_port]")]
        cseq = 2
        parts += [_invite(cseq, True), '  <recv response="100" optional="true"/>\n']
    if ending == "cancel":
        parts += ['  <recv response="180"/>\n  <pause/>\n', f"""  <send retrans="500">
    <![CDATA[
      CANCEL sip:[service]@[remote_ip]:[remote_port] SIP/2.0
      Via: SIP/2.0/[transport] [local_ip]:[local_port];branch=[branch-{1 if auth else 0}];rport
{_HDR.format(to_tag="", cseq=f"{cseq} CANCEL").split(chr(10), 1)[1]}
      Content-Length: 0
    ]]>
  </send>
  <recv response="200"/>
  <recv response="487"/>
""", _ack(cseq, "sip:[service]@[remote_ip]:[remote_port]"), "</scenario>\n"]
        return "".join(parts)
    parts += ['  <recv response="180" optional="true"/>\n',
              '  <recv response="183" optional="true"/>\n',
              '  <recv response="200" rrs="true"/>\n', _ack(cseq, "[next_url]")]
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
             background: bool = False) -> subprocess.CompletedProcess | subprocess.Popen:
    """Run SIPp against the PBX; returns the finished process (or the running one)."""
    sipp = require_tool("sipp")
    if isinstance(scenario, str) and scenario.lstrip().startswith("<?xml"):
        path = tmp / f"scenario-{abs(hash(scenario))}.xml"
        path.write_text(scenario)
        scenario = path
    cmd = [sipp, f"{host}:{port}", "-sf", str(scenario), "-m", str(calls), "-r", str(rate),
           "-i", host, "-p", "0", "-t", transport, "-nostdin", "-timeout", f"{timeout_s}s",
           "-timeout_error", "-max_recv_loops", "1000", "-trace_err",
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
        cmd += ["-key", key, str(value)]
    cmd += list(extra)
    if background:
        return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=tmp)
    return subprocess.run(cmd, capture_output=True, text=True, cwd=tmp, timeout=timeout_s + 30)


def sipp_errors(tmp: Path) -> str:
    path = tmp / "sipp-errors.log"
    return path.read_text(errors="replace")[-3000:] if path.exists() else ""
