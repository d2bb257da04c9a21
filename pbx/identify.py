"""Who is calling: the peer a new INVITE comes from, and the caller ID it carries.

The order is Asterisk's: chan_pjsip identifies by line, then source address,
then username; chan_sip by From user (type=user/friend), then address:

1. the ``line`` parameter of the Request-URI names one of our outbound
   registrations (pjsip ``line=yes``): the calls of that line belong to its
   ``endpoint``, no challenge;
2. the source address is in a pjsip ``identify`` ``match=``;
3. the From user names a peer that may call: without a secret it is let in
   (as Asterisk does), with one it must answer the challenge (step 5);
4. the source address is a sip.conf ``host=`` peer's (its port too unless
   ``insecure=port``).
   A peer found by address is not challenged when it has no secret, when
   sip.conf says ``insecure=invite``, or when it is a pjsip endpoint without
   ``auth=``;
5. anyone else answers a 407 digest challenge; the username it answers with
   names the peer (pjsip: the auth's username=, sip.conf: the peer name).
   Unknown names get the same challenge and the same 403 as a wrong password.
   With allowguest=yes, a caller that matches nothing is a guest.

Caller ID: a peer's own callerid= wins (a phone), else P-Asserted-Identity
(then Remote-Party-ID) when the peer is trusted with it (trustrpid=yes,
trust_id_inbound=yes), else the From header.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from pbx.channel import CallerId
from pbx.sip.message import Request, Response, make_response
from pbx.sip.uri import UriError, parse_name_addr

if TYPE_CHECKING:
    from pbx.config import Peer, SipConfig
    from pbx.sip.address import Address
    from pbx.sip.auth import DigestAuthenticator

# A line token -> the peer name its registration's calls belong to (None: not ours).
LineLookup = Callable[[str], "str | None"]


def by_address(sip: SipConfig, source: Address) -> Peer | None:
    """The static peer whose address the request comes from (None if none)."""
    peer = sip.peer_by_address(source.host, source.port)
    if peer is None or peer.dynamic:
        return None
    if peer.tech == "SIP" and "port" not in peer.insecure and peer.host == source.host \
            and peer.port != source.port:
        # chan_sip: without insecure=port a host= peer must use its own port too.
        return None
    return peer


def _trusted_without_auth(peer: Peer) -> bool:
    if not peer.authenticates:
        return True
    return peer.tech == "SIP" and "invite" in peer.insecure


def identify(req: Request, source: Address, sip: SipConfig, auth: DigestAuthenticator,
             now: float, line_endpoint: LineLookup | None = None
             ) -> tuple[Peer | None, Response | None]:
    """(peer, None) to go on (peer None: a guest), or (None, response) to refuse."""
    line = req.uri.params.get("line")
    if line and line_endpoint is not None:
        name = line_endpoint(line)
        peer = sip.peers.get(name) if name else None
        if peer is not None:
            return peer, None
    named = sip.peers.get(req.from_addr.uri.user or "")
    if named is not None and not named.can_call:
        named = None
    matched = by_address(sip, source)
    if matched is not None and matched.tech != "PJSIP" and named is not None:
        matched = None  # chan_sip: the From user names a peer before the address does
    if matched is not None:
        if _trusted_without_auth(matched):
            return matched, None
    elif named is not None and not named.authenticates:
        return named, None
    elif named is None and sip.general.allowguest:
        return None, None
    header = req.headers.get("Proxy-Authorization")
    if header is None:
        return None, _challenge(req, auth, now, stale=False)
    result = auth.check(header, req.method, now)  # INVITE, or MESSAGE
    if result.challenge_again:
        return None, _challenge(req, auth, now, stale=result.stale)
    caller = sip.peer_by_auth_user(result.username or "") if result.ok else None
    if caller is None or not (caller.can_call or caller is matched):
        return None, make_response(req, 403, "Forbidden")
    return caller, None


def _challenge(req: Request, auth: DigestAuthenticator, now: float, *,
               stale: bool) -> Response:
    return make_response(req, 407, "Proxy Authentication Required", headers=[
        ("Proxy-Authenticate", v) for v in auth.challenge(now, stale=stale)])


def caller_id(req: Request, peer: Peer | None) -> CallerId:
    """The caller ID of a new call from ``peer`` (see the module's doc)."""
    if peer is not None and (peer.callerid.num or peer.callerid.name):
        return CallerId(num=peer.callerid.num or peer.name, name=peer.callerid.name)
    if peer is not None and peer.trust_id_inbound:
        for header in ("P-Asserted-Identity", "Remote-Party-ID"):
            asserted = _asserted(req, header)
            if asserted is not None:
                return asserted
    frm = req.from_addr
    return CallerId(num=frm.uri.user or "", name=frm.display or "")


def _asserted(req: Request, header: str) -> CallerId | None:
    """The identity of a PAI (its sip:/tel: URI) or RPID header, if well formed."""
    for value in req.headers.get_all(header):
        for item in _split_name_addrs(value):
            try:
                addr = parse_name_addr(item)
            except (UriError, ValueError):
                continue
            if addr.uri.scheme in ("sip", "sips", "tel") and addr.uri.user:
                return CallerId(num=addr.uri.user, name=addr.display or "")
    return None


def _split_name_addrs(value: str) -> list[str]:
    """A PAI value may list a sip: and a tel: identity (RFC 3325 9.1)."""
    out, depth, quoted, start = [], 0, False, 0
    for i, ch in enumerate(value):
        if ch == '"' and (i == 0 or value[i - 1] != "\\"):
            quoted = not quoted
        elif not quoted and ch == "<":
            depth += 1
        elif not quoted and ch == ">":
            depth -= 1
        elif not quoted and depth == 0 and ch == ",":
            out.append(value[start:i].strip())
            start = i + 1
    out.append(value[start:].strip())
    return [item for item in out if item]
