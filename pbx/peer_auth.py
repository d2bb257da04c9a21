"""The digest authenticator of the PBX's own peers.

Passwords come from the current configuration each time (a reload changes them at
once): a peer's `secret=` (pjsip: its auth's password), looked up by the digest
username (its name, or its auth's username=). A sip.conf peer with only
`md5secret=` is known by H(name:realm:secret), as Asterisk keeps it, so it can
answer MD5 challenges only, and only if the hash was made with this PBX's realm.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from typing import Any

from pbx.sip.auth import DigestAuthenticator


def peer_authenticator(config: Any, current: Callable[[], Any]) -> DigestAuthenticator:
    """The authenticator for ``config``'s realm and algorithms; ``current()`` is the
    configuration in force when a request is checked."""

    def password(user: str) -> str | None:
        # A host= peer's secret too: it is challenged when it calls without
        # insecure=invite (the registrar still takes REGISTERs of dynamic peers only).
        peer = current().sip.peer_by_auth_user(user)
        return peer.secret if peer is not None else None

    def md5_ha1(user: str) -> str | None:
        peer = current().sip.peer_by_auth_user(user)
        return peer.md5secret if peer is not None else None

    # A fresh secret per start: nonces from a previous run are stale, which phones
    # handle by re-authenticating (stale=true).
    return DigestAuthenticator(config.realm, secrets.token_bytes(32), password,
                               lookup_md5_ha1=md5_ha1,
                               algorithms=config.settings.digest_algorithms)
