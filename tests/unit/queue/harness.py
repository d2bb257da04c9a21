"""The queue engine on a fake clock: timers on a TimerHeap fired by `advance`, member
phones simulated by the test (answer, fail), every action recorded."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from pbx.queue.config import QueuesConfig, load_queues_conf
from pbx.queue.devstate import DeviceState, FixedDeviceStates
from pbx.queue.engine import Announce, Connect, Exit, JoinRequest, QueueEngine, Ring, StopRing
from pbx.queue.qlog import QueueLogRecord
from pbx.sip.timers import TimerHeap


def load(tmp: Path, text: str) -> QueuesConfig:
    path = tmp / "queues.conf"
    path.write_text(text)
    diags: list = []
    config = load_queues_conf(path, diags)
    errors = [d for d in diags if d.severity == "error"]
    assert not errors, errors
    return config


class Clock:
    """The engine and a fake edge: who rings for whom, what was logged and said."""

    def __init__(self, config: QueuesConfig, *, seed: int = 1,
                 states: dict[str, int] | None = None) -> None:
        self.t = 1000.0
        self.timers = TimerHeap()
        self.dev = FixedDeviceStates(states)
        self.engine = QueueEngine(timers=self.timers, timer_owner=self, devstate=self.dev,
                                  rng=random.Random(seed))
        self.actions: list[Any] = []
        self.ringing: set[tuple[int, str]] = set()  # (caller, interface)
        self.rang: list[tuple[float, int, str]] = []  # every Ring, in order
        self.exits: dict[int, Exit] = {}
        self.connects: dict[int, Connect] = {}
        self.announced: list[tuple[float, int, list[str]]] = []
        self.run(self.engine.configure(config, self.t))

    # --- the edge ---------------------------------------------------------------------
    def on_timer(self, kind: str, now: float) -> None:
        self.run(self.engine.on_timer(kind, now))

    def run(self, actions: list[Any]) -> None:
        self.actions += actions
        for a in actions:
            if isinstance(a, Ring):
                assert (a.caller, a.interface) not in self.ringing, a
                self.ringing.add((a.caller, a.interface))
                self.rang.append((self.t, a.caller, a.interface))
            elif isinstance(a, StopRing):
                self.ringing.discard((a.caller, a.interface))
            elif isinstance(a, Exit):
                self.exits[a.caller] = a
            elif isinstance(a, Connect):
                self.connects[a.caller] = a
            elif isinstance(a, Announce):
                self.announced.append((self.t, a.caller, a.prompts))

    def advance(self, seconds: float) -> None:
        end = self.t + seconds
        while (deadline := self.timers.next_deadline()) is not None and deadline <= end:
            self.t = max(self.t, deadline)
            handle = self.timers.pop_one_due(deadline)
            assert handle is not None
            handle.owner.on_timer(handle.kind, self.t)
        self.t = end

    # --- callers and members ----------------------------------------------------------
    def join(self, queue: str, name: str = "caller", **kw: Any) -> int:
        req = JoinRequest(channel=f"SIP/{name}-1", uniqueid=f"u-{name}", cid_num=name, **kw)
        refusal, caller, actions = self.engine.join(queue, req, self.t)
        self.run(actions)
        assert refusal is None and caller is not None, refusal
        return caller.id

    def refused(self, queue: str, name: str = "caller", **kw: Any) -> str | None:
        req = JoinRequest(channel=f"SIP/{name}-1", uniqueid=f"u-{name}", cid_num=name, **kw)
        refusal, caller, actions = self.engine.join(queue, req, self.t)
        assert caller is None and not actions
        return refusal

    def ringing_for(self, caller: int) -> set[str]:
        return {i for c, i in self.ringing if c == caller}

    def answer(self, caller: int, interface: str, *, bridge: bool = True) -> None:
        ok, actions = self.engine.member_answered(caller, interface, f"m-{interface}", self.t)
        assert ok, (caller, interface)
        self.ringing.discard((caller, interface))
        self.run(actions)
        if bridge:
            self.run(self.engine.bridged(caller, self.t))

    def fail(self, caller: int, interface: str, **kw: Any) -> None:
        self.ringing.discard((caller, interface))
        self.run(self.engine.member_failed(caller, interface, self.t, **kw))

    def hangup(self, caller: int, *, by_caller: bool = True) -> None:
        self.run(self.engine.call_ended(caller, self.t, caller_hung_up=by_caller))

    def gone(self, caller: int) -> None:
        self.run(self.engine.caller_gone(caller, self.t))

    def announced_done(self, caller: int) -> None:
        self.run(self.engine.announcement_done(caller, self.t))

    # --- what happened ----------------------------------------------------------------
    def logs(self, event: str | None = None) -> list[QueueLogRecord]:
        return [a for a in self.actions if isinstance(a, QueueLogRecord)
                and (event is None or a.event == event)]

    def events(self) -> list[str]:
        return [r.event for r in self.logs()]


NOT_INUSE = DeviceState.NOT_INUSE
INUSE = DeviceState.INUSE
UNAVAILABLE = DeviceState.UNAVAILABLE
