"""DTMF sequences to menu entries, as Asterisk's bridge features collect them.

Sans-I/O: the caller feeds digits with the time and asks `deadline()` when to
call `expire(now)`. Digits accumulate while they are the start of some
sequence of the menu. A sequence that matches and is the prefix of no longer
one runs at once; one that is also a prefix (`*` when `*1` exists) runs when
no further digit comes within the feature digit timeout (features.conf
featuredigittimeout, 1000 ms). A digit that starts no sequence is dropped,
with what was collected.
"""

from __future__ import annotations

from collections.abc import Mapping

from pbx.conference.config import MenuAction

FEATURE_DIGIT_TIMEOUT = 1.0  # seconds (Asterisk's featuredigittimeout default)


class MenuMatcher:
    """Collects digits for one member against one menu."""

    def __init__(self, entries: Mapping[str, tuple[MenuAction, ...]],
                 timeout: float = FEATURE_DIGIT_TIMEOUT) -> None:
        self.entries = dict(entries)
        self.timeout = timeout
        self._prefixes = {seq[:i] for seq in self.entries for i in range(1, len(seq))}
        self.collected = ""
        self._deadline: float | None = None

    def feed(self, digit: str, now: float) -> tuple[str, tuple[MenuAction, ...]] | None:
        """One digit; the (sequence, actions) to run now, or None."""
        seq = self.collected + digit
        exact = seq in self.entries
        longer = seq in self._prefixes
        if exact and not longer:
            self._reset()
            return seq, self.entries[seq]
        if longer:
            self.collected = seq
            self._deadline = now + self.timeout
            return None
        self._reset()  # as Asterisk: the digits collected and this one are dropped
        return None

    def deadline(self) -> float | None:
        """When `expire` should be called (None: nothing pending)."""
        return self._deadline

    def expire(self, now: float) -> tuple[str, tuple[MenuAction, ...]] | None:
        """The timeout passed: run the sequence collected if it is an entry."""
        if self._deadline is None or now < self._deadline:
            return None
        seq = self.collected
        self._reset()
        return (seq, self.entries[seq]) if seq in self.entries else None

    def _reset(self) -> None:
        self.collected = ""
        self._deadline = None
