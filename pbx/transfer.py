"""Transfers: what REFER, INVITE with Replaces and the DTMF transfer keys do to calls.

Blind transfer (REFER without Replaces, or features.conf's blindxfer): the
transferer's peer (the transferee) is sent to ``exten`` in the transfer
context, Asterisk's rule: the transferer's TRANSFER_CONTEXT variable, else its
peer's ``context=``, else the leg's context. A transferee whose dialplan was
waiting in the bridge (a caller in Dial()) continues at that extension; one
without (a callee) is started there. An extension that is a parking lot's
``parkext`` parks the transferee and the transferer hears the space.

Attended transfer (REFER whose Refer-To carries Replaces naming the phone's
other call): the two parties the transferer talks to are joined and the
transferer's two legs leave. When the other call still rings, the transferee
waits for its answer instead of the transferer (the Dial is handed over).

INVITE with Replaces (RFC 3891): a new call takes the place of an existing
leg, in its bridge (the replaced leg is hung up), or, for a leg that still
rings, as the answer of its Dial (a phone picking up a ringing call: the
CallManager hands it to pbx.pickup, as Pickup() does).

Variables as in Asterisk's bridge.c: BLINDTRANSFER / ATTENDEDTRANSFER on the
transferee (the transferer's name) and on the transferer (its peer's name).
Every outcome goes to ``report(status, final)``: a REFER's NOTIFYs.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from pbx.bridge import GOTO, PEER_HANGUP, TRANSFERRED, Exit
from pbx.channel import ChannelState

if TYPE_CHECKING:
    from pbx.bridge import BridgeHost
    from pbx.sip.refer import ReferRequest
    from pbx.sip.replaces import Replaces
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.transfer")

Report = Callable[[int, bool], None]  # (SIP status of the outcome so far, final)


class TransferHost(Protocol):
    """What transfers need from the PBX besides a BridgeHost (pbx.calls.CallManager)."""

    def leg_by_dialog(self, call_id: str, tag: str) -> SipChannel | None: ...

    def extension_exists(self, context: str, exten: str, callerid: str | None) -> bool: ...

    def is_park_exten(self, context: str, exten: str) -> bool: ...

    def fork_cdr(self, leg: SipChannel, transfer: dict[str, str]) -> None: ...

    def track_cdr(self, leg: SipChannel, transfer: dict[str, str]) -> None: ...

    def take_parked(self, leg: SipChannel, taker: SipChannel) -> Any: ...


def transfer_context(leg: SipChannel) -> str:
    """TRANSFER_CONTEXT, else the peer's context, else the leg's (Asterisk)."""
    ctx = leg.variables.get("TRANSFER_CONTEXT", "")
    if ctx:
        return ctx
    if leg.peer is not None and leg.peer.context:
        return leg.peer.context
    return leg.context or "default"


def set_transfer_variables(transferer: SipChannel, peers: list[SipChannel],
                           attended: bool) -> None:
    """bridge.c ast_bridge_set_transfer_variables: the transferer gets its peer's name,
    the others the transferer's; the other kind's variable is cleared."""
    write, erase = ("ATTENDEDTRANSFER", "BLINDTRANSFER") if attended else \
        ("BLINDTRANSFER", "ATTENDEDTRANSFER")
    if peers:
        transferer.variables[write] = peers[0].name
        transferer.variables.pop(erase, None)
    for peer in peers:
        peer.variables[write] = transferer.name
        peer.variables.pop(erase, None)


class Transfers:
    """The transfer operations of one PBX."""

    def __init__(self, host: TransferHost, bridges: BridgeHost) -> None:
        self.host = host
        self.bridges = bridges
        self.durations: list[float] = []  # seconds of PBX time per transfer (bench, tests)

    # ------------------------------------------------------------------ REFER

    def refer(self, leg: SipChannel, request: ReferRequest, report: Report) -> None:
        """A REFER from ``leg``'s phone, accepted (202): do it, report how it goes."""
        started = time.perf_counter()
        if request.replaces is not None:
            self._refer_attended(leg, request.replaces, report)
        else:
            ctx = transfer_context(leg)
            exten = request.exten
            if not self.host.extension_exists(ctx, exten, leg.callerid.num):
                log.info("%s: REFER to %s@%s: no such extension", leg.name, exten, ctx)
                report(404, True)
                return
            if request.referred_by:
                other = leg.bridge.other(leg) if leg.bridge is not None else None
                if other is not None:  # res_pjsip_refer: SIPREFERREDBYHDR on the transferee
                    other.variables["SIPREFERREDBYHDR"] = request.referred_by
            carried = self.blind(leg, ctx, exten, report=report)
            if carried is not False:
                # The transferer's phone hangs up once the final NOTIFY tells it the
                # outcome; its leg's hangup waits for that (SipChannel._after_refer).
                self.finish_transferer(leg, carried)
        self.durations.append(time.perf_counter() - started)

    # ------------------------------------------------------------------ blind

    def blind(self, transferer: SipChannel, context: str, exten: str, *,
              report: Report | None = None) -> Any:
        """Send ``transferer``'s peer to exten@context; ``transferer`` leaves.

        Returns the future the transferer's own dialplan waits on (None if none),
        unresolved: the caller gives it TRANSFERRED when the transferer's part is
        over (at once, or after a park announcement) via :meth:`finish_transferer`.
        A failure is reported and returns False."""
        bridge = transferer.bridge
        transferee = bridge.other(transferer) if bridge is not None else None
        if bridge is None or transferee is None or transferee.state is not ChannelState.UP:
            log.info("%s: blind transfer: not talking to anyone", transferer.name)
            if report is not None:
                report(400, True)
            return False
        log.info("%s: blind transfer of %s to %s@%s", transferer.name, transferee.name,
                 exten, context)
        set_transfer_variables(transferer, [transferee], attended=False)
        info = {"type": "blind", "transferer": transferer.name,
                "transferee": transferee.name, "target": f"{exten}@{context}"}
        transferer.transfer = dict(info, role="transferer")
        if report is not None:
            transferee.progress_observer = _observer(report)
        has_dialplan = bridge.has_waiter(transferee)
        if has_dialplan:  # its record so far ends here; a new one starts at the target
            self.host.fork_cdr(transferee, dict(info, role="transferee"))
        else:
            transferee.transfer = dict(info, role="transferee")
        carried = bridge.dissolve({transferee: Exit(GOTO, context, exten, 1),
                                   transferer: None})
        return carried.get(transferer)

    def finish_transferer(self, transferer: SipChannel, carried: Any) -> None:
        """The transferer's part is over: its dialplan ends (or it is hung up)."""
        if carried is not None and not carried.done():
            carried.set_result(Exit(TRANSFERRED))
        elif transferer.state is not ChannelState.HUNGUP:
            self.bridges.spawn(transferer.hangup())

    # --------------------------------------------------------------- attended

    def _refer_attended(self, leg: SipChannel, replaces: Replaces, report: Report) -> None:
        other = (self.host.leg_by_dialog(replaces.call_id, replaces.to_tag)
                 or self.host.leg_by_dialog(replaces.call_id, replaces.from_tag))
        if other is None or other is leg:
            log.info("%s: REFER with Replaces: no call %s here", leg.name, replaces.call_id)
            report(404 if other is None else 400, True)
            return
        if other.state is ChannelState.HUNGUP:
            report(603, True)
            return
        status = self.attended(leg, other)
        report(status, True)

    def attended(self, first: SipChannel, second: SipChannel) -> int:
        """The transferer's legs ``first`` and ``second``: join their parties.

        Returns the SIP status of the outcome (200, or 503 when the calls are
        not in a state that can be joined)."""
        b1, b2 = first.bridge, second.bridge
        p1 = b1.other(first) if b1 is not None else None
        p2 = b2.other(second) if b2 is not None else None
        if p1 is not None and p2 is not None:
            return self._join(first, p1, second, p2)
        # One of the calls still rings: its Dial goes on for the other call's party.
        if p1 is not None and second.dialing is not None:
            return self._hand_over(first, p1, second)
        if p2 is not None and first.dialing is not None:
            return self._hand_over(second, p2, first)
        log.info("%s/%s: attended transfer: the calls cannot be joined", first.name,
                 second.name)
        return 503

    def _join(self, x1: SipChannel, p1: SipChannel, x2: SipChannel, p2: SipChannel) -> int:
        b1, b2 = x1.bridge, x2.bridge
        assert b1 is not None and b2 is not None
        log.info("attended transfer by %s/%s: %s now talks to %s", x1.name, x2.name,
                 p1.name, p2.name)
        set_transfer_variables(x1, [p1], attended=True)
        set_transfer_variables(x2, [p2], attended=True)
        info = {"type": "attended", "transferer": x1.name}
        x1.transfer = dict(info, role="transferer", transferee=p1.name, target=p2.name)
        x2.transfer = dict(info, role="transferer", transferee=p2.name, target=p1.name)
        p1_waits, p2_waits = b1.has_waiter(p1), b2.has_waiter(p2)
        carried = b2.dissolve({x2: Exit(TRANSFERRED), p2: None})
        b1.replace(x1, p2, Exit(TRANSFERRED), carried.get(p2))
        self._records(p1, p1_waits, p2, p2_waits, info)
        return 200

    def _records(self, p1: SipChannel, p1_waits: bool, p2: SipChannel, p2_waits: bool,
                 info: dict[str, str]) -> None:
        """CDR: a party with its own dialplan closes its record and starts a new
        one; the new conversation of parties without one gets a record of its own
        (the transferee's, written when it ends)."""
        for leg, waits, peer in ((p1, p1_waits, p2), (p2, p2_waits, p1)):
            if waits:
                self.host.fork_cdr(leg, dict(info, role="transferee", target=peer.name))
                leg.dst_channel = peer
        if not p1_waits and not p2_waits:
            self.host.track_cdr(p1, dict(info, role="transferee", target=p2.name))
            p1.dst_channel = p2

    def _hand_over(self, x1: SipChannel, p1: SipChannel, ringing: SipChannel) -> int:
        """``ringing``'s Dial rings on for ``p1``, who leaves ``x1``'s bridge."""
        dial = ringing.dialing
        b1 = x1.bridge
        assert b1 is not None and dial is not None
        log.info("attended transfer by %s: %s waits for %s's ringing call", x1.name, p1.name,
                 ringing.name)
        set_transfer_variables(x1, [p1], attended=True)
        x1.transfer = {"type": "attended", "role": "transferer", "transferee": p1.name,
                       "transferer": x1.name, "target": ringing.exten}
        ringing.transfer = dict(x1.transfer)
        waits = b1.has_waiter(p1)
        carried = b1.dissolve({x1: Exit(TRANSFERRED), p1: None})
        info = {"type": "attended", "transferer": x1.name, "role": "transferee"}
        if waits:
            self.host.fork_cdr(p1, info)
        else:
            self.host.track_cdr(p1, info)
        if not dial.hand_over(p1, carried.get(p1)):
            fut = carried.get(p1)
            if fut is not None and not fut.done():
                fut.set_result(Exit(PEER_HANGUP))
            return 503
        return 200

    # ----------------------------------------------------------- INVITE/Replaces

    def check_replaces(self, replaces: Replaces) -> tuple[SipChannel | None, int]:
        """The leg an INVITE with Replaces takes over, or the status refusing it
        (RFC 3891 3: 481 unknown or an early dialog we did not start, 486 for
        early-only on a confirmed one, 603 for one that has ended)."""
        old = self.host.leg_by_dialog(replaces.call_id, replaces.to_tag)
        if old is None:
            return None, 481
        if old.state is ChannelState.HUNGUP:
            return None, 603
        if old.state is not ChannelState.UP:
            if old.inbound or old.in_dial is None:
                return None, 481  # an early dialog it did not start
            return old, 0
        if replaces.early_only:
            return None, 486
        if self.host.take_parked(old, None) is not None:
            return old, 0  # a parked call: taken as ParkedCall() would
        if old.bridge is None or old.bridge.other(old) is None:
            return None, 480  # up, but not talking to anyone it could be joined with
        return old, 0

    def take_over(self, old: SipChannel, new: SipChannel) -> Any:
        """``new`` (answered) takes the place of ``old`` (answered): in its bridge
        (``old`` is hung up), or as the retriever of ``old`` parked. False when it
        cannot; for a parked call, the future of ``new``'s exit from the bridge with
        it. (A ``old`` still ringing is picked up instead: pbx.pickup.)"""
        info = {"type": "replaces", "role": "transferee", "replaced": old.name}
        taken = self.host.take_parked(old, new)
        if taken is not None:
            log.info("%s takes the parked call %s (INVITE with Replaces)", new.name, old.name)
            new.dst_channel = old
            new.transfer = dict(info, target=old.name)
            return taken
        bridge = old.bridge
        peer = bridge.other(old) if bridge is not None else None
        if bridge is not None and peer is not None:
            log.info("%s replaces %s (INVITE with Replaces), talking to %s", new.name,
                     old.name, peer.name)
            new.dst_channel = peer
            new.transfer = dict(info, target=peer.name)
            bridge.replace(old, new, Exit(TRANSFERRED))
            return True
        return False


def _observer(report: Report) -> Callable[[int], None]:
    """A transferee's progress (180, 183, 200 or a failure) as a REFER's report."""
    def observe(status: int) -> None:
        if status < 200:
            report(status, False)
        else:
            report(status, True)
    return observe
