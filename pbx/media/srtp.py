"""SRTP/SRTCP for one leg with SDES keys, via libsrtp (the `pylibsrtp` binding).

One context per leg and direction: we protect with our key (the one our SDP
sent) and unprotect with the remote's. libsrtp keeps the rollover counter and
the replay window, so a context lives as long as its keys: a re-INVITE that
repeats the same keys keeps it (recreating it would restart the counter and
break the stream after 65,536 packets).
"""

from __future__ import annotations

import pylibsrtp

_PROFILES = {
    "AES_CM_128_HMAC_SHA1_80": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_80,
    "AES_CM_128_HMAC_SHA1_32": pylibsrtp.Policy.SRTP_PROFILE_AES128_CM_SHA1_32,
}
SUITES = tuple(_PROFILES)


class SrtpContext:
    """protect()/unprotect() for RTP and RTCP of one leg."""

    __slots__ = ("_rx", "_tx", "keys", "suite", "unprotect_failures")

    def __init__(self, suite: str, tx_key: bytes, rx_key: bytes) -> None:
        profile = _PROFILES.get(suite)
        if profile is None:
            raise ValueError(f"SRTP suite {suite} is not supported ({', '.join(SUITES)})")
        self.suite = suite
        self.keys = (tx_key, rx_key)
        self._tx = pylibsrtp.Session(pylibsrtp.Policy(
            key=tx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_OUTBOUND, srtp_profile=profile))
        self._rx = pylibsrtp.Session(pylibsrtp.Policy(
            key=rx_key, ssrc_type=pylibsrtp.Policy.SSRC_ANY_INBOUND, srtp_profile=profile))
        self.unprotect_failures = 0

    def protect(self, packet: bytes) -> bytes:
        """Encrypt and authenticate one RTP packet we send."""
        return self._tx.protect(packet)

    def unprotect(self, packet: bytes) -> bytes | None:
        """The plain RTP packet, or None if it fails authentication or is a replay."""
        try:
            return self._rx.unprotect(packet)
        except pylibsrtp.Error:
            self.unprotect_failures += 1
            return None

    def protect_rtcp(self, packet: bytes) -> bytes:
        """Encrypt and authenticate one RTCP compound packet we send."""
        return self._tx.protect_rtcp(packet)

    def unprotect_rtcp(self, packet: bytes) -> bytes | None:
        """The plain RTCP packet, or None if it fails authentication or is a replay."""
        try:
            return self._rx.unprotect_rtcp(packet)
        except pylibsrtp.Error:
            self.unprotect_failures += 1
            return None
