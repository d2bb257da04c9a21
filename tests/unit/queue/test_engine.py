"""The queue engine's decisions on a fake clock: who rings, when, for how long, who
leaves and why, and the queue_log lines each decision writes."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from pbx.queue.members import MemberSpec
from tests.unit.queue.harness import INUSE, UNAVAILABLE, Clock, load

ABC = """\
[general]
persistentmembers=yes
[q]
strategy={strategy}
timeout=15
retry=5
member => SIP/a
member => SIP/b
member => SIP/c
{extra}
"""


def clock(tmp_path: Path, strategy: str = "ringall", extra: str = "", **kw) -> Clock:
    return Clock(load(tmp_path, ABC.format(strategy=strategy, extra=extra)), **kw)


def serve(c: Clock, caller: int, member: str, talk: float = 10.0) -> None:
    """`member` answers `caller`, they talk, the caller hangs up."""
    c.answer(caller, member)
    c.advance(talk)
    c.hangup(caller)


# --- ringall -------------------------------------------------------------------------

def test_ringall_rings_everyone_first_answer_wins_and_the_others_stop(tmp_path: Path) -> None:
    c = clock(tmp_path)
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/a", "SIP/b", "SIP/c"}
    c.advance(3)
    c.answer(caller, "SIP/b")
    assert c.ringing_for(caller) == set()  # a and c got StopRing
    assert caller in c.connects and c.connects[caller].interface == "SIP/b"
    c.advance(42)
    c.hangup(caller, by_caller=False)
    assert c.events() == ["ENTERQUEUE", "CONNECT", "COMPLETEAGENT"]
    enter, connect, complete = c.logs()
    assert (enter.queue, enter.callid, enter.agent, enter.data) == \
        ("q", "u-caller", "NONE", ("", "caller", "1"))
    assert (connect.agent, connect.data) == ("SIP/b", ("3", "m-SIP/b", "3"))
    assert complete.data == ("3", "42", "1")  # hold time, talk time, original position


def test_ringall_penalty_levels_ring_in_order(tmp_path: Path) -> None:
    conf = "[q]\nstrategy=ringall\nmember => SIP/a,0\nmember => SIP/b,1\nmember => SIP/c,1\n"
    c = Clock(load(tmp_path, conf))
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/a"}
    c.fail(caller, "SIP/a", busy=True)  # the whole first level failed: the next rings
    assert c.ringing_for(caller) == {"SIP/b", "SIP/c"}


# --- round robin -----------------------------------------------------------------------

def test_rrmemory_rings_members_in_turn_across_calls(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory")
    order = []
    for i in range(6):
        caller = c.join("q", f"c{i}")
        (member,) = c.ringing_for(caller)
        order.append(member)
        serve(c, caller, member)
    assert order == ["SIP/a", "SIP/b", "SIP/c", "SIP/a", "SIP/b", "SIP/c"]


def test_rrmemory_no_answer_goes_on_to_the_next_after_retry(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory")
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/a"}
    c.advance(14.9)
    assert c.ringing_for(caller) == {"SIP/a"}
    c.advance(0.1)  # timeout=15: a gave up on
    assert c.ringing_for(caller) == set()
    assert c.logs("RINGNOANSWER")[0].agent == "SIP/a"
    assert c.logs("RINGNOANSWER")[0].data == ("15000",)
    c.advance(4.9)
    assert c.ringing_for(caller) == set()  # retry=5
    c.advance(0.1)
    assert c.ringing_for(caller) == {"SIP/b"}
    serve(c, caller, "SIP/b")
    # The next call goes on after b: c.
    caller2 = c.join("q", "two")
    assert c.ringing_for(caller2) == {"SIP/c"}


def test_rrmemory_busy_member_passes_to_the_next_at_once(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory")
    caller = c.join("q")
    c.advance(2)
    c.fail(caller, "SIP/a", busy=True)
    assert c.ringing_for(caller) == {"SIP/b"}
    assert c.logs("RINGNOANSWER")[0].data == ("2000",)


def test_rrmemory_skips_a_member_in_use_with_ringinuse_no(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory", "ringinuse=no", states={"SIP/a": INUSE})
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/b"}


def test_ringinuse_yes_rings_a_member_in_use(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory", states={"SIP/a": INUSE})
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/a"}


def test_linear_starts_from_the_first_member_for_every_caller(tmp_path: Path) -> None:
    c = clock(tmp_path, "linear")
    first = c.join("q", "one")
    assert c.ringing_for(first) == {"SIP/a"}
    c.advance(15)
    c.advance(5)
    assert c.ringing_for(first) == {"SIP/b"}  # this caller goes on down the list
    serve(c, first, "SIP/b")
    second = c.join("q", "two")
    assert c.ringing_for(second) == {"SIP/a"}  # a new caller starts at the top


# --- the other strategies ----------------------------------------------------------------

def test_leastrecent_rings_who_finished_a_call_longest_ago(tmp_path: Path) -> None:
    c = clock(tmp_path, "leastrecent", "ringinuse=no")
    order = []
    # Calls of different lengths: b's call ends last although it started before c's.
    for name, talk in (("x", 5), ("y", 60), ("z", 5)):
        caller = c.join("q", name)
        (member,) = c.ringing_for(caller)
        order.append(member)
        c.answer(caller, member)
        if name == "y":
            y, y_member = caller, member
            continue
        c.advance(talk)
        c.hangup(caller)
    c.advance(30)
    c.hangup(y)
    c.advance(10)
    nxt = c.join("q", "next")
    assert order == ["SIP/a", "SIP/b", "SIP/c"]  # never called: in order
    assert c.ringing_for(nxt) == {"SIP/a"}  # then a (ended first), c, and b last
    c.fail(nxt, "SIP/a", busy=True)
    assert c.ringing_for(nxt) == {"SIP/c"}
    c.fail(nxt, "SIP/c", busy=True)
    assert c.ringing_for(nxt) == {y_member}


def test_leastrecent_prefers_a_member_who_never_took_a_call(tmp_path: Path) -> None:
    c = clock(tmp_path, "leastrecent")
    caller = c.join("q", "x")
    c.answer(caller, "SIP/a")
    c.hangup(caller)
    c.advance(100)
    caller = c.join("q", "y")
    assert c.ringing_for(caller) == {"SIP/b"}


def test_fewestcalls_rings_the_member_with_fewest_calls(tmp_path: Path) -> None:
    c = clock(tmp_path, "fewestcalls")
    for i, busy in enumerate((None, None, "SIP/c", None, None)):
        caller = c.join("q", f"c{i}")
        if busy:
            assert c.ringing_for(caller) == {busy}
            c.fail(caller, busy, busy=True)
        (member,) = c.ringing_for(caller)
        serve(c, caller, member)
    # a, b (0 calls, in order); c busy: a again (a and b tie at 1); c (0); b (1 < a's 2)
    assert [i for _, _, i in c.rang] == ["SIP/a", "SIP/b", "SIP/c", "SIP/a", "SIP/c", "SIP/b"]
    calls = {m.interface: m.calls for m in c.engine.queues["q"].members}
    assert calls == {"SIP/a": 2, "SIP/b": 2, "SIP/c": 1}


def test_random_rings_everyone_but_lower_penalty_first(tmp_path: Path) -> None:
    conf = "[q]\nstrategy=random\nmember => SIP/a\nmember => SIP/b\nmember => SIP/c\n" \
           "member => SIP/d,1\n"
    c = Clock(load(tmp_path, conf), seed=7)
    picks: Counter[str] = Counter()
    for i in range(300):
        caller = c.join("q", f"c{i}")
        (member,) = c.ringing_for(caller)
        picks[member] += 1
        serve(c, caller, member, talk=1)
    assert set(picks) == {"SIP/a", "SIP/b", "SIP/c"}  # d (penalty 1) never while they can
    assert min(picks.values()) > 60, picks  # about 100 each


def test_wrandom_weighs_by_penalty(tmp_path: Path) -> None:
    conf = "[q]\nstrategy=wrandom\nmember => SIP/a,0\nmember => SIP/b,3\n"
    c = Clock(load(tmp_path, conf), seed=3)
    picks: Counter[str] = Counter()
    for i in range(400):
        caller = c.join("q", f"c{i}")
        (member,) = c.ringing_for(caller)
        picks[member] += 1
        serve(c, caller, member, talk=1)
    # a's metric is in [0, 1000), b's in [0, 4000): a wins about 7 times in 8.
    assert picks["SIP/b"] > 10 and picks["SIP/a"] > 5 * picks["SIP/b"], picks


# --- timing: wrap-up, queue timeout, option n -------------------------------------------

def test_wrapuptime_keeps_a_member_out_after_a_call(tmp_path: Path) -> None:
    conf = "[q]\nstrategy=ringall\nwrapuptime=30\nmember => SIP/a\n"
    c = Clock(load(tmp_path, conf))
    caller = c.join("q", "one")
    serve(c, caller, "SIP/a")
    second = c.join("q", "two")
    assert c.ringing_for(second) == set()
    c.advance(29)
    assert c.ringing_for(second) == set()
    c.advance(1.0)
    assert c.ringing_for(second) == {"SIP/a"}  # rung as soon as its wrap-up ends


def test_queue_timeout_exits_with_timeout_while_ringing(tmp_path: Path) -> None:
    c = clock(tmp_path, "ringall")
    caller = c.join("q", timeout=10)
    c.advance(9.9)
    assert c.ringing_for(caller) == {"SIP/a", "SIP/b", "SIP/c"}
    c.advance(0.1)  # the ring time was cut to the queue timeout
    assert c.ringing_for(caller) == set()
    assert c.exits[caller].status == "TIMEOUT" and c.exits[caller].abandoned
    assert [r.data for r in c.logs("RINGNOANSWER")] == [("10000",)] * 3
    assert c.logs("EXITWITHTIMEOUT")[0].data == ("1", "1", "10")


def test_queue_timeout_while_waiting(tmp_path: Path) -> None:
    c = clock(tmp_path, "ringall", states={m: UNAVAILABLE for m in ("SIP/a", "SIP/b", "SIP/c")})
    caller = c.join("q", timeout=30)
    c.advance(29)
    assert caller not in c.exits
    c.advance(1)
    assert c.exits[caller].status == "TIMEOUT"


def test_option_n_leaves_after_one_pass(tmp_path: Path) -> None:
    c = clock(tmp_path, "ringall")
    caller = c.join("q", options="n")
    c.advance(15)
    assert c.exits[caller].status == "TIMEOUT"
    assert c.events()[-1] == "EXITWITHTIMEOUT"


def test_option_n_rrmemory_tries_each_member_once(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory")
    caller = c.join("q", options="n")
    for _ in range(3):
        assert len(c.ringing_for(caller)) == 1
        c.advance(20)
    assert [i for _, _, i in c.rang] == ["SIP/a", "SIP/b", "SIP/c"]
    assert c.exits[caller].status == "TIMEOUT"


# --- joining and leaving -----------------------------------------------------------------

def test_maxlen_refuses_with_full(tmp_path: Path) -> None:
    c = clock(tmp_path, extra="maxlen=2", states={"SIP/a": UNAVAILABLE, "SIP/b": UNAVAILABLE,
                                                  "SIP/c": UNAVAILABLE})
    c.join("q", "one")
    c.join("q", "two")
    assert c.refused("q", "three") == "FULL"


def test_joinempty_refuses_when_every_member_is_paused(tmp_path: Path) -> None:
    c = clock(tmp_path, extra="joinempty=paused")
    for m in ("SIP/a", "SIP/b", "SIP/c"):
        c.run(c.engine.set_paused("q", m, True, c.t)[1])
    assert c.refused("q") == "JOINEMPTY"
    c.run(c.engine.set_paused("q", "SIP/b", False, c.t)[1])
    c.join("q")


def test_joinempty_strict_with_nobody_reachable_is_joinunavail(tmp_path: Path) -> None:
    states = {m: UNAVAILABLE for m in ("SIP/a", "SIP/b", "SIP/c")}
    c = clock(tmp_path, extra="joinempty=strict", states=states)
    assert c.refused("q") == "JOINUNAVAIL"
    c2 = Clock(load(tmp_path, ABC.format(strategy="ringall", extra="joinempty=unavailable")),
               states=states)
    assert c2.refused("q") == "JOINEMPTY"


def test_leavewhenempty_takes_waiting_callers_out(tmp_path: Path) -> None:
    c = clock(tmp_path, extra="leavewhenempty=paused,unavailable", states={"SIP/a": UNAVAILABLE,
                                                               "SIP/b": UNAVAILABLE})
    caller = c.join("q")  # c is free: it rings
    c.advance(15)  # nobody answers: the caller waits `retry`
    c.run(c.engine.set_paused("q", "SIP/c", True, c.t)[1])
    c.advance(1)
    assert c.exits[caller].status == "LEAVEEMPTY"
    assert c.logs("EXITEMPTY")[0].data[:2] == ("1", "1")


def test_unknown_queue(tmp_path: Path) -> None:
    c = clock(tmp_path)
    assert c.refused("nope") == "UNKNOWN"


def test_caller_hangs_up_while_members_ring(tmp_path: Path) -> None:
    c = clock(tmp_path)
    caller = c.join("q")
    c.advance(4)
    c.gone(caller)
    assert c.ringing_for(caller) == set()
    assert [r.data for r in c.logs("RINGCANCELED")] == [("4000",)] * 3
    assert c.logs("ABANDON")[0].data == ("1", "1", "4")
    assert c.engine.queues["q"].abandoned == 1


# --- autofill and the line -----------------------------------------------------------------

def test_autofill_rings_for_as_many_callers_as_members_are_free(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory", "ringinuse=no\nautofill=yes")
    callers = [c.join("q", f"c{i}") for i in range(5)]
    assert [len(c.ringing_for(x)) for x in callers] == [1, 1, 1, 0, 0]
    assert {i for x in callers for i in c.ringing_for(x)} == {"SIP/a", "SIP/b", "SIP/c"}


def test_without_autofill_only_the_head_of_the_line_rings(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory", "ringinuse=no")
    callers = [c.join("q", f"c{i}") for i in range(3)]
    assert [len(c.ringing_for(x)) for x in callers] == [1, 0, 0]
    serve(c, callers[0], next(iter(c.ringing_for(callers[0]))))
    assert [len(c.ringing_for(x)) for x in callers[1:]] == [1, 0]


def test_weight_gives_the_heavier_queue_a_shared_member_first(tmp_path: Path) -> None:
    conf = ("[low]\nweight=0\nmember => SIP/a\n"
            "[high]\nweight=10\nringinuse=no\nmember => SIP/a\nmember => SIP/z\n")
    c = Clock(load(tmp_path, conf), states={"SIP/z": UNAVAILABLE})
    high = c.join("high", "vip")
    assert c.ringing_for(high) == {"SIP/a"}
    low = c.join("low", "plain")
    assert c.ringing_for(low) == set()  # high has a caller and no free member to spare


# --- announcements -------------------------------------------------------------------------

def test_position_and_hold_time_announcements(tmp_path: Path) -> None:
    extra = "announce-frequency=30\nmin-announce-frequency=15\nannounce-holdtime=yes"
    states = {m: UNAVAILABLE for m in ("SIP/a", "SIP/b", "SIP/c")}
    c = clock(tmp_path, extra=extra, states=states)
    first = c.join("q", "one")
    second = c.join("q", "two")
    c.advance(0)
    said = {caller: prompts for _, caller, prompts in c.announced}
    assert said[first] == ["queue-youarenext", "queue-thankyou"]
    assert said[second] == ["queue-thereare", "digits/2", "queue-callswaiting",
                            "queue-thankyou"]
    c.announced_done(first)
    c.announced_done(second)
    c.announced.clear()
    c.advance(29)
    assert not c.announced
    c.advance(1)  # announce-frequency=30; hold time estimate 0: |(0+30-30)/60| = 0
    assert [p for _, _, p in c.announced] == [
        ["queue-youarenext", "queue-thankyou"],
        ["queue-thereare", "digits/2", "queue-callswaiting", "queue-thankyou"]]
    c.announced_done(first)
    c.announced_done(second)
    c.announced.clear()
    c.gone(first)  # the second moves up: told 15 s after the last time
    c.advance(14)
    assert not c.announced
    c.advance(1)
    assert c.announced == [(c.t, second, ["queue-youarenext", "queue-thankyou"])]


def test_hold_time_is_said_in_minutes(tmp_path: Path) -> None:
    extra = "announce-frequency=60\nannounce-position=no"
    c = clock(tmp_path, "ringall", extra)
    served = c.join("q", "early")
    c.advance(150)  # the first caller waited 150 s: the estimate is 150 s
    c.answer(served, "SIP/a")
    for m in ("SIP/a", "SIP/b", "SIP/c"):
        c.dev.states[m] = UNAVAILABLE
    caller = c.join("q", "late")
    c.advance(0)
    # |(150 + 30 - 0) / 60| = 3 minutes
    assert c.announced[-1][2] == ["queue-holdtime", "digits/3", "queue-minutes",
                                  "queue-thankyou"]
    assert caller


def test_periodic_announcements_rotate(tmp_path: Path) -> None:
    extra = "periodic-announce=queue-periodic-announce,hello-world\n" \
            "periodic-announce-frequency=20"
    states = {m: UNAVAILABLE for m in ("SIP/a", "SIP/b", "SIP/c")}
    c = clock(tmp_path, extra=extra, states=states)
    caller = c.join("q")
    heard = []
    for _ in range(3):
        c.advance(20)
        heard.append(c.announced[-1][2])
        c.announced_done(caller)
    assert heard == [["queue-periodic-announce"], ["hello-world"], ["queue-periodic-announce"]]


# --- members: dynamic, paused, persisted ---------------------------------------------------

def test_dynamic_members_are_logged_and_persisted(tmp_path: Path) -> None:
    c = clock(tmp_path)
    status, actions = c.engine.add_member("q", MemberSpec("SIP/d", penalty=2, name="Dee"),
                                          c.t, "CLI")
    c.run(actions)
    assert status == "ADDED"
    assert c.engine.add_member("q", MemberSpec("SIP/d"), c.t)[0] == "MEMBERALREADY"
    assert c.engine.add_member("nope", MemberSpec("SIP/d"), c.t)[0] == "NOSUCHQUEUE"
    assert c.engine.remove_member("q", "SIP/a", c.t)[0] == "NOTDYNAMIC"
    assert c.engine.remove_member("q", "SIP/x", c.t)[0] == "NOTINQUEUE"
    found, actions = c.engine.set_paused("", "SIP/d", True, c.t, "lunch")
    c.run(actions)
    assert found == 1
    status, actions = c.engine.remove_member("q", "SIP/d", c.t, "u-1")
    c.run(actions)
    assert status == "REMOVED"
    logs = [(r.queue, r.callid, r.agent, r.event, r.data) for r in c.logs()]
    assert logs == [("q", "CLI", "SIP/d", "ADDMEMBER", ("",)),
                    ("NONE", "NONE", "Dee", "PAUSEALL", ("lunch",)),
                    ("q", "NONE", "Dee", "PAUSE", ("lunch",)),
                    ("q", "u-1", "SIP/d", "REMOVEMEMBER", ("",))]
    from pbx.queue.engine import Persist
    saved = [a for a in c.actions if isinstance(a, Persist)]
    assert [len(p.members) for p in saved] == [1, 1, 0]
    assert saved[1].members[0].paused and saved[1].members[0].reason == "lunch"


def test_a_paused_member_is_not_rung(tmp_path: Path) -> None:
    c = clock(tmp_path)
    c.run(c.engine.set_paused("q", "SIP/b", True, c.t)[1])
    caller = c.join("q")
    assert c.ringing_for(caller) == {"SIP/a", "SIP/c"}


@pytest.mark.parametrize("member_line", ["SIP/a,-3", "SIP/a,,,,no"])
def test_member_lines(tmp_path: Path, member_line: str) -> None:
    c = Clock(load(tmp_path, f"[q]\nmember => {member_line}\n"))
    m = c.engine.queues["q"].members[0]
    assert m.penalty == 0 and m.name == "SIP/a"
    assert m.ringinuse is (member_line != "SIP/a,,,,no")


def test_queue_timeout_during_an_announcement_waits_for_its_end(tmp_path: Path) -> None:
    states = {m: UNAVAILABLE for m in ("SIP/a", "SIP/b", "SIP/c")}
    c = clock(tmp_path, extra="periodic-announce-frequency=5", states=states)
    caller = c.join("q", timeout=7)
    c.advance(5)
    assert c.announced[-1][1:] == (caller, ["queue-periodic-announce"])
    c.advance(3)  # the timeout passes while it plays
    assert caller not in c.exits
    c.announced_done(caller)
    assert c.exits[caller].status == "TIMEOUT"
    assert c.logs("EXITWITHTIMEOUT")[0].data == ("1", "1", "8")


def test_a_key_of_the_queue_context_takes_the_caller_out(tmp_path: Path) -> None:
    c = clock(tmp_path, extra="context=qoutcon")
    caller = c.join("q")
    c.advance(2)
    c.run(c.engine.exit_key(caller, "5", c.t))
    assert c.ringing_for(caller) == set()
    exit_ = c.exits[caller]
    assert (exit_.status, exit_.key, exit_.context, exit_.abandoned) == \
        (None, "5", "qoutcon", False)
    assert c.events() == ["ENTERQUEUE", "RINGCANCELED", "RINGCANCELED", "RINGCANCELED",
                          "EXITWITHKEY"]
    assert c.logs("EXITWITHKEY")[0].data == ("5", "1", "1", "2")


def test_member_hangs_up_during_its_announcement_agentdump(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory", "announce=queue-markq")
    caller = c.join("q")
    c.answer(caller, "SIP/a", bridge=False)
    assert c.connects[caller].member_prompts == ["queue-markq"]
    c.run(c.engine.agent_dump(caller, c.t))
    assert c.events()[-1] == "AGENTDUMP"
    c.advance(5)  # retry: the next member rings for the same caller
    assert c.ringing_for(caller) == {"SIP/b"}


def test_reload_keeps_dynamic_members_and_history(tmp_path: Path) -> None:
    c = clock(tmp_path, "rrmemory")
    c.run(c.engine.add_member("q", MemberSpec("SIP/d"), c.t)[1])
    caller = c.join("q")
    serve(c, caller, "SIP/a")
    c.run(c.engine.set_paused("q", "SIP/b", True, c.t)[1])
    conf = "[q]\nstrategy=rrmemory\ntimeout=20\nmember => SIP/a\nmember => SIP/b\n"
    c.run(c.engine.configure(load(tmp_path, conf), c.t))
    q = c.engine.queues["q"]
    assert [m.interface for m in q.members] == ["SIP/a", "SIP/b", "SIP/d"]
    a, b, _ = q.members
    assert a.calls == 1 and b.paused and q.spec.timeout == 20


def test_autopause_pauses_a_member_that_did_not_answer(tmp_path: Path) -> None:
    conf = ("[q]\nstrategy=rrmemory\ntimeout=10\nretry=1\nautopause=yes\n"
            "member => SIP/a\nmember => SIP/b\n[other]\nmember => SIP/a\n")
    c = Clock(load(tmp_path, conf))
    caller = c.join("q")
    c.advance(10)  # a did not answer: paused in q (not in other)
    assert [(r.queue, r.agent, r.event, r.data) for r in c.logs("PAUSE")] == \
        [("q", "SIP/a", "PAUSE", ("Auto-Pause",))]
    assert not c.engine.queues["other"].by_iface["SIP/a"].paused
    c.advance(1)
    assert c.ringing_for(caller) == {"SIP/b"}
    c.fail(caller, "SIP/b", busy=True)  # busy: only with autopausebusy=yes
    assert not c.engine.queues["q"].by_iface["SIP/b"].paused
    conf_all = conf.replace("autopause=yes", "autopause=all")
    c2 = Clock(load(tmp_path, conf_all))
    c2.join("q")
    c2.advance(10)
    assert [(r.queue, r.event) for r in c2.logs() if "PAUSE" in r.event] == \
        [("NONE", "PAUSEALL"), ("q", "PAUSE"), ("other", "PAUSE")]
