"""In-call DTMF features: which a bridged party may use, and the digit matcher.

Which features a bridged party may use comes from the Dial options:
``t``/``T`` transfers (callee/caller), ``k``/``K`` parking, ``x``/``X``
automixmon, ``h``/``H`` disconnect, as in app_dial; their codes are
features.conf's ``[featuremap]`` (pbx.features_conf).

:class:`FeatureMatcher` is the sans-I/O part of a bridge's DTMF watch: digits
in, with ``now``; out comes a feature to run, digits to pass on to the other
party, or nothing (a feature code may be under way: the digits are held until
it completes, fails to, or ``featuredigittimeout`` passes).
"""

from __future__ import annotations

from dialplan.options import parse_options

__all__ = ["FeatureMatcher", "dial_features"]

# Dial option letter -> (feature, side): lower case for the callee, upper for the caller.
_DIAL_OPTIONS = {"t": ("blindxfer", "atxfer"), "k": ("parkcall",), "x": ("automixmon",),
                 "h": ("disconnect",), "w": ("automon",)}


def dial_features(options: str) -> tuple[frozenset[str], frozenset[str]]:
    """(caller's features, callee's features) a Dial's options allow."""
    letters = parse_options(options)
    caller: set[str] = set()
    callee: set[str] = set()
    for letter, names in _DIAL_OPTIONS.items():
        if letter in letters:
            callee.update(names)
        if letter.upper() in letters:
            caller.update(names)
    return frozenset(caller), frozenset(callee)


class FeatureMatcher:
    """Matches one party's digits against feature codes (sans-I/O).

    ``feed(digit, now)`` returns ``(feature, passed)``: the feature whose code
    the digits completed (or None) and the digits to send on to the other
    party (held digits that turned out to be no code). A code that is also the
    start of a longer one fires at ``expire`` (featuredigittimeout), as in
    Asterisk's bridge_channel. ``deadline`` is when ``expire`` must be called."""

    __slots__ = ("_codes", "_prefixes", "buffer", "deadline", "timeout")

    def __init__(self, codes: dict[str, str], timeout: float) -> None:
        self._codes = dict(codes)
        self._prefixes = {code[:i] for code in codes for i in range(1, len(code))}
        self.timeout = timeout
        self.buffer = ""
        self.deadline: float | None = None

    @property
    def active(self) -> bool:
        return bool(self._codes)

    def feed(self, digit: str, now: float) -> tuple[str | None, str]:
        buf = self.buffer + digit
        if buf in self._prefixes:  # a longer code may follow: hold the digits
            self.buffer = buf
            self.deadline = now + self.timeout
            return None, ""
        self.buffer = ""
        self.deadline = None
        feature = self._codes.get(buf)
        if feature is not None:
            return feature, ""
        return None, buf

    def expire(self, now: float) -> tuple[str | None, str]:
        """featuredigittimeout passed: an exact code fires, other digits go on."""
        if self.deadline is None or now < self.deadline:
            return None, ""
        buf = self.buffer
        self.buffer = ""
        self.deadline = None
        feature = self._codes.get(buf)
        return (feature, "") if feature is not None else (None, buf)

    def reset(self) -> str:
        """Drop held digits (a feature takes over the party); returns them."""
        buf = self.buffer
        self.buffer = ""
        self.deadline = None
        return buf
