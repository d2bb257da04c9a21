"""Which SDES keys a call leg offers or answers with, and applying the outcome.

Policy apart from mechanism: pbx/sip/sdp.py negotiates whatever it is told,
pbx/media/session.py encrypts with whatever keys it is given; this module
decides from the peer's `encryption=yes` (sip.conf) / `media_encryption=sdes`
(pjsip.conf) and the leg's current negotiation. Keys are per leg: a bridge
between two SRTP legs decrypts on one and encrypts on the other (each hop
has its own keys, RFC 4568), and a plain RTP leg does no crypto at all.
"""

from __future__ import annotations

import logging
from typing import Any

from pbx.sip import sdes

log = logging.getLogger("pbx.srtp")


def _current_key(negotiated: Any) -> bytes | None:
    keys = getattr(negotiated, "srtp", None)
    return keys.local_key if keys is not None else None


def offer_key(peer: Any, negotiated: Any = None) -> bytes | None:
    """Our key for an offer (outbound INVITE, late offer, re-INVITE), None for RTP/AVP.

    A leg already on SRTP keeps its key (the context keeps its counters);
    otherwise a peer that requires encryption gets a fresh one."""
    key = _current_key(negotiated)
    if key is not None:
        return key
    if peer is not None and peer.requires_srtp:
        return sdes.new_key()
    return None


def answer_options(peer: Any, negotiated: Any = None) -> dict[str, Any]:
    """Keyword arguments for sdp.negotiate() when answering this leg's offer.

    The key is the leg's current one, else a fresh one chosen here, once: an
    answer built twice (to compare it with the last one sent) stays the same.
    negotiate() only uses it when the offer is RTP/SAVP."""
    return {"require_srtp": bool(peer is not None and peer.requires_srtp),
            "srtp_key": _current_key(negotiated) or sdes.new_key()}


def apply(media: Any, answer: Any, channel_name: str = "", transport: str = "") -> None:
    """Switch the leg's media to the negotiated keys (or back to plain RTP)."""
    keys = answer.srtp
    if keys is None:
        media.set_srtp(None)
        return
    if media.srtp is None:
        # SDES keys travel in the SDP: on UDP/TCP anyone on the path reads them.
        log.info("%s: SRTP %s%s", channel_name, keys.suite,
                 "" if transport in ("tls", "wss") else
                 f" (keys sent over {transport or 'an unencrypted transport'}: use TLS)")
    media.set_srtp(keys.suite, keys.local_key, keys.remote_key)
