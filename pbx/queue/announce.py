"""What a waiting caller hears: position, hold time and periodic announcements.

Asterisk's say_position and say_periodic_announcement, as pure functions of the
queue's settings, the caller's announcement state and `now`: they say *when* the
next announcement is due and *which prompts* it plays (numbers through pbx.say,
as ast_say_number does). An empty prompt setting (`queue-thankyou=`) is skipped.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from pbx import say
from pbx.queue.config import QueueSpec


@dataclass(slots=True)
class AnnounceState:
    """One caller's announcement history (queue_ent's last_pos*, last_periodic*)."""

    last_pos: float | None = None  # when its position was last announced
    last_pos_said: int = 0  # the position it was told
    last_periodic: float = 0.0  # when the last periodic announcement started
    periodic_index: int = 0  # the next of periodic-announce's prompts

    @classmethod
    def joined(cls, q: QueueSpec, now: float) -> AnnounceState:
        """The state at join: the first periodic announcement comes `frequency` after
        it (or after periodic-announce-startdelay when set)."""
        last = now
        if q.periodic_announce_startdelay >= 0:
            last = now + q.periodic_announce_startdelay - q.periodic_announce_frequency
        return cls(last_periodic=last)


def position_due(q: QueueSpec, st: AnnounceState, pos: int) -> float | None:
    """When the next position/hold-time announcement may be made (None: not until
    the position changes, or never)."""
    if not q.announce_frequency:
        return None
    if st.last_pos is None:
        return float("-inf")  # at once
    if q.announce_position_only_up and st.last_pos_said > 0 and st.last_pos_said <= pos:
        return None
    if st.last_pos_said != pos:
        return st.last_pos + q.min_announce_frequency
    return st.last_pos + max(q.announce_frequency, q.min_announce_frequency)


def position_prompts(q: QueueSpec, st: AnnounceState, pos: int, holdtime: int,
                     waited: float, now: float) -> list[str]:
    """say_position: the prompts to play now (it updates `st` as if they were played).

    Call only when position_due() says it is time. `holdtime` is the queue's
    estimated hold time (seconds), `waited` how long this caller has waited."""
    prompts: list[str] = []
    say_thanks = False
    skip_holdtime = False
    position = q.announce_position
    limit = q.announce_position_limit
    if position in ("yes", "more") or (position == "limit" and pos <= limit):
        say_thanks = True
        if pos == 1:
            prompts += _sound(q, "queue-youarenext")
            skip_holdtime = True  # Asterisk goes straight to the thanks
        elif position == "more" and pos > limit:
            prompts += _sound(q, "queue-quantity1") + say.number(limit) \
                + _sound(q, "queue-quantity2")
        else:
            prompts += _sound(q, "queue-thereare") + say.number(pos) \
                + _sound(q, "queue-callswaiting")
    if not skip_holdtime:
        # Integer arithmetic as in C: division truncates toward zero, then labs().
        diff = (holdtime + 30) - int(waited)
        mins = abs(_c_div(diff, 60))
        secs = 0
        if q.announce_round_seconds:
            secs = _c_div(abs(diff) - 60 * mins, q.announce_round_seconds) \
                * q.announce_round_seconds
        once_done = q.announce_holdtime == "once" and st.last_pos is not None
        if mins + secs > 0 and q.announce_holdtime != "no" and not once_done:
            say_thanks = True
            prompts += _sound(q, "queue-holdtime")
            if mins >= 1:
                prompts += say.number(mins)
                prompts += _sound(q, "queue-minute" if mins == 1 else "queue-minutes")
            if secs >= 1:
                prompts += say.number(secs) + _sound(q, "queue-seconds")
    if say_thanks:
        prompts += _sound(q, "queue-thankyou")
    st.last_pos = now
    st.last_pos_said = pos
    return prompts


def periodic_due(q: QueueSpec, st: AnnounceState) -> float | None:
    """When the next periodic announcement is due (None: never)."""
    if not q.periodic_announce_frequency:
        return None
    return st.last_periodic + q.periodic_announce_frequency


def periodic_prompts(q: QueueSpec, st: AnnounceState, now: float,
                     rng: random.Random) -> list[str]:
    """say_periodic_announcement: the prompt to play now (and advance `st`). With
    relative-periodic-announce the next one is timed from the end of this one:
    the caller of this function sets `last_periodic` again when it has played."""
    sounds = q.periodic_announce or [""]
    if q.random_periodic_announce:
        st.periodic_index = rng.randrange(len(sounds))
    elif st.periodic_index >= len(sounds) or not sounds[st.periodic_index]:
        st.periodic_index = 0
    name = sounds[st.periodic_index]
    st.last_periodic = now
    if not q.random_periodic_announce:
        st.periodic_index += 1
    return [name] if name else []


def holdtime_report(q: QueueSpec, waited: float) -> list[str]:
    """reportholdtime: what the member hears before the bridge ("Hold time 2 minutes
    30 seconds"): minutes when at least one, seconds when more than one."""
    prompts = _sound(q, "queue-reporthold")
    if not prompts:
        return []
    mins, secs = divmod(int(waited), 60)
    if mins > 0:
        prompts += say.number(mins) + _sound(q, "queue-minutes")
    if secs > 1:
        prompts += say.number(secs) + _sound(q, "queue-seconds")
    return prompts


def _sound(q: QueueSpec, key: str) -> list[str]:
    name = q.sound(key)
    return [name] if name else []


def _c_div(a: int, b: int) -> int:
    """C's integer division (truncates toward zero)."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b > 0) else -q
