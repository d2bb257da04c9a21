"""How a leg sends and receives DTMF: sip.conf ``dtmfmode=`` / pjsip ``dtmf_mode=``.

==========  =================================================================
rfc2833     RFC 4733 telephone-event packets (pjsip: rfc4733); the default
info        SIP INFO, application/dtmf-relay ("Signal=5 / Duration=250")
shortinfo   SIP INFO, application/dtmf ("5")
inband      the tones in the audio; telephone-event is not offered
auto        RFC 4733 when the remote takes telephone-event, else in band
auto_info   RFC 4733 when the remote takes telephone-event, else SIP INFO
==========  =================================================================

Whatever the mode, RFC 4733 packets and SIP INFO from the remote are understood
(Asterisk does so too); in-band tones are listened for only on legs whose mode
says in band, since detecting costs a decode per packet.
"""

from __future__ import annotations

RFC4733 = "rfc4733"
INFO = "info"
SHORTINFO = "shortinfo"
INBAND = "inband"

MODES = frozenset({"rfc2833", "info", "shortinfo", "inband", "auto", "auto_info"})


def offers_telephone_event(mode: str) -> bool:
    """Whether our SDP offers telephone-event (RFC 4733) to a leg in ``mode``."""
    return mode in ("rfc2833", "auto", "auto_info")


def send_method(mode: str, dtmf_pt: int) -> str:
    """How digits go to a leg in ``mode`` whose negotiated telephone-event payload
    type is ``dtmf_pt`` (-1: none): RFC4733, INFO, SHORTINFO or INBAND."""
    if mode == "info":
        return INFO
    if mode == "shortinfo":
        return SHORTINFO
    if mode == "inband":
        return INBAND
    if mode == "auto":
        return RFC4733 if dtmf_pt >= 0 else INBAND
    if mode == "auto_info":
        return RFC4733 if dtmf_pt >= 0 else INFO
    return RFC4733  # rfc2833: without telephone-event no digit can be sent (as Asterisk)


def detects_inband(mode: str, dtmf_pt: int) -> bool:
    """Whether a leg's audio is searched for DTMF tones."""
    return mode == "inband" or (mode == "auto" and dtmf_pt < 0)


def info_body(method: str, digit: str, duration_ms: int = 250) -> tuple[str, bytes]:
    """(Content-Type, body) of a SIP INFO carrying ``digit``, as Asterisk sends it."""
    if method == SHORTINFO:
        return "application/dtmf", digit.encode()
    return "application/dtmf-relay", f"Signal={digit}\r\nDuration={duration_ms}\r\n".encode()
