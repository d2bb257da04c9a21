"""Busy lamps: the `dialog` (RFC 4235) and `presence` (RFC 3863) event packages.

As Asterisk's res_pjsip_exten_state: a phone subscribes to an extension (the
Request-URI user) and the hint of that extension in the subscriber's
`subscribecontext` (pjsip `subscribe_context`; by default its `context`)
drives what it is told: 404 when there is no hint, 403 when the peer has
`allowsubscribe=no`, 406 when it accepts neither body type. Every change of
the extension state is a NOTIFY (dialog-info with a version that grows by
one per document; PIDF), a new ringing caller too. A hint removed by a
reload ends its subscriptions with `noresource`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pbx.presence_xml import DIALOG_INFO, PIDF, dialog_info, pidf
from pbx.sip.headers import split_list

if TYPE_CHECKING:
    from pbx.config import Peer
    from pbx.hints import HintInfo, HintStates, Watch
    from pbx.sip.message import Request
    from pbx.subscriptions import Subscription

log = logging.getLogger("pbx.presence")

CONTENT_TYPES = {"dialog": DIALOG_INFO, "presence": PIDF}


@dataclass(slots=True)
class _Watching:
    watch: Watch | None
    version: int = 0  # dialog-info: the next document's version


def _accepts(req: Request, content_type: str) -> bool:
    values = req.headers.get_all("Accept")
    if not values:
        return True  # RFC 6665: the package's default type
    main = content_type.split("/", 1)[0]
    for value in values:
        for item in split_list(value):
            media = item.split(";", 1)[0].strip().lower()
            if media in (content_type, "*/*", f"{main}/*"):
                return True
    return False


class PresencePackage:
    """`dialog` and `presence` subscriptions on the PBX's hints."""

    def __init__(self, hints: HintStates) -> None:
        self.hints = hints

    @staticmethod
    def context_of(peer: Peer | None) -> str | None:
        if peer is None:
            return None
        return peer.subscribe_context or peer.context

    # --- EventPackage ------------------------------------------------------------
    def check(self, req: Request, peer: Peer | None) -> tuple[int, str] | None:
        if peer is None or not peer.allow_subscribe:
            return 403, "Forbidden"
        event = (req.headers.get("Event") or "").split(";", 1)[0].strip().lower()
        if not _accepts(req, CONTENT_TYPES[event]):
            return 406, "Not Acceptable"
        context = self.context_of(peer)
        exten = req.uri.user or ""
        if context is None or not exten or self.hints.hint(context, exten) is None:
            log.info("SUBSCRIBE from %s for %s: no hint for it in context %s", peer.name,
                     exten or "(no user)", context)
            return 404, "Not Found"
        return None

    def start(self, sub: Subscription) -> None:
        context = self.context_of(sub.peer)
        assert context is not None
        state = _Watching(None)
        sub.data = state
        state.watch = self.hints.watch(context, sub.resource,
                                       lambda info: self._changed(sub, info))
        if state.watch is None:  # the dialplan changed since check()
            sub.terminate("noresource")
            return
        self._send(sub, state.watch.info())

    def refresh(self, sub: Subscription) -> None:
        state: _Watching = sub.data
        if state is not None and state.watch is not None:
            self._send(sub, state.watch.info())

    def stop(self, sub: Subscription) -> None:
        state: _Watching = sub.data
        if state is not None and state.watch is not None:
            state.watch.cancel()
            state.watch = None

    # --- NOTIFY bodies ---------------------------------------------------------------
    def _changed(self, sub: Subscription, info: HintInfo) -> None:
        if info.state is None:  # the hint is gone: a last NOTIFY says so
            sub.terminate("noresource", CONTENT_TYPES[sub.event],
                          lambda: self.body(sub, info))
            return
        self._send(sub, info)

    def _send(self, sub: Subscription, info: HintInfo) -> None:
        # Rendered when the NOTIFY goes: dialog-info versions count documents sent.
        sub.notify(CONTENT_TYPES[sub.event], lambda: self.body(sub, info))

    def body(self, sub: Subscription, info: HintInfo) -> bytes:
        state: _Watching = sub.data
        if sub.event == "presence":
            return pidf(sub.entity, sub.resource, info.state, contact=sub.entity)
        version = state.version
        state.version += 1
        watch = state.watch
        name = watch.hint.name if watch is not None else ""
        host = _host_of(sub.entity)
        return dialog_info(sub.entity, sub.resource, version, info.state, caller=info.caller,
                           domain=host, local_name=name)


def _host_of(uri: str) -> str:
    """`<sip:6001@127.0.0.1:5060;x=y>` -> `127.0.0.1:5060`."""
    inner = uri.strip()
    if "<" in inner:
        inner = inner[inner.index("<") + 1:inner.rindex(">")] if ">" in inner else inner
    inner = inner.split(":", 1)[1] if ":" in inner else inner
    inner = inner.split("@", 1)[1] if "@" in inner else inner
    return inner.split(";", 1)[0]
