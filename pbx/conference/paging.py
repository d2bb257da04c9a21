"""Page(Technology/Resource[&...][,options[,timeout]]): one-way audio to many phones,
on the conference mixer as Asterisk's app_page does it.

Every device is called at once with auto-answer headers (`Call-Info:
<sip:PBX>;answer-after=0` and `Alert-Info: info=alert-autoanswer`, which desk
phones and softphones answer on their own); each phone that answers joins a
private room as a quiet, end_marked, muted participant (unmuted with `d`, full
duplex), and the caller joins it as the marked one after a beep (none with
`q`). When the caller hangs up, end_marked ends the page for everyone; phones
still ringing are cancelled.

Options: d (duplex), q (no beep), i (ignore forwards: the PBX never follows a
3xx anyway), s (only phones not in a call), r (record the page), A(x) (play x
to the paged phones; with n, not to the caller). b()/B() (predial Gosubs) are
not supported and are logged. timeout: seconds the phones ring.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from pbx.channel import ChannelState, DialTarget, Hangup
from pbx.sip.invite import Accepted, Failed
from pbx.sip.requests import host_port

if TYPE_CHECKING:
    from pbx.channel import Channel
    from pbx.conference.service import ConferenceService

log = logging.getLogger("pbx.conference")

ALERT_INFO = "info=alert-autoanswer"


def parse_options(text: str) -> tuple[set[str], dict[str, str]]:
    """`dqA(hello)` -> ({'d', 'q', 'A'}, {'A': 'hello'})."""
    flags: set[str] = set()
    values: dict[str, str] = {}
    i = 0
    while i < len(text):
        c = text[i]
        i += 1
        if not c.strip():
            continue
        flags.add(c)
        if i < len(text) and text[i] == "(":
            end = text.find(")", i)
            end = len(text) if end < 0 else end
            values[c] = text[i + 1:end]
            i = end + 1
    return flags, values


def originator(channel_name: str) -> str:
    """`SIP/6001-0000002a` -> `SIP/6001`: Page never calls the caller's own device."""
    return channel_name.rsplit("-", 1)[0] if "-" in channel_name else channel_name


class Pager:
    """Page() for one PBX: the conference service, the outbound legs, who is busy."""

    def __init__(self, service: ConferenceService, legs: Any,
                 in_use: Callable[[str], bool]) -> None:
        self.service = service
        self.legs = legs  # pbx.legs.LegMaker: resolve() and originate(headers=...)
        self.in_use = in_use  # a peer has a call (option s)

    async def page(self, caller: Channel, targets: list[DialTarget], options: str,
                   timeout: float) -> None:
        flags, values = parse_options(options)
        for unsupported in ("b", "B"):
            if unsupported in flags:
                log.warning("%s: Page option %s() (predial Gosub) is not supported; ignored",
                            caller.name, unsupported)
        cfg = self.service.config()
        bridge = cfg.bridge()
        base = cfg.user()
        menu = cfg.menu()
        assert bridge is not None and base is not None and menu is not None
        if "r" in flags:
            bridge.record_conference = True
        announcement = values.get("A", "") if "A" in flags else ""
        paged = replace(base, quiet=True, end_marked=True, startmuted="d" not in flags,
                        announcement=announcement, pin="", announce_join_leave=False,
                        wait_marked=False, marked=False, admin=False)
        leader = replace(base, quiet=True, marked=True, pin="", announce_join_leave=False,
                         wait_marked=False, end_marked=False,
                         announcement="" if "n" in flags else announcement)
        room = f"page-{secrets.token_hex(4)}"
        me = originator(caller.name).lower()
        chosen: list[DialTarget] = []
        for t in targets:
            if f"{t.tech}/{t.peer}".lower() == me:
                continue
            if "s" in flags and self.in_use(t.peer):
                log.info("Page: %s/%s is in use; not paged", t.tech, t.peer)
                continue
            chosen.append(t)
        legs: list[Any] = []
        tasks = [asyncio.ensure_future(self._page_one(caller, dest, room, bridge, paged, menu,
                                                      timeout, legs))
                 for dest in self.legs.resolve(chosen)]
        log.info("%s: paging %d device(s) into %s", caller.name, len(tasks), room)
        try:
            if caller.state is not ChannelState.UP:
                await caller.answer()
            if "q" not in flags:
                await caller.play(["beep"])
            await self.service.join(caller, room, bridge, leader, menu)
        finally:
            for leg in legs:
                if leg.state is not ChannelState.HUNGUP:
                    await leg.hangup()
            if tasks:
                await asyncio.wait(tasks, timeout=5)

    async def _page_one(self, caller: Channel, dest: Any, room: str, bridge: Any, user: Any,
                        menu: Any, timeout: float, legs: list[Any]) -> None:
        events: asyncio.Queue[Any] = asyncio.Queue()
        local = self.legs.local_for(dest.address)
        headers = [("Call-Info", f"<sip:{host_port(local)}>;answer-after=0"),
                   ("Alert-Info", ALERT_INFO)]
        try:
            leg = await self.legs.originate(caller, dest, lambda _leg, ev: events.put_nowait(ev),
                                            headers)
        except Exception as exc:  # no ports, no listener for that transport
            log.warning("Page: cannot call %s: %s", dest.uri, exc)
            return
        legs.append(leg)
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout if timeout > 0 else None
            while True:
                left = None if deadline is None else max(0.0, deadline - loop.time())
                try:
                    ev = await asyncio.wait_for(events.get(), left)
                except TimeoutError:
                    log.info("Page: %s did not answer in %.0f s", dest.uri, timeout)
                    leg.cancel()
                    return
                if isinstance(ev, Failed):
                    log.info("Page: %s refused (%d)", dest.uri, ev.status)
                    return
                if isinstance(ev, Accepted):
                    break
            leg.dial_events = None
            result = await self.service.join(leg, room, bridge, user, menu)
            log.info("Page: %s left the page (%s)", leg.name, result)
        except Hangup:
            pass
        finally:
            if leg.state is not ChannelState.HUNGUP:
                await leg.hangup()
