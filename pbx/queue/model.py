"""The queue engine's state: queues, members, waiting callers, ring attempts.

Plain data; pbx.queue.engine changes it. Times are the engine's clock (`now` as
the caller passes it: the SIP core's monotonic clock in the PBX, a fake in tests).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pbx.queue.announce import AnnounceState
from pbx.queue.config import QueueGeneral, QueueSpec
from pbx.queue.members import MemberSpec
from pbx.queue.strategy import INT_MAX, RoundRobin

# A caller's state.
WAITING = "waiting"  # in line (Asterisk's wait_our_turn), hears music and announcements
ANNOUNCING = "announcing"  # hearing a position or periodic announcement
RINGING = "ringing"  # its turn: members ring (try_calling); `pending` in Asterisk's terms
RETRY = "retry"  # nobody answered: `retry` seconds before the next attempt
CONNECTING = "connecting"  # a member answered; its announcement, then the bridge
BRIDGED = "bridged"  # talking to the member (no longer in line)

# A candidate's state within one ring attempt (Asterisk's callattempt).
IDLE, RUNG, DONE = 0, 1, 2


@dataclass(eq=False, slots=True)
class Member:
    interface: str
    name: str
    state_interface: str
    penalty: int = 0
    paused: bool = False
    reason: str = ""
    dynamic: bool = False
    ringinuse: bool = True
    wrapuptime: int = 0  # 0: the queue's
    calls: int = 0  # completed queue calls
    lastcall: float | None = None  # when the last one ended
    lastqueue: Any = None  # the QueueState of that call (its wrapuptime counts)
    starttime: float | None = None  # in a queue call since
    logintime: float = 0.0
    lastpause: float = 0.0

    @classmethod
    def from_spec(cls, spec: MemberSpec, queue_ringinuse: bool, now: float) -> Member:
        return cls(interface=spec.interface, name=spec.membername, state_interface=spec.device,
                   penalty=spec.penalty, paused=spec.paused, reason=spec.reason,
                   dynamic=spec.dynamic,
                   ringinuse=queue_ringinuse if spec.ringinuse is None else spec.ringinuse,
                   wrapuptime=spec.wrapuptime, logintime=now, lastpause=now)

    def spec(self) -> MemberSpec:
        return MemberSpec(interface=self.interface, penalty=self.penalty,
                          name="" if self.name == self.interface else self.name,
                          state_interface="" if self.state_interface == self.interface
                          else self.state_interface,
                          ringinuse=self.ringinuse, wrapuptime=self.wrapuptime,
                          paused=self.paused, reason=self.reason, dynamic=self.dynamic)


@dataclass(eq=False, slots=True)
class Candidate:
    """One member in one ring attempt."""

    member: Member
    metric: int
    state: int = IDLE
    since: float = 0.0  # when it started ringing


@dataclass(eq=False, slots=True)
class Attempt:
    """One try_calling: members ring until one answers, all fail, or `deadline`."""

    started: float
    timeout: float | None  # seconds the attempt may ring (None: no limit)
    candidates: list[Candidate]
    ring_start: float = 0.0  # Asterisk's `starttime`: reset when the next member rings
    handle: Any = None  # the ring timer

    def ringing(self) -> list[Candidate]:
        return [c for c in self.candidates if c.state == RUNG]

    def best_idle_metric(self) -> int | None:
        best = None
        for c in self.candidates:
            if c.state == IDLE and (best is None or c.metric < best):
                best = c.metric
        return best


@dataclass(eq=False, slots=True)
class Caller:
    id: int
    queue: QueueState
    channel: str
    uniqueid: str
    cid_num: str
    cid_name: str
    start: float
    expire: float | None  # Queue()'s timeout
    prio: int = 0
    pos: int = 0
    opos: int = 0
    state: str = WAITING
    pending: bool = False
    noretry: bool = False  # option n
    cancel_elsewhere: bool = False  # option C
    member_announce: list[str] | None = None  # announceoverride
    max_penalty: int = INT_MAX
    min_penalty: int = INT_MAX
    lin: RoundRobin = field(default_factory=RoundRobin)
    tries: int = 0
    ann: AnnounceState = field(default_factory=AnnounceState)
    played_periodic: bool = False  # the announcement playing includes a periodic one
    try_after_announce: bool = False
    attempt: Attempt | None = None
    member: Member | None = None  # the member that answered
    peer_uniqueid: str = ""
    ringtime: float = 0.0
    completed_in_sl: bool = False
    t_expire: Any = None
    t_announce: Any = None
    t_retry: Any = None


@dataclass(eq=False, slots=True)
class QueueState:
    spec: QueueSpec
    general: QueueGeneral
    members: list[Member] = field(default_factory=list)
    by_iface: dict[str, Member] = field(default_factory=dict)
    callers: list[Caller] = field(default_factory=list)
    rr: RoundRobin = field(default_factory=RoundRobin)
    holdtime: int = 0  # estimated hold time (exponential average), seconds
    talktime: int = 0
    completed: int = 0
    abandoned: int = 0
    completed_in_sl: int = 0
    abandoned_in_sl: int = 0
    dead: bool = False  # removed by a reload: gone when its last caller leaves
    t_recheck: Any = None
    t_wrapup: Any = None

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def autofill(self) -> bool:
        a = self.spec.autofill
        return self.general.autofill if a is None else a

    def wrapuptime(self, m: Member) -> int:
        return m.wrapuptime or self.spec.wrapuptime

    def add(self, m: Member) -> None:
        self.members.append(m)
        self.by_iface[m.interface] = m

    def remove(self, m: Member) -> None:
        """member_remove_from_queue: round robin does not skip the member after it."""
        pos = self.members.index(m)
        if pos < self.rr.pos:
            self.rr.pos -= 1
        self.members.pop(pos)
        del self.by_iface[m.interface]
