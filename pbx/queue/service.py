"""The queues of one PBX: the engine's edge.

:class:`QueueService` owns the :class:`~pbx.queue.engine.QueueEngine` and carries
out its actions: it rings members through the call core (the LegFactory Dial uses:
`resolve` a member's interface to contacts, `originate` a leg per contact, first
answer wins, the others get a CANCEL), plays announcements and music to waiting
callers, bridges the caller with the member that answered (pbx.dial's bridge),
writes queue_log records to the store and saves dynamic members in the AstDB.
The engine's timers are on the SIP core's heap: the core calls `on_timer`.

Each caller in a queue is the coroutine of its Queue() application (:meth:`enter`):
it waits for what the engine tells it (announce, connect, exit) and for its own
hangup or digits, so everything done to one caller's media happens in its task.
Member legs report their INVITE's progress into :meth:`_leg_event` (a callback,
as Dial's legs do); nothing here runs per packet.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import functools
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from pbx import q850
from pbx.bridge import GOTO, PEER_HANGUP, TRANSFERRED
from pbx.bridge import Exit as BridgeExit
from pbx.channel import ChannelState, Hangup
from pbx.dial import COMPLETED_ELSEWHERE, PickedUp, answer_caller, bridge
from pbx.media.ports import PortsExhausted
from pbx.queue.config import QueuesConfig
from pbx.queue.devstate import DeviceState, DeviceStateSource, state_text
from pbx.queue.engine import (
    Announce,
    Connect,
    Exit,
    JoinRequest,
    Persist,
    QueueEngine,
    Ring,
    StopRing,
)
from pbx.queue.members import PERSIST_FAMILY, MemberSpec, decode_members, encode_members
from pbx.queue.model import BRIDGED, Caller, QueueState
from pbx.queue.music import WaitingMusic
from pbx.queue.qlog import QueueLogRecord
from pbx.sip.invite import Accepted, Failed

if TYPE_CHECKING:
    from pbx.dial import LegFactory
    from pbx.sip.timers import TimerHeap
    from pbx.sipchannel import SipChannel

log = logging.getLogger("pbx.queue")

BUSY_STATUSES = (486, 600, 603)
DIGITS = "0123456789*#"


class QueueLogSink(Protocol):
    """Where queue_log records go (pbx.store.Store implements it): kept, written behind."""

    def add_queue_log(self, row: dict[str, Any]) -> None: ...


@dataclass(slots=True)
class QueueCall:
    """What Queue() asks for (its arguments and the channel variables it reads)."""

    queue: str
    options: str = ""
    url: str = ""
    member_announce: list[str] | None = None
    timeout: float | None = None
    prio: int = 0
    max_penalty: int = 2**31 - 1
    min_penalty: int = 2**31 - 1
    position: int = 0
    # (context, digits) -> "exact" (an extension), "more" (could become one) or "none"
    key_match: Callable[[str, str], str] | None = None


@dataclass(slots=True)
class QueueOutcome:
    """How Queue() ended, for the variables it sets."""

    status: str | None = None  # QUEUESTATUS; None: not set (unknown queue, a key, answered)
    answered: bool = False
    callee_hungup: bool = False
    abandoned: bool = False
    key: str = ""
    context: str = ""
    wait: float = 0.0  # QUEUEWAIT: until a member answered (or the caller left)
    talk: float = 0.0  # ANSWEREDTIME
    total: float = 0.0  # DIALEDTIME
    member: str = ""  # the interface that answered
    variables: dict[str, str] = field(default_factory=dict)
    transferred: bool = False  # the caller transferred the call away (option T)
    goto: tuple[str, str, int] | None = None  # the member transferred the caller there


@dataclass(eq=False, slots=True)
class _MemberRing:
    """The legs ringing one member for one caller (one per registered contact)."""

    interface: str
    expected: int = 0
    legs: list[SipChannel] = field(default_factory=list)
    failures: list[int] = field(default_factory=list)
    stopped: bool = False
    stop_reason: str | None = None
    answered: SipChannel | None = None


@dataclass(eq=False, slots=True)
class _Waiter:
    """One caller's side of the service: its channel and what the engine told it."""

    channel: SipChannel
    caller: Caller
    call: QueueCall
    commands: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    rings: dict[str, _MemberRing] = field(default_factory=dict)
    member_leg: SipChannel | None = None
    digits: str = ""


class QueueService:
    """Every queue of one PBX (see the module docstring)."""

    def __init__(self, *, legs: LegFactory, timers: TimerHeap, now: Callable[[], float],
                 devstate: DeviceStateSource, music: WaitingMusic, astdb: Any = None,
                 store: QueueLogSink | None = None,
                 spawn: Callable[[Coroutine[Any, Any, Any]], asyncio.Task] | None = None,
                 wall: Callable[[], float] = time.time,
                 canonical: Callable[[str], str] | None = None,
                 call_soon: Callable[[Callable[[], None]], Any] | None = None) -> None:
        self.legs = legs
        self.now = now  # the engine's clock: the SIP core's (its timer heap's)
        self.wall = wall  # epoch seconds for queue_log lines
        self.music = music
        self.astdb = astdb  # the AstDB (dialplan.services.AstDbPort)
        self.store = store
        self._spawn = spawn or asyncio.ensure_future
        self.engine = QueueEngine(timers=timers, timer_owner=self, devstate=devstate)
        self.config = QueuesConfig()
        self._waiters: dict[int, _Waiter] = {}
        self._actions: collections.deque[Any] = collections.deque()
        self._running = False
        self._tasks: set[asyncio.Future] = set()
        # Device-state changes (device_changed): the registry's spelling of a device
        # (PJSIP/1101 and SIP/1101 are one), memoized per state interface; changes
        # arriving together are looked at once, after the code that made them.
        self._canonical = canonical or str.strip
        self._canonical_of: dict[str, str] = {}
        self._call_soon = call_soon
        self._changed: set[str] = set()

    # --- life cycle -------------------------------------------------------------
    async def start(self, config: QueuesConfig) -> None:
        """Load the queues, read back the dynamic members saved in the AstDB, and
        write QUEUESTART (reporting tools see where a run begins)."""
        self.config = config
        self._run(self.engine.configure(config, self.now()))
        self._log(QueueLogRecord("NONE", "NONE", "NONE", "QUEUESTART", ("",)))
        if self.astdb is not None and config.general.persistentmembers:
            await self._restore_members()

    async def _restore_members(self) -> None:
        prefix = f"/{PERSIST_FAMILY}/"
        for key in self.astdb.keys(PERSIST_FAMILY):
            queue = key[len(prefix):] if key.startswith(prefix) else key
            value = self.astdb.get(PERSIST_FAMILY, queue) or ""
            members, problems = decode_members(value)
            for problem in problems:
                log.warning("queue %s: %s", queue, problem)
            if not self.engine.restore_members(queue, members, self.now()):
                log.info("queue %s is gone: its saved members are deleted", queue)
                self.astdb.delete(PERSIST_FAMILY, queue)
            elif members:
                log.info("queue %s: %d dynamic members restored", queue, len(members))
        await self.astdb.settle()
        self._run(self.engine.recheck(self.now()))

    def reload(self, config: QueuesConfig) -> None:
        self.config = config
        self._run(self.engine.configure(config, self.now()))

    async def stop(self) -> None:
        for task in list(self._tasks):
            task.cancel()

    # --- the engine's edge ---------------------------------------------------------
    def on_timer(self, kind: str, now: float) -> None:
        """A timer of the engine fired (the SIP core's heap calls this)."""
        self._run(self.engine.on_timer(kind, now))

    def device_changed(self, device: str) -> None:
        """The device-state registry's listener (`DeviceStates.listen`): a queue with
        callers whose member watches `device` looks at its members again, so a member
        that became free is rung at once rather than at the next 1 s recheck (and a
        queue whose last member went away applies leavewhenempty). Deferred with
        call_soon: the change may come from inside this service's own actions (a
        member leg it cancels), and a burst of changes costs one recheck."""
        first = not self._changed
        self._changed.add(device)
        if first:
            call_soon = self._call_soon or asyncio.get_running_loop().call_soon
            call_soon(self._devices_changed)

    def _devices_changed(self) -> None:
        devices, self._changed = self._changed, set()
        memo, canonical = self._canonical_of, self._canonical
        if len(memo) > 10_000:  # dynamic members come and go: keep it bounded
            memo.clear()
        names = []
        for q in self.engine.queues.values():
            if not q.callers:
                continue
            for m in q.members:
                watched = memo.get(m.state_interface)
                if watched is None:
                    watched = memo[m.state_interface] = canonical(m.state_interface)
                if watched in devices:
                    names.append(q.name)
                    break
        if names:
            self._run(self.engine.recheck(self.now(), names))

    def _run(self, actions: list[Any]) -> None:
        """Carry out actions in order; actions of engine calls made meanwhile queue up."""
        self._actions.extend(actions)
        if self._running:
            return
        self._running = True
        try:
            while self._actions:
                action = self._actions.popleft()
                try:
                    self._do(action)
                except Exception:
                    log.exception("queue action %r failed", action)
        finally:
            self._running = False

    def _do(self, action: Any) -> None:
        kind = type(action)
        if kind is QueueLogRecord:
            self._log(action)
        elif kind is Ring:
            self._ring(action)
        elif kind is StopRing:
            self._stop_ring(action)
        elif kind in (Announce, Connect, Exit):
            waiter = self._waiters.get(action.caller)
            if waiter is not None:
                waiter.commands.put_nowait(action)
        elif kind is Persist:
            self._persist(action)

    def _log(self, record: QueueLogRecord) -> None:
        log.debug("queue_log %s", record.line(self.wall()))
        if self.store is None:
            return
        row = {"time": self.wall(), "callid": record.callid, "queuename": record.queue,
               "agent": record.agent, "event": record.event, "data": record.data_text()}
        self.store.add_queue_log(row)

    def _persist(self, action: Persist) -> None:
        if self.astdb is None:
            return
        if action.members:
            self.astdb.put(PERSIST_FAMILY, action.queue, encode_members(action.members))
        else:
            self.astdb.delete(PERSIST_FAMILY, action.queue)
        self._keep(self.astdb.settle())

    def _keep(self, coro: Any) -> None:
        task = self._spawn(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- ringing members ----------------------------------------------------------
    def _ring(self, action: Ring) -> None:
        from dialplan.apps.dial import parse_targets
        from dialplan.substitute import DialplanError

        waiter = self._waiters.get(action.caller)
        if waiter is None:
            self._run(self.engine.member_failed(action.caller, action.interface, self.now(),
                                                unavailable=True))
            return
        ring = _MemberRing(action.interface)
        waiter.rings[action.interface] = ring
        try:
            destinations = self.legs.resolve(parse_targets(action.interface))
        except DialplanError as exc:
            log.warning("queue %s: member %s: %s", waiter.caller.queue.name,
                        action.interface, exc)
            destinations = []
        if not destinations:
            self._member_failed(waiter, ring, unavailable=True)
            return
        ring.expected = len(destinations)
        for dest in destinations:
            self._keep(self._originate(waiter, ring, dest))

    async def _originate(self, waiter: _Waiter, ring: _MemberRing, dest: Any) -> None:
        try:
            leg = await self.legs.originate(
                waiter.channel, dest, functools.partial(self._leg_event, waiter, ring))
        except (PortsExhausted, OSError) as exc:
            log.error("queue %s: cannot call %s: %s", waiter.caller.queue.name,
                      ring.interface, exc)
            self._fork_failed(waiter, ring, 503)
            return
        except Exception:
            log.exception("queue %s: calling %s failed", waiter.caller.queue.name,
                          ring.interface)
            self._fork_failed(waiter, ring, 500)
            return
        ring.legs.append(leg)
        if ring.stopped or (ring.answered is not None and ring.answered is not leg):
            leg.dial_events = None
            leg.cancel(ring.stop_reason)

    def _leg_event(self, waiter: _Waiter, ring: _MemberRing, leg: SipChannel, ev: Any) -> None:
        kind = type(ev)
        if kind is Accepted:
            if ring.stopped or ring.answered is not None:
                leg.dial_events = None
                leg.cancel()  # answered too late: BYE
                return
            ring.answered = leg
            for other in ring.legs:
                if other is not leg:
                    other.dial_events = None
                    other.cancel(COMPLETED_ELSEWHERE)
            leg.dial_events = None
            ok, actions = self.engine.member_answered(waiter.caller.id, ring.interface,
                                                      leg.uniqueid, self.now())
            if not ok:
                leg.cancel()
                return
            waiter.member_leg = leg
            waiter.rings.pop(ring.interface, None)
            self._run(actions)
        elif kind is Failed:
            self._fork_failed(waiter, ring, ev.status)
        elif kind is PickedUp:
            self._picked_up(waiter, ring, ev)

    def _picked_up(self, waiter: _Waiter, ring: _MemberRing, ev: PickedUp) -> None:
        """A ringing member leg was picked up (Pickup(), PickupChan(), *8): as in
        Asterisk, the picker answers the queue call in the member's place; the
        member's phones get a CANCEL "completed elsewhere"."""
        if ev.accepted.done():
            return  # the picker gave up waiting
        if ring.stopped or ring.answered is not None:
            ev.accepted.set_result(False)
            return
        ok, actions = self.engine.member_answered(waiter.caller.id, ring.interface,
                                                  ev.picker.uniqueid, self.now())
        ev.accepted.set_result(ok)
        if not ok:
            return
        ring.answered = ev.picker
        for leg in ring.legs:
            leg.dial_events = None
            leg.cancel(COMPLETED_ELSEWHERE)
        waiter.member_leg = ev.picker
        waiter.rings.pop(ring.interface, None)
        self._run(actions)

    def _fork_failed(self, waiter: _Waiter, ring: _MemberRing, status: int) -> None:
        ring.failures.append(status)
        if ring.stopped or ring.answered is not None or len(ring.failures) < ring.expected:
            return
        self._member_failed(waiter, ring, busy=any(s in BUSY_STATUSES for s in ring.failures))

    def _member_failed(self, waiter: _Waiter, ring: _MemberRing, *, busy: bool = False,
                       unavailable: bool = False) -> None:
        waiter.rings.pop(ring.interface, None)
        ring.stopped = True
        self._run(self.engine.member_failed(waiter.caller.id, ring.interface, self.now(),
                                            busy=busy, unavailable=unavailable))

    def _stop_ring(self, action: StopRing) -> None:
        waiter = self._waiters.get(action.caller)
        if waiter is None:
            return
        ring = waiter.rings.pop(action.interface, None)
        if ring is None:
            return
        ring.stopped = True
        ring.stop_reason = COMPLETED_ELSEWHERE if action.elsewhere else None
        for leg in ring.legs:
            leg.dial_events = None
            leg.cancel(ring.stop_reason)

    # --- a caller in a queue (the Queue() application's coroutine) -------------------
    async def enter(self, channel: SipChannel, call: QueueCall) -> QueueOutcome:
        """Queue the caller until a member talks to it and that call ends, or it leaves.
        Raises Hangup when the caller hangs up."""
        started = self.now()
        req = JoinRequest(channel=channel.name, uniqueid=channel.uniqueid,
                          cid_num=channel.callerid.num, cid_name=channel.callerid.name,
                          options=option_letters(call.options), url=call.url,
                          member_announce=call.member_announce, timeout=call.timeout,
                          prio=call.prio, max_penalty=call.max_penalty,
                          min_penalty=call.min_penalty, position=call.position)
        refusal, caller, actions = self.engine.join(call.queue, req, started)
        if caller is None:
            if refusal == "UNKNOWN":
                log.warning("%s: unable to join queue '%s': no such queue", channel.name,
                            call.queue)
                return QueueOutcome()
            log.info("%s: queue %s refused the call: %s", channel.name, call.queue, refusal)
            return QueueOutcome(status=refusal)
        waiter = _Waiter(channel, caller, call)
        self._waiters[caller.id] = waiter
        log.info("%s joined queue %s at position %d", channel.name, call.queue, caller.pos)
        try:
            self._run(actions)
            await self._hold(waiter)
            return await self._wait(waiter, started)
        finally:
            if caller.id in self.engine.callers:  # left without the engine knowing: shutdown
                self._run(self.engine.call_ended(caller.id, self.now(), caller_hung_up=True)
                          if caller.state == BRIDGED else
                          self.engine.caller_gone(caller.id, self.now()))
            self._waiters.pop(caller.id, None)
            for ring in list(waiter.rings.values()):
                self._stop_ring(StopRing(caller.id, ring.interface))
            await self.music.stop(channel)

    def _music_class(self, waiter: _Waiter) -> str:
        return option_arg(waiter.call.options, "m") or waiter.caller.queue.spec.musicclass

    async def _hold(self, waiter: _Waiter) -> None:
        """Music (or ringing, option r) while the caller waits."""
        ch = waiter.channel
        if "r" in option_letters(waiter.call.options):
            if ch.state is not ChannelState.UP:
                await ch.ringing()
            return
        await self.music.start(ch, self._music_class(waiter))

    async def _wait(self, waiter: _Waiter, started: float) -> QueueOutcome:
        ch = waiter.channel
        while True:
            command = await self._next(waiter)
            if isinstance(command, str):  # a digit
                self._digit(waiter, command)
                continue
            if isinstance(command, Exit):
                return self._exit_outcome(command, started)
            if isinstance(command, Announce):
                outcome = await self._announce(waiter, command, started)
                if outcome is not None:
                    return outcome
                continue
            if isinstance(command, Connect):
                outcome = await self._connect(waiter, command, started)
                if outcome is not None:
                    return outcome
                await self._hold(waiter)  # the member hung up first: back in line
                continue
            log.debug("%s: unexpected queue command %r", ch.name, command)

    async def _next(self, waiter: _Waiter) -> Any:
        """The next command for this caller, or a digit it dialled; raises Hangup (after
        telling the engine) when the caller hangs up."""
        ch = waiter.channel
        if not waiter.commands.empty():
            return waiter.commands.get_nowait()
        get = asyncio.ensure_future(waiter.commands.get())
        gone = asyncio.ensure_future(ch.hungup.wait())
        digit = asyncio.ensure_future(ch.digits.get())
        try:
            done, _ = await asyncio.wait({get, gone, digit}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for f in (get, gone, digit):
                if not f.done():
                    f.cancel()
        if get in done:
            if digit in done:  # both at once: keep the digit for the next round
                ch.digits.put_nowait(digit.result())
            return get.result()
        if digit in done:
            return digit.result()
        self._gone(waiter)
        raise Hangup(ch.name)

    def _gone(self, waiter: _Waiter) -> None:
        self._run(self.engine.caller_gone(waiter.caller.id, self.now()))
        log.info("%s hung up in queue %s", waiter.channel.name, waiter.caller.queue.name)

    def _digit(self, waiter: _Waiter, digit: str) -> None:
        """A key while waiting: with the queue's `context`, an extension there takes
        the caller out of the queue (EXITWITHKEY)."""
        context = waiter.caller.queue.spec.context
        match = waiter.call.key_match
        if not context or match is None:
            return
        waiter.digits += digit
        verdict = match(context, waiter.digits)
        if verdict == "exact":
            self._run(self.engine.exit_key(waiter.caller.id, waiter.digits, self.now()))
        elif verdict != "more":
            waiter.digits = ""

    async def _announce(self, waiter: _Waiter, command: Announce,
                        started: float) -> QueueOutcome | None:
        """Music stops, the prompts play (a key may interrupt them), music again."""
        ch = waiter.channel
        log.debug("%s: announcing %s", ch.name, command.prompts)
        await self.music.stop(ch)
        interrupt = DIGITS if waiter.caller.queue.spec.context else ""
        play = asyncio.ensure_future(ch.play(command.prompts, interrupt))
        get = asyncio.ensure_future(waiter.commands.get())
        try:
            done, _ = await asyncio.wait({play, get}, return_when=asyncio.FIRST_COMPLETED)
        except asyncio.CancelledError:  # the call is torn down (PBX shutdown)
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError, Hangup):
                await play
            raise
        finally:
            if not get.done():
                get.cancel()
        if get in done:  # an exit (the queue timeout) while the announcement plays
            play.cancel()
            with contextlib.suppress(asyncio.CancelledError, Hangup):
                await play
            command2 = get.result()
            if isinstance(command2, Exit):
                return self._exit_outcome(command2, started)
            waiter.commands.put_nowait(command2)
            return None
        try:
            key = play.result()
        except Hangup:
            self._gone(waiter)
            raise
        if key:
            self._digit(waiter, key)
        self._run(self.engine.announcement_done(waiter.caller.id, self.now()))
        await self._hold(waiter)  # an exit queued meanwhile stops it again at once
        return None

    def _exit_outcome(self, command: Exit, started: float) -> QueueOutcome:
        now = self.now()
        return QueueOutcome(status=command.status, abandoned=command.abandoned,
                            key=command.key, context=command.context, wait=now - started,
                            total=now - started, variables=dict(command.variables))

    async def _connect(self, waiter: _Waiter, command: Connect,
                       started: float) -> QueueOutcome | None:
        """A member answered: its announcement, then the bridge. None when the member
        hung up before it (AGENTDUMP): the caller is back in line."""
        ch = waiter.channel
        leg = waiter.member_leg
        cid = waiter.caller.id
        assert leg is not None
        await self.music.stop(ch)
        answered_at = self.now()
        try:
            if command.delay:
                await leg.sleep(command.delay)
            if command.member_prompts:
                await leg.play(command.member_prompts)
        except Hangup:
            pass
        if leg.state is ChannelState.HUNGUP:
            log.warning("%s: member %s hung up on the caller", ch.name, command.interface)
            waiter.member_leg = None
            self._run(self.engine.agent_dump(cid, self.now()))
            return None
        if ch.state is ChannelState.HUNGUP:
            log.info("%s hung up just before talking to %s", ch.name, command.interface)
            self._run(self.engine.caller_gone(cid, self.now()))
            await leg.hangup(q850.NORMAL_CLEARING)
            raise Hangup(ch.name)
        if command.caller_prompts:
            with contextlib.suppress(Hangup):
                await ch.play(command.caller_prompts)
        self._run(self.engine.bridged(cid, self.now()))
        ch.variables.update(command.variables)
        leg.variables.update(command.variables)
        ch.dst_channel = leg
        try:
            await answer_caller(ch, leg)
        except Hangup:
            self._run(self.engine.call_ended(cid, self.now(), caller_hung_up=True))
            await leg.hangup(q850.NORMAL_CLEARING)
            raise
        bridged_at = self.now()
        exit_: BridgeExit | None = None
        try:
            # Queue's t/T, k/K, x/X, h/H are Dial's: features.conf in the bridge.
            exit_ = await bridge(ch, leg, waiter.call.options)
        finally:
            end = self.now()
            sent = exit_ is not None and exit_.kind == GOTO  # the member transferred the caller
            self._run(self.engine.call_ended(
                cid, end, caller_hung_up=exit_ is None or exit_.kind != PEER_HANGUP,
                blind_to=(exit_.exten, exit_.context) if exit_ is not None and sent else None))
        return QueueOutcome(answered=True, callee_hungup=exit_.kind == PEER_HANGUP,
                            wait=answered_at - started, talk=end - bridged_at,
                            total=end - started, member=command.interface,
                            variables=dict(command.variables),
                            transferred=exit_.kind == TRANSFERRED,
                            goto=(exit_.context, exit_.exten, exit_.priority) if sent else None)

    # --- members (AddQueueMember & co, `pbx queue add|remove|pause|unpause`) --------
    def add_member(self, queue: str, spec: MemberSpec, callid: str = "NONE") -> str:
        status, actions = self.engine.add_member(queue, spec, self.now(), callid)
        self._run(actions)
        return status

    def remove_member(self, queue: str, interface: str, callid: str = "NONE") -> str:
        status, actions = self.engine.remove_member(queue, interface, self.now(), callid)
        self._run(actions)
        return status

    def set_paused(self, queue: str, interface: str, paused: bool, reason: str = "") -> int:
        found, actions = self.engine.set_paused(queue, interface, paused, self.now(), reason)
        self._run(actions)
        return found

    def set_penalty(self, queue: str, interface: str, penalty: int) -> int:
        found, actions = self.engine.set_penalty(queue, interface, penalty, self.now())
        self._run(actions)
        return found

    def set_ringinuse(self, queue: str, interface: str, ringinuse: bool) -> int:
        found, actions = self.engine.set_ringinuse(queue, interface, ringinuse, self.now())
        self._run(actions)
        return found

    def log_event(self, record: QueueLogRecord) -> None:
        """QueueLog(): a record the dialplan writes itself."""
        self._log(record)

    # --- what the dialplan functions and `pbx queue show` read ------------------------
    def queue(self, name: str) -> QueueState | None:
        q = self.engine.queues.get(name)
        return None if q is None or q.dead else q

    def queue_variables(self, name: str) -> dict[str, str] | None:
        """QUEUE_VARIABLES(): the QUEUE* values (empty without setqueuevar=yes)."""
        q = self.queue(name)
        return None if q is None else self.engine.queue_variables(q)

    def member_count(self, name: str, option: str) -> int | None:
        """QUEUE_MEMBER(queue,logged|free|ready|count); None for an unknown queue."""
        q = self.queue(name)
        if q is None:
            return None
        engine = self.engine
        now = self.now()
        if option == "count":
            return len(q.members)
        n = 0
        for m in q.members:
            state = engine.member_state(m)
            free = state == DeviceState.NOT_INUSE and not m.paused
            if option == "logged":
                n += state not in (DeviceState.UNAVAILABLE, DeviceState.INVALID)
            elif option == "free":
                n += free
            elif option == "ready":
                n += free and not engine.in_wrapup(q, m, now)
        return n

    def rows(self) -> list[dict[str, Any]]:
        """Every queue for `pbx queue show` (JSON)."""
        now = self.now()
        out = []
        for q in self.engine.queues.values():
            if q.dead:
                continue
            members = []
            for m in q.members:
                members.append({
                    "interface": m.interface, "name": m.name, "state_interface":
                    m.state_interface, "penalty": m.penalty, "ringinuse": m.ringinuse,
                    "dynamic": m.dynamic, "in_call": m.starttime is not None,
                    "paused": m.paused, "reason": m.reason,
                    "paused_for": int(now - m.lastpause), "calls": m.calls,
                    "last_call_ago": None if m.lastcall is None else int(now - m.lastcall),
                    "login_ago": int(now - m.logintime),
                    "status": state_text(self.engine.member_state(m))})
            callers = [{"channel": c.channel, "wait": int(now - c.start), "prio": c.prio,
                        "position": c.pos}
                       for c in q.callers if c.state != BRIDGED]
            spec = q.spec
            completed = q.completed
            sl = 100.0 * q.completed_in_sl / completed if completed else 0.0
            both = completed + q.abandoned
            sl2 = 100.0 * (q.abandoned_in_sl + q.completed_in_sl) / both if both else 0.0
            out.append({"name": q.name, "strategy": spec.strategy, "maxlen": spec.maxlen,
                        "calls": len(callers), "holdtime": q.holdtime,
                        "talktime": q.talktime, "weight": spec.weight,
                        "completed": completed, "abandoned": q.abandoned,
                        "servicelevel": spec.servicelevel, "sl": round(sl, 1),
                        "sl2": round(sl2, 1), "members": members, "callers": callers})
        return out


def option_letters(options: str) -> str:
    """The option letters without their (arguments)."""
    out, depth = [], 0
    for ch in options:
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif depth == 0:
            out.append(ch)
    return "".join(out)


def option_arg(options: str, letter: str) -> str:
    """The argument of `letter(arg)` in an option string, '' when absent."""
    i = 0
    depth = 0
    while i < len(options):
        ch = options[i]
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth -= 1
        elif depth == 0 and ch == letter and options[i + 1:i + 2] == "(":
            end = options.find(")", i + 2)
            return options[i + 2:end if end >= 0 else len(options)]
        i += 1
    return ""
