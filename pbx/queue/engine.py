"""The queue engine: Asterisk's app_queue decisions as a sans-I/O machine.

Who rings next per strategy, for how long, the pause between attempts, wrap-up
time, positions and their announcements, when a caller leaves (timeout, empty
queue, a key), and the queue_log those decisions write. Every entry point takes
`now` and returns a list of actions for the edge (pbx.queue.service) to carry
out: :class:`Ring` a member for a caller, :class:`StopRing`, :class:`Connect` the
caller with the member that answered, :class:`Announce` prompts to a caller,
:class:`Exit` a caller from the queue with its QUEUESTATUS, write a
:class:`~pbx.queue.qlog.QueueLogRecord`, :class:`Persist` a queue's dynamic members.
Timers are entries on the one timer heap the engine is given (the SIP core's in
the PBX): the owner named at construction gets `on_timer(kind, now)` and passes it
to :meth:`QueueEngine.on_timer`. Member device states come from a
DeviceStateSource, read when a decision needs them.

The loop Asterisk runs per caller (wait_our_turn, try_calling, wait_a_bit, with a
1 s recheck) is here a set of events: a caller's turn is re-evaluated when a caller
joins or leaves, an attempt ends, a member is added, unpaused or freed (its wrap-up
over), and once a second while callers wait (member phones change state without
telling the queue), so a free member is rung within a second, as in Asterisk.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pbx.queue import announce
from pbx.queue.config import EmptyRule, QueueGeneral, QueuesConfig
from pbx.queue.devstate import DeviceState, DeviceStateSource
from pbx.queue.members import MemberSpec
from pbx.queue.model import (
    ANNOUNCING,
    BRIDGED,
    CONNECTING,
    DONE,
    IDLE,
    RETRY,
    RINGING,
    RUNG,
    WAITING,
    Attempt,
    Caller,
    Candidate,
    Member,
    QueueState,
)
from pbx.queue.qlog import QueueLogRecord, clean
from pbx.queue.strategy import INT_MAX, MetricInput, calc_metric, penalty_applies
from pbx.sip.timers import TimerHeap

RECHECK = 1.0  # seconds between checks of waiting callers (app_queue.c RECHECK)
_FREE = (DeviceState.NOT_INUSE, DeviceState.UNKNOWN)
_BUSY = (DeviceState.INUSE, DeviceState.BUSY, DeviceState.RINGING, DeviceState.RINGINUSE,
         DeviceState.ONHOLD)
_UNREACHABLE = (DeviceState.UNAVAILABLE, DeviceState.INVALID)


# --- actions --------------------------------------------------------------------------

@dataclass(slots=True)
class Ring:
    """Call this member for this caller (the edge reports answered/failed back)."""

    caller: int
    interface: str


@dataclass(slots=True)
class StopRing:
    """Stop ringing this member for this caller (CANCEL); `elsewhere`: with Reason
    "Call completed elsewhere" (Queue's C option)."""

    caller: int
    interface: str
    elsewhere: bool = False


@dataclass(slots=True)
class Connect:
    """The member answered: play `member_prompts` to it (after `delay` s), then
    `caller_prompts` to the caller, then report bridged() (or agent_dump() /
    caller_gone() when one of them hung up meanwhile) and bridge them."""

    caller: int
    interface: str
    member_prompts: list[str] = field(default_factory=list)
    caller_prompts: list[str] = field(default_factory=list)
    delay: int = 0
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Announce:
    """Play these prompts to a waiting caller (music stops meanwhile); report
    announcement_done() when they have played."""

    caller: int
    prompts: list[str]


@dataclass(slots=True)
class Exit:
    """The caller leaves the queue: Queue() returns with QUEUESTATUS=`status` (None:
    not set, as after a key). `key`: the digits that chose an extension of `context`."""

    caller: int
    status: str | None
    abandoned: bool = False
    key: str = ""
    context: str = ""
    variables: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Persist:
    """Save this queue's dynamic members (persistentmembers=yes)."""

    queue: str
    members: list[MemberSpec]


@dataclass(slots=True)
class JoinRequest:
    """A caller asking to join: what Queue()'s arguments and the channel say."""

    channel: str
    uniqueid: str
    cid_num: str = ""
    cid_name: str = ""
    options: str = ""
    url: str = ""
    member_announce: list[str] | None = None
    timeout: float | None = None  # Queue()'s fifth argument
    prio: int = 0  # QUEUE_PRIO
    max_penalty: int = INT_MAX  # QUEUE_MAX_PENALTY
    min_penalty: int = INT_MAX  # QUEUE_MIN_PENALTY
    position: int = 0  # Queue()'s ninth argument


# --- the engine -----------------------------------------------------------------------

class QueueEngine:
    """Every queue of one PBX and the callers in them."""

    def __init__(self, *, timers: TimerHeap, timer_owner: Any, devstate: DeviceStateSource,
                 rng: random.Random | None = None) -> None:
        self.timers = timers
        self.owner = timer_owner
        self.devstate = devstate
        self.rng = rng or random.Random()
        self.general = QueueGeneral()
        self.queues: dict[str, QueueState] = {}
        self.callers: dict[int, Caller] = {}
        self._ids = itertools.count(1)
        # Across queues: how many attempts ring an interface, how many calls it is in
        # (Asterisk's pending_members, and its device state before it is reported).
        self.ringing: dict[str, int] = {}
        self.in_call: dict[str, int] = {}
        self.use_weight = False
        # _dispatch is re-entered through the attempts it starts: a queue being
        # dispatched is only marked for one more pass.
        self._dispatching: set[str] = set()
        self._again: set[str] = set()

    # --- configuration ------------------------------------------------------------
    def configure(self, config: QueuesConfig, now: float) -> list[Any]:
        """Load or reload queues.conf: new queues appear, changed ones take their new
        options and static members (members kept keep their counts and pause state),
        dynamic members stay; a queue no longer configured goes when it is empty."""
        self.general = config.general
        for q in self.queues.values():
            q.general = config.general
        for name, spec in config.queues.items():
            q = self.queues.get(name)
            if q is None:
                q = self.queues[name] = QueueState(spec, config.general)
            q.spec = spec
            q.dead = False
            wanted = {m.interface: m for m in spec.members}
            for m in list(q.members):
                if not m.dynamic and m.interface not in wanted:
                    q.remove(m)
            for mspec in spec.members:
                old = q.by_iface.get(mspec.interface)
                new = Member.from_spec(mspec, spec.ringinuse, now)
                if old is None:
                    q.add(new)
                    continue
                # The member stays where it is, with its history and pause state.
                paused, reason = old.paused, old.reason
                old.name, old.state_interface, old.penalty = new.name, new.state_interface, \
                    new.penalty
                old.ringinuse, old.wrapuptime, old.dynamic = new.ringinuse, new.wrapuptime, False
                old.paused, old.reason = paused, reason
        for name, q in list(self.queues.items()):
            if name not in config.queues:
                q.dead = True
                if not q.callers:
                    self._drop_queue(q)
        self.use_weight = any(q.spec.weight for q in self.queues.values())
        out: list[Any] = []
        for q in self.queues.values():
            self._dispatch(q, now, out)
        return out

    def restore_members(self, queue: str, members: Iterable[MemberSpec], now: float) -> bool:
        """Dynamic members read back from the AstDB at start (no log line, as Asterisk);
        False when the queue does not exist any more."""
        q = self.queues.get(queue)
        if q is None:
            return False
        for spec in members:
            if spec.interface not in q.by_iface:
                spec.dynamic = True
                q.add(Member.from_spec(spec, q.spec.ringinuse, now))
        return True

    def _drop_queue(self, q: QueueState) -> None:
        self.timers.cancel(q.t_recheck)
        self.timers.cancel(q.t_wrapup)
        self.queues.pop(q.name, None)

    # --- reading ------------------------------------------------------------------
    def member_state(self, m: Member) -> int:
        """The member's device state, with what the engine itself knows on top: a
        member it is ringing rings, a member in a queue call is in use (the device
        state may not say so yet)."""
        state = self.devstate.state(m.state_interface)
        if state in _FREE:
            if self.in_call.get(m.interface):
                return DeviceState.INUSE
            if self.ringing.get(m.interface):
                return DeviceState.RINGING
        return state

    def in_wrapup(self, q: QueueState, m: Member, now: float) -> bool:
        """In wrap-up after its last call (the wrapuptime of the queue that call came from)."""
        if m.lastcall is None:
            return False
        wrapup = (m.lastqueue or q).wrapuptime(m)
        return bool(wrapup) and now - m.lastcall < wrapup

    def is_available(self, q: QueueState, m: Member, now: float) -> bool:
        """is_member_available: free (or busy with ringinuse), not paused, not in wrap-up."""
        state = self.member_state(m)
        if state in _UNREACHABLE:
            return False
        if state in _BUSY and not m.ringinuse:
            return False
        if m.paused:
            return False
        return not self.in_wrapup(q, m, now)

    def available_count(self, q: QueueState, now: float) -> int:
        """num_available_members: without autofill (or with ringall) only whether one is."""
        limit = 1 if (not q.autofill or q.spec.strategy == "ringall") else len(q.members)
        avl = 0
        for m in q.members:
            if self.is_available(q, m, now):
                avl += 1
                if avl >= limit:
                    break
        return avl

    def is_our_turn(self, c: Caller, now: float) -> bool:
        q = c.queue
        if not q.autofill and c.pos != 1:
            return False
        avl = self.available_count(q, now)
        idx = 0
        for other in q.callers:
            if other is c:
                return idx < avl
            if not other.pending:
                idx += 1
                if idx >= avl:
                    return False
        return False

    def members_present(self, q: QueueState, rule: EmptyRule, c: Caller | None,
                        now: float) -> tuple[bool, bool]:
        """get_member_status: (some member is there under `rule`'s conditions, every
        member is unreachable)."""
        cond = rule.conditions
        unreachable = bool(q.members)
        found = False
        maxp = c.max_penalty if c is not None else INT_MAX
        minp = c.min_penalty if c is not None else INT_MAX
        for m in q.members:
            state = self.member_state(m)
            if state not in _UNREACHABLE:
                unreachable = False
            if found:
                continue
            if "penalty" in cond and ((maxp != INT_MAX and m.penalty > maxp)
                                      or (minp != INT_MAX and m.penalty < minp)):
                continue
            if (state == DeviceState.INVALID and "invalid" in cond) or \
                    (state == DeviceState.UNAVAILABLE and "unavailable" in cond) or \
                    (state == DeviceState.INUSE and "inuse" in cond) or \
                    (state == DeviceState.RINGING and "ringing" in cond) or \
                    (state == DeviceState.UNKNOWN and "unknown" in cond):
                continue
            if m.paused and "paused" in cond:
                continue
            if "wrapup" in cond and self.in_wrapup(q, m, now):
                continue
            found = True
        return found, unreachable

    # --- joining ------------------------------------------------------------------
    def join(self, queue: str, req: JoinRequest, now: float) -> \
            tuple[str | None, Caller | None, list[Any]]:
        """A caller asks to join: (refusal QUEUESTATUS or None, the caller, actions).
        An unknown queue is ("UNKNOWN", None, []): Queue() sets no QUEUESTATUS."""
        q = self.queues.get(queue)
        if q is None or q.dead:
            return "UNKNOWN", None, []
        out: list[Any] = []
        c = Caller(next(self._ids), q, req.channel, req.uniqueid, req.cid_num, req.cid_name,
                   start=now, expire=None if req.timeout is None else now + req.timeout,
                   prio=req.prio, noretry="n" in req.options,
                   cancel_elsewhere="C" in req.options, member_announce=req.member_announce,
                   max_penalty=req.max_penalty, min_penalty=req.min_penalty)
        if q.spec.joinempty:
            present, unreachable = self.members_present(q, q.spec.joinempty, c, now)
            if not present:
                legacy = q.spec.joinempty.legacy_strict and unreachable
                return ("JOINUNAVAIL" if legacy else "JOINEMPTY"), None, []
        if q.spec.maxlen and len(q.callers) >= q.spec.maxlen:
            return "FULL", None, []
        # By priority (QUEUE_PRIO), then at the asked position if priorities allow.
        at = len(q.callers)
        for i, other in enumerate(q.callers):
            if c.prio > other.prio or (req.position and c.prio >= other.prio
                                       and req.position <= i + 1):
                at = i
                break
        q.callers.insert(at, c)
        self.callers[c.id] = c
        self._renumber(q, now, skip=c)
        c.opos = c.pos
        c.ann = announce.AnnounceState.joined(q.spec, now)
        data = [clean(req.url), clean(req.cid_num), str(c.opos)]
        if self.general.log_caller_id_name:
            data.append(clean(req.cid_name))
        out.append(QueueLogRecord(q.name, c.uniqueid, "NONE", "ENTERQUEUE", tuple(data)))
        if c.expire is not None:
            c.t_expire = self.timers.schedule(c.expire, self.owner, f"expire {c.id}")
        self._ensure_recheck(q, now)
        self._dispatch(q, now, out)
        if c.state == WAITING:
            self._schedule_announce(c, now)
        return None, c, out

    # --- events from the edge -----------------------------------------------------
    def member_answered(self, cid: int, interface: str, peer_uniqueid: str, now: float) -> \
            tuple[bool, list[Any]]:
        """A member's phone answered. False: this ring is over (the edge hangs it up)."""
        c = self.callers.get(cid)
        att = c.attempt if c is not None else None
        if c is None or att is None or c.state != RINGING:
            return False, []
        cand = next((x for x in att.candidates if x.state == RUNG
                     and x.member.interface == interface), None)
        if cand is None:
            return False, []
        out: list[Any] = []
        q = c.queue
        m = cand.member
        cand.state = DONE
        self._unring(m)
        for other in att.ringing():
            other.state = DONE
            self._unring(other.member)
            out.append(StopRing(c.id, other.member.interface, c.cancel_elsewhere))
        self._end_attempt(c)
        self.in_call[m.interface] = self.in_call.get(m.interface, 0) + 1
        waited = now - c.start
        self._recalc_holdtime(q, int(waited))
        c.completed_in_sl = waited <= q.spec.servicelevel
        c.state = CONNECTING
        c.member = m
        c.peer_uniqueid = peer_uniqueid
        c.ringtime = now - att.started
        spec = q.spec
        member_prompts = list(c.member_announce) if c.member_announce else (
            [p for p in spec.announce.split("&") if p] if spec.announce else [])
        if spec.reportholdtime:
            member_prompts += announce.holdtime_report(spec, waited)
        caller_prompts = [spec.sound("queue-callerannounce")] \
            if spec.sound("queue-callerannounce") else []
        out.append(Connect(c.id, m.interface, member_prompts, caller_prompts, spec.memberdelay,
                           self._connect_variables(c, m, now)))
        return True, out

    def member_failed(self, cid: int, interface: str, now: float, *, busy: bool = False,
                      unavailable: bool = False) -> list[Any]:
        """A member's phone did not take the call: busy (486/600), congestion or a
        failure (any other final status), or could not be called at all."""
        c = self.callers.get(cid)
        att = c.attempt if c is not None else None
        if c is None or att is None or c.state != RINGING:
            return []
        cand = next((x for x in att.candidates if x.state == RUNG
                     and x.member.interface == interface), None)
        if cand is None:
            return []
        out: list[Any] = []
        q = c.queue
        cand.state = DONE
        self._unring(cand.member)
        rang = int((now - att.ring_start) * 1000)
        out.append(QueueLogRecord(q.name, c.uniqueid, cand.member.name, "RINGNOANSWER",
                                  (str(rang),)))
        if busy:
            self._autopause(q, cand.member, q.spec.autopausebusy, now, out)
        elif unavailable:
            self._autopause(q, cand.member, q.spec.autopauseunavail, now, out)
        else:
            self._autopause(q, cand.member, True, now, out)
        if q.spec.strategy != "ringall":
            # The next member rings if there is time left for it to answer (> 0.5 s).
            if q.spec.timeoutrestart:
                att.started = now
                self._arm_ring_timer(c, att, now)
            left = None if att.timeout is None else att.started + att.timeout - now
            if left is None or left > 0.5:
                att.ring_start = now
                self._ring_one(c, now, out)
        elif not att.ringing():
            # ringall moves to the next penalty level once the whole level failed.
            self._ring_one(c, now, out)
        if not att.ringing():
            self._attempt_failed(c, now, out)
        return out

    def bridged(self, cid: int, now: float) -> list[Any]:
        """The caller is about to be bridged with the member that answered: it leaves
        the line (CONNECT)."""
        c = self.callers.get(cid)
        if c is None or c.state != CONNECTING or c.member is None:
            return []
        out: list[Any] = []
        c.state = BRIDGED
        c.member.starttime = now
        self._leave(c, now, out)
        out.append(QueueLogRecord(c.queue.name, c.uniqueid, c.member.name, "CONNECT",
                                  (str(int(now - c.start)), c.peer_uniqueid,
                                   str(int(c.ringtime)))))
        return out

    def call_ended(self, cid: int, now: float, *, caller_hung_up: bool,
                   blind_to: tuple[str, str] | None = None) -> list[Any]:
        """The bridged call is over: COMPLETECALLER or COMPLETEAGENT, or BLINDTRANSFER
        when the member sent the caller to ``blind_to`` (exten, context); the member's
        wrap-up time starts."""
        c = self.callers.pop(cid, None)
        if c is None or c.state != BRIDGED or c.member is None:
            return []
        out: list[Any] = []
        q, m = c.queue, c.member
        start = m.starttime if m.starttime is not None else now
        times = (str(int(start - c.start)), str(int(now - start)), str(c.opos))
        if blind_to is not None:
            out.append(QueueLogRecord(q.name, c.uniqueid, m.name, "BLINDTRANSFER",
                                      blind_to + times))
        else:
            out.append(QueueLogRecord(q.name, c.uniqueid, m.name,
                                      "COMPLETECALLER" if caller_hung_up else "COMPLETEAGENT",
                                      times))
        m.starttime = None
        self._uncall(m)
        talk = int(now - start)
        targets = [x for x in self.queues.values() if m.interface in x.by_iface] \
            if self.general.shared_lastcall else [q]
        for x in targets:
            mm = x.by_iface.get(m.interface, m)
            mm.lastcall = now
            mm.calls += 1
            mm.lastqueue = q
        q.completed += 1
        if c.completed_in_sl:
            q.completed_in_sl += 1
        q.talktime = talk if q.completed == 1 else (q.talktime * 3 + talk) >> 2
        for x in self.queues.values():
            if m.interface in x.by_iface:
                wrapup = q.wrapuptime(m)
                if wrapup:
                    self._ensure_wrapup_timer(x, now + wrapup)
                self._dispatch(x, now, out)
        return out

    def caller_gone(self, cid: int, now: float) -> list[Any]:
        """The caller hung up before talking to anyone (ABANDON)."""
        c = self.callers.get(cid)
        if c is None:
            return []
        if c.state == BRIDGED:
            return self.call_ended(cid, now, caller_hung_up=True)
        out: list[Any] = []
        q = c.queue
        agent = "NONE"
        if c.state == RINGING and c.attempt is not None:
            self._cancel_rings(c, now, out, "RINGCANCELED")
        elif c.state == CONNECTING and c.member is not None:
            agent = c.member.name
            self._uncall(c.member)
        out.append(QueueLogRecord(q.name, c.uniqueid, agent, "ABANDON",
                                  (str(c.pos), str(c.opos), str(int(now - c.start)))))
        self._record_abandoned(c, now)
        self._leave(c, now, out)
        self.callers.pop(cid, None)
        return out

    def agent_dump(self, cid: int, now: float) -> list[Any]:
        """The member hung up during its announcement (AGENTDUMP): the caller keeps its
        place and tries again after `retry`."""
        c = self.callers.get(cid)
        if c is None or c.state != CONNECTING or c.member is None:
            return []
        out: list[Any] = [QueueLogRecord(c.queue.name, c.uniqueid, c.member.name,
                                         "AGENTDUMP", ("",))]
        self._uncall(c.member)
        c.member = None
        c.state = RINGING  # so the post-attempt checks run as after any attempt
        self._after_attempt(c, now, out)
        return out

    def exit_key(self, cid: int, key: str, now: float) -> list[Any]:
        """The caller dialled `key`, an extension of the queue's `context`."""
        c = self.callers.get(cid)
        if c is None or c.state in (CONNECTING, BRIDGED):
            return []
        out: list[Any] = []
        q = c.queue
        if c.state == RINGING and c.attempt is not None:
            self._cancel_rings(c, now, out, "RINGCANCELED")
        out.append(QueueLogRecord(q.name, c.uniqueid, "NONE", "EXITWITHKEY",
                                  (key, str(c.pos), str(c.opos), str(int(now - c.start)))))
        out.append(Exit(c.id, None, key=key, context=q.spec.context,
                        variables=self.queue_variables(q)))
        self._leave(c, now, out)
        self.callers.pop(cid, None)
        return out

    def announcement_done(self, cid: int, now: float) -> list[Any]:
        c = self.callers.get(cid)
        if c is None or c.state != ANNOUNCING:
            return []
        out: list[Any] = []
        c.state = WAITING
        if c.played_periodic and c.queue.spec.relative_periodic_announce:
            c.ann.last_periodic = now
        c.played_periodic = False
        if c.expire is not None and now >= c.expire:
            c.try_after_announce = False
            self._exit_timeout(c, now, out)
            return out
        if c.try_after_announce:
            c.try_after_announce = False
            self._try(c, now, out)
        else:
            self._dispatch(c.queue, now, out)
        if c.state == WAITING:
            self._schedule_announce(c, now)
        return out

    def recheck(self, now: float, queues: Iterable[str] | None = None) -> list[Any]:
        """Member states may have changed (a device-state change): look again, at
        `queues` (names) or every queue."""
        out: list[Any] = []
        chosen = (list(self.queues.values()) if queues is None else
                  [q for q in map(self.queues.get, queues) if q is not None])
        for q in chosen:
            self._check_leave_empty(q, now, out)
            self._dispatch(q, now, out)
        return out

    def on_timer(self, kind: str, now: float) -> list[Any]:
        what, _, ident = kind.partition(" ")
        out: list[Any] = []
        if what in ("recheck", "wrapup"):
            q = self.queues.get(ident)
            if q is None:
                return out
            if what == "recheck":
                q.t_recheck = None
                self._check_leave_empty(q, now, out)
                self._dispatch(q, now, out)
                self._ensure_recheck(q, now)
            else:
                q.t_wrapup = None
                self._dispatch(q, now, out)
            return out
        c = self.callers.get(int(ident))
        if c is None:
            return out
        if what == "ring":
            if c.attempt is not None:
                c.attempt.handle = None
                self._ring_timeout(c, now, out)
        elif what == "retry":
            c.t_retry = None
            if c.state == RETRY:
                c.state = WAITING
                if self.is_our_turn(c, now):
                    self._try(c, now, out)
                if c.state == WAITING:
                    self._schedule_announce(c, now)
        elif what == "announce":
            c.t_announce = None
            if c.state == WAITING:
                self._dispatch(c.queue, now, out)
                if c.state == WAITING:
                    self._announce(c, now, out)
        elif what == "expire":
            c.t_expire = None
            self._expire(c, now, out)
        return out

    # --- member management --------------------------------------------------------
    def add_member(self, queue: str, spec: MemberSpec, now: float, callid: str = "NONE") -> \
            tuple[str, list[Any]]:
        """AddQueueMember: ADDED, MEMBERALREADY or NOSUCHQUEUE."""
        q = self.queues.get(queue)
        if q is None or q.dead:
            return "NOSUCHQUEUE", []
        if spec.interface in q.by_iface:
            return "MEMBERALREADY", []
        spec.dynamic = True
        m = Member.from_spec(spec, q.spec.ringinuse, now)
        q.add(m)
        agent = spec.name if spec.name and self.general.log_membername_as_agent else \
            spec.interface
        out: list[Any] = [QueueLogRecord(q.name, callid, agent, "ADDMEMBER",
                                         ("PAUSED" if spec.paused else "",))]
        self._persist(q, out)
        self._dispatch(q, now, out)
        return "ADDED", out

    def remove_member(self, queue: str, interface: str, now: float, callid: str = "NONE") -> \
            tuple[str, list[Any]]:
        """RemoveQueueMember: REMOVED, NOTINQUEUE, NOSUCHQUEUE or NOTDYNAMIC."""
        q = self.queues.get(queue)
        if q is None:
            return "NOSUCHQUEUE", []
        m = q.by_iface.get(interface)
        if m is None:
            return "NOTINQUEUE", []
        if not m.dynamic:
            return "NOTDYNAMIC", []
        q.remove(m)
        agent = m.name if self.general.log_membername_as_agent and m.name else interface
        out: list[Any] = [QueueLogRecord(q.name, callid, agent, "REMOVEMEMBER", ("",))]
        self._persist(q, out)
        self._check_leave_empty(q, now, out)
        return "REMOVED", out

    def _members(self, queue: str, interface: str) -> Iterator[tuple[QueueState, Member]]:
        """(queue, member) for ``interface`` in ``queue``, or in every queue when empty."""
        for q in self.queues.values():
            if queue and q.name != queue:
                continue
            m = q.by_iface.get(interface)
            if m is not None:
                yield q, m

    def set_paused(self, queue: str, interface: str, paused: bool, now: float,
                   reason: str = "") -> tuple[int, list[Any]]:
        """PauseQueueMember/UnpauseQueueMember: in one queue, or every queue the
        interface is in when `queue` is empty. Returns how many queues were changed."""
        out: list[Any] = []
        found = 0
        for q, m in self._members(queue, interface):
            found += 1
            if found == 1 and not queue:
                out.append(QueueLogRecord("NONE", "NONE", m.name,
                                          "PAUSEALL" if paused else "UNPAUSEALL", (reason,)))
            self._pause(q, m, paused, reason, now, out)
        return found, out

    def set_penalty(self, queue: str, interface: str, penalty: int, now: float) -> \
            tuple[int, list[Any]]:
        out: list[Any] = []
        found = 0
        for q, m in self._members(queue, interface):
            found += 1
            m.penalty = max(0, penalty)
            out.append(QueueLogRecord(q.name, "NONE", interface, "PENALTY", (str(m.penalty),)))
            if m.dynamic:
                self._persist(q, out)
            self._dispatch(q, now, out)
        return found, out

    def set_ringinuse(self, queue: str, interface: str, ringinuse: bool, now: float) -> \
            tuple[int, list[Any]]:
        out: list[Any] = []
        found = 0
        for q, m in self._members(queue, interface):
            found += 1
            m.ringinuse = ringinuse
            out.append(QueueLogRecord(q.name, "NONE", interface, "RINGINUSE",
                                      (str(int(ringinuse)),)))
            self._dispatch(q, now, out)
        return found, out

    def _pause(self, q: QueueState, m: Member, paused: bool, reason: str, now: float,
               out: list[Any]) -> None:
        if m.paused != paused:
            m.lastpause = now
        m.paused = paused
        m.reason = reason if paused else ""
        out.append(QueueLogRecord(q.name, "NONE", m.name, "PAUSE" if paused else "UNPAUSE",
                                  (reason,)))
        if m.dynamic:
            self._persist(q, out)
        if paused:
            self._check_leave_empty(q, now, out)
        else:
            self._dispatch(q, now, out)

    def _autopause(self, q: QueueState, m: Member, applies: bool, now: float,
                   out: list[Any]) -> None:
        """autopause=yes|all: a member that did not answer is paused (in this queue or
        all of them), unless it took a call less than autopausedelay ago."""
        if q.spec.autopause == "no" or not applies or m.paused:
            return
        if q.spec.autopausedelay and m.lastcall is not None and \
                now - m.lastcall < q.spec.autopausedelay:
            return
        if q.spec.autopause == "all":  # as set_member_paused with no queue: PAUSEALL too
            out += self.set_paused("", m.interface, True, now, "Auto-Pause")[1]
        else:
            self._pause(q, m, True, "Auto-Pause", now, out)

    def _persist(self, q: QueueState, out: list[Any]) -> None:
        if self.general.persistentmembers:
            out.append(Persist(q.name, [m.spec() for m in q.members if m.dynamic]))

    # --- the line ---------------------------------------------------------------------
    def _renumber(self, q: QueueState, now: float, skip: Caller | None = None) -> None:
        """Positions after a caller joined or left; a waiting caller whose position
        changed may hear it (min-announce-frequency after the last time)."""
        freq = q.spec.announce_frequency
        for i, c in enumerate(q.callers, start=1):
            if c.pos != i:
                c.pos = i
                if freq and c is not skip and c.state == WAITING:
                    self._schedule_announce(c, now)

    def _leave(self, c: Caller, now: float, out: list[Any]) -> None:
        q = c.queue
        for h in (c.t_expire, c.t_announce, c.t_retry):
            self.timers.cancel(h)
        c.t_expire = c.t_announce = c.t_retry = None
        if c in q.callers:
            q.callers.remove(c)
            self._renumber(q, now)
        if q.dead and not q.callers:
            self._drop_queue(q)
            return
        self._dispatch(q, now, out)

    def _ensure_recheck(self, q: QueueState, now: float) -> None:
        if q.t_recheck is None and q.callers:
            q.t_recheck = self.timers.schedule(now + RECHECK, self.owner, f"recheck {q.name}")

    def _ensure_wrapup_timer(self, q: QueueState, when: float) -> None:
        h = q.t_wrapup
        if h is not None and not h.cancelled and h.when <= when:
            return
        self.timers.cancel(h)
        q.t_wrapup = self.timers.schedule(when, self.owner, f"wrapup {q.name}")

    def _dispatch(self, q: QueueState, now: float, out: list[Any]) -> None:
        """Start an attempt for every waiting caller whose turn it is (is_our_turn for
        each caller, in line order, with the members available at that moment)."""
        name = q.name
        if name in self._dispatching:
            self._again.add(name)
            return
        self._dispatching.add(name)
        try:
            while True:
                self._dispatch_once(q, now, out)
                if name not in self._again:
                    return
                self._again.discard(name)
        finally:
            self._dispatching.discard(name)

    def _dispatch_once(self, q: QueueState, now: float, out: list[Any]) -> None:
        if not q.callers:
            return
        avl = self.available_count(q, now)
        idx = 0
        for c in list(q.callers):
            if idx >= avl:
                return
            if c.pending:
                continue
            if c.state == WAITING and (q.autofill or c.pos == 1):
                self._try(c, now, out)
                if c.pending:
                    avl = self.available_count(q, now)
                    continue
            idx += 1
            if not q.autofill:
                return  # only the head of the line can have its turn

    # --- ring attempts (try_calling) ------------------------------------------------
    def _try(self, c: Caller, now: float, out: list[Any]) -> None:
        q = c.queue
        spec = q.spec
        if c.expire is not None and now >= c.expire:
            self._exit_timeout(c, now, out)
            return
        if spec.announce_to_first_user and self._announce(c, now, out, first_user=True):
            c.try_after_announce = True
            return
        if c.noretry:
            if spec.strategy in ("rrmemory", "linear", "rrordered"):
                c.tries += 1
            else:
                c.tries = len(q.members)
        usepenalty = penalty_applies(len(q.members), spec.penaltymemberslimit)
        candidates = []
        for pos, m in enumerate(q.members):
            metric = calc_metric(spec.strategy,
                                 MetricInput(m.penalty, pos, m.calls, m.lastcall), pos,
                                 usepenalty=usepenalty, now=now, rr=q.rr, lin=c.lin,
                                 rng=self.rng, max_penalty=c.max_penalty,
                                 min_penalty=c.min_penalty)
            if metric is not None:
                candidates.append(Candidate(m, metric))
        timeout: float | None
        if spec.timeoutpriority == "app":
            if c.expire is not None and (not spec.timeout or c.expire - now <= spec.timeout):
                timeout = c.expire - now
            else:
                timeout = float(spec.timeout) if spec.timeout else None
        elif c.expire is not None and c.expire <= now:
            timeout = 0.0
        else:
            timeout = float(spec.timeout) if spec.timeout else None
        att = Attempt(started=now, timeout=timeout, candidates=candidates, ring_start=now)
        c.attempt = att
        c.pending = True
        c.state = RINGING
        self.timers.cancel(c.t_announce)
        c.t_announce = None
        self._ring_one(c, now, out)
        if not att.ringing():
            self._attempt_failed(c, now, out)
            return
        self._arm_ring_timer(c, att, now)

    def _arm_ring_timer(self, c: Caller, att: Attempt, now: float) -> None:
        self.timers.cancel(att.handle)
        att.handle = None
        if att.timeout is not None:
            att.handle = self.timers.schedule(att.started + att.timeout, self.owner,
                                              f"ring {c.id}")

    def _ring_one(self, c: Caller, now: float, out: list[Any]) -> bool:
        """ring_one: ring the best member not tried yet (ringall: every member with the
        best metric); one that cannot be rung is passed over for the next."""
        att = c.attempt
        assert att is not None
        ringall = c.queue.spec.strategy == "ringall"
        while True:
            best = att.best_idle_metric()
            if best is None:
                return False
            ok = False
            if ringall:
                for cand in att.candidates:
                    if cand.state == IDLE and cand.metric <= best:
                        ok = self._ring_entry(c, cand, now, out) or ok
            else:
                cand = next(x for x in att.candidates if x.state == IDLE and x.metric == best)
                ok = self._ring_entry(c, cand, now, out)
            if ok:
                return True
            if c.expire is not None and now >= c.expire:
                return False

    def _ring_entry(self, c: Caller, cand: Candidate, now: float, out: list[Any]) -> bool:
        q = c.queue
        m = cand.member
        if not self._can_ring(q, m, now):
            cand.state = DONE
            return False
        if self.member_state(m) in _UNREACHABLE:
            # Asterisk's ast_request fails: no channel; round robin moves one on.
            q.rr.pos += 1
            c.lin.pos += 1
            cand.state = DONE
            return False
        cand.state = RUNG
        cand.since = now
        self.ringing[m.interface] = self.ringing.get(m.interface, 0) + 1
        out.append(Ring(c.id, m.interface))
        return True

    def _can_ring(self, q: QueueState, m: Member, now: float) -> bool:
        """can_ring_entry: not paused, free (unless ringinuse), out of wrap-up, no
        heavier queue waiting for it, and (without ringinuse) nobody else ringing it."""
        if m.paused:
            return False
        state = self.member_state(m)
        if not m.ringinuse and state not in _FREE:
            return False
        if self.in_wrapup(q, m, now):
            return False
        return not (self.use_weight and self._heavier_queue_waits(q, m, now))

    def _heavier_queue_waits(self, rq: QueueState, m: Member, now: float) -> bool:
        """compare_weight: another queue with this member, a higher weight and at
        least as many callers as available members takes it first."""
        for q in self.queues.values():
            if q is rq or not q.callers or m.interface not in q.by_iface:
                continue
            if q.spec.weight > rq.spec.weight and \
                    len(q.callers) >= self.available_count(q, now):
                return True
        return False

    def _cancel_rings(self, c: Caller, now: float, out: list[Any], event: str) -> None:
        att = c.attempt
        assert att is not None
        for cand in att.ringing():
            cand.state = DONE
            self._unring(cand.member)
            out.append(QueueLogRecord(c.queue.name, c.uniqueid, cand.member.name, event,
                                      (str(int((now - att.started) * 1000)),)))
            out.append(StopRing(c.id, cand.member.interface))
        self._end_attempt(c)

    def _ring_timeout(self, c: Caller, now: float, out: list[Any]) -> None:
        """Nobody answered within the attempt's time: RINGNOANSWER for each ringing
        member (with the whole ring time, as rna(orig)), then the pause before the next."""
        att = c.attempt
        if att is None:
            return
        q = c.queue
        orig = int((att.timeout or 0) * 1000)
        for cand in att.ringing():
            cand.state = DONE
            self._unring(cand.member)
            out.append(QueueLogRecord(q.name, c.uniqueid, cand.member.name, "RINGNOANSWER",
                                      (str(orig),)))
            out.append(StopRing(c.id, cand.member.interface))
            self._autopause(q, cand.member, True, now, out)
        self._attempt_failed(c, now, out)

    def _end_attempt(self, c: Caller) -> None:
        """After an attempt: round robin remembers where to go on (store_next_rr/lin)."""
        att = c.attempt
        if att is None:
            return
        self.timers.cancel(att.handle)
        att.handle = None
        best = att.best_idle_metric()
        strategy = c.queue.spec.strategy
        if strategy in ("rrmemory", "rrordered"):
            c.queue.rr.store_next(best)
        elif strategy == "linear":
            c.lin.store_next(best)
        c.attempt = None

    def _attempt_failed(self, c: Caller, now: float, out: list[Any]) -> None:
        self._end_attempt(c)
        self._after_attempt(c, now, out)

    def _after_attempt(self, c: Caller, now: float, out: list[Any]) -> None:
        """Nobody answered: leave if the queue emptied, the n option's tries are used up
        or the time is over; else wait `retry` seconds."""
        q = c.queue
        c.pending = False
        if q.spec.leavewhenempty:
            present, unreachable = self.members_present(q, q.spec.leavewhenempty, c, now)
            if not present:
                self._exit_empty(c, unreachable, now, out)
                return
        if c.noretry and c.tries >= len(q.members):
            self._exit_timeout(c, now, out)
            return
        if c.expire is not None and now >= c.expire:
            self._exit_timeout(c, now, out)
            return
        c.state = RETRY
        self.timers.cancel(c.t_retry)
        c.t_retry = self.timers.schedule(now + q.spec.retry, self.owner, f"retry {c.id}")
        self._dispatch(q, now, out)

    def _unring(self, m: Member) -> None:
        n = self.ringing.get(m.interface, 0) - 1
        if n > 0:
            self.ringing[m.interface] = n
        else:
            self.ringing.pop(m.interface, None)

    def _uncall(self, m: Member) -> None:
        n = self.in_call.get(m.interface, 0) - 1
        if n > 0:
            self.in_call[m.interface] = n
        else:
            self.in_call.pop(m.interface, None)

    # --- leaving ------------------------------------------------------------------
    def _expire(self, c: Caller, now: float, out: list[Any]) -> None:
        """Queue()'s timeout: an attempt in progress ends as at its own timeout (its
        time was cut to this moment); anyone else waiting leaves (EXITWITHTIMEOUT),
        after the announcement it hears, if any (Asterisk checks between them)."""
        if c.state in (CONNECTING, BRIDGED):
            return
        if c.state == RINGING and c.attempt is not None:
            self._ring_timeout(c, now, out)
            return
        if c.state == ANNOUNCING:
            return  # Asterisk looks at the time once the announcement has played
        self._exit_timeout(c, now, out)

    def _exit_timeout(self, c: Caller, now: float, out: list[Any]) -> None:
        out.append(QueueLogRecord(c.queue.name, c.uniqueid, "NONE", "EXITWITHTIMEOUT",
                                  (str(c.pos), str(c.opos), str(int(now - c.start)))))
        self._exit(c, "TIMEOUT", now, out)

    def _exit_empty(self, c: Caller, unreachable: bool, now: float, out: list[Any]) -> None:
        out.append(QueueLogRecord(c.queue.name, c.uniqueid, "NONE", "EXITEMPTY",
                                  (str(c.pos), str(c.opos), str(int(now - c.start)))))
        legacy = c.queue.spec.leavewhenempty.legacy_strict and unreachable
        self._exit(c, "LEAVEUNAVAIL" if legacy else "LEAVEEMPTY", now, out)

    def _exit(self, c: Caller, status: str, now: float, out: list[Any]) -> None:
        if c.attempt is not None:
            self._cancel_rings(c, now, out, "RINGCANCELED")
        self._record_abandoned(c, now)
        out.append(Exit(c.id, status, abandoned=True,
                        variables=self.queue_variables(c.queue)))
        self._leave(c, now, out)
        self.callers.pop(c.id, None)

    def _check_leave_empty(self, q: QueueState, now: float, out: list[Any]) -> None:
        """leavewhenempty, for the callers in line (an attempt in progress finishes first)."""
        rule = q.spec.leavewhenempty
        if not rule or not q.callers:
            return
        verdicts: dict[tuple[int, int], tuple[bool, bool]] = {}
        for c in list(q.callers):
            if c.state not in (WAITING, RETRY):
                continue
            key = (c.max_penalty, c.min_penalty)
            if key not in verdicts:
                verdicts[key] = self.members_present(q, rule, c, now)
            present, unreachable = verdicts[key]
            if not present:
                self._exit_empty(c, unreachable, now, out)

    def _record_abandoned(self, c: Caller, now: float) -> None:
        q = c.queue
        q.abandoned += 1
        if now - c.start <= q.spec.servicelevel:
            q.abandoned_in_sl += 1

    def _recalc_holdtime(self, q: QueueState, waited: int) -> None:
        """The estimated hold time: an exponential average (weight 1/4 to the newest)."""
        if q.completed + q.abandoned == 0:
            q.holdtime = waited
        else:
            q.holdtime = (q.holdtime * 3 + waited) >> 2

    # --- announcements --------------------------------------------------------------
    def _schedule_announce(self, c: Caller, now: float) -> None:
        spec = c.queue.spec
        due = [d for d in (announce.position_due(spec, c.ann, c.pos),
                           announce.periodic_due(spec, c.ann)) if d is not None]
        h = c.t_announce
        if not due:
            self.timers.cancel(h)
            c.t_announce = None
            return
        when = max(min(due), now)
        if h is not None and not h.cancelled and h.when == when:
            return
        self.timers.cancel(h)
        c.t_announce = self.timers.schedule(when, self.owner, f"announce {c.id}")

    def _announce(self, c: Caller, now: float, out: list[Any], *,
                  first_user: bool = False) -> bool:
        """Play what is due (position first, then the periodic one). False when
        nothing was (the next one is scheduled)."""
        q = c.queue
        spec = q.spec
        prompts: list[str] = []
        periodic = False
        due = announce.position_due(spec, c.ann, c.pos)
        if due is not None and due <= now:
            prompts += announce.position_prompts(spec, c.ann, c.pos, q.holdtime,
                                                 now - c.start, now)
        due = announce.periodic_due(spec, c.ann)
        if due is not None and due <= now:
            prompts += announce.periodic_prompts(spec, c.ann, now, self.rng)
            periodic = True
        if not prompts:
            if not first_user:
                self._schedule_announce(c, now)
            return False
        self.timers.cancel(c.t_announce)
        c.t_announce = None
        c.state = ANNOUNCING
        c.played_periodic = periodic
        out.append(Announce(c.id, prompts))
        return True

    # --- variables --------------------------------------------------------------------
    def _connect_variables(self, c: Caller, m: Member, now: float) -> dict[str, str]:
        q = c.queue
        out: dict[str, str] = {}
        if q.spec.setinterfacevar:
            out.update(MEMBERINTERFACE=m.interface, MEMBERNAME=m.name,
                       MEMBERCALLS=str(m.calls),
                       MEMBERLASTCALL=str(int(m.lastcall or 0)),
                       MEMBERPENALTY=str(m.penalty), MEMBERDYNAMIC=str(int(m.dynamic)),
                       MEMBERREALTIME="0")
        if q.spec.setqueueentryvar:
            out.update(QEHOLDTIME=str(int(now - c.start)), QEORIGINALPOS=str(c.opos))
        out.update(self.queue_variables(q))
        return out

    def queue_variables(self, q: QueueState) -> dict[str, str]:
        """setqueuevar=yes: QUEUENAME, QUEUEMAX, QUEUESTRATEGY, QUEUECALLS, ..."""
        if not q.spec.setqueuevar:
            return {}
        sl = 100.0 * q.completed_in_sl / q.completed if q.completed else 0.0
        return {"QUEUENAME": q.name, "QUEUEMAX": str(q.spec.maxlen),
                "QUEUESTRATEGY": q.spec.strategy, "QUEUECALLS": str(len(q.callers)),
                "QUEUEHOLDTIME": str(q.holdtime), "QUEUETALKTIME": str(q.talktime),
                "QUEUECOMPLETED": str(q.completed), "QUEUEABANDONED": str(q.abandoned),
                "QUEUESRVLEVEL": str(q.spec.servicelevel), "QUEUESRVLEVELPERF": f"{sl:2.1f}"}
