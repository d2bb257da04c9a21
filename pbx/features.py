"""In-call DTMF features (Asterisk's features.conf) and the digit matcher of a bridge.

``features.conf`` as Asterisk reads it: ``[general]`` (featuredigittimeout,
transferdigittimeout, the attended transfer keys, the transfer prompts...)
and ``[featuremap]`` (blindxfer, atxfer, disconnect, parkcall, automixmon).
Which features a bridged party may use comes from the Dial options:
``t``/``T`` transfers (callee/caller), ``k``/``K`` parking, ``x``/``X``
automixmon, ``h``/``H`` disconnect, as in app_dial.

:class:`FeatureMatcher` is the sans-I/O part of a bridge's DTMF watch: digits
in, with ``now``; out comes a feature to run, digits to pass on to the other
party, or nothing (a feature code may be under way: the digits are held until
it completes, fails to, or ``featuredigittimeout`` passes).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pbx.conffile import Entry, read_conf
from pbx.diagnostics import Diagnostic

__all__ = ["FEATURES", "FeatureMatcher", "FeaturesConfig", "dial_features",
           "load_features_conf", "option_letters"]

# featuremap names (features_config.c); "automon" (Monitor) is accepted but not offered.
FEATURES = ("blindxfer", "disconnect", "atxfer", "parkcall", "automixmon", "automon")
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,11}$")

# Dial option letter -> (feature, side): lower case for the callee, upper for the caller.
_DIAL_OPTIONS = {"t": ("blindxfer", "atxfer"), "k": ("parkcall",), "x": ("automixmon",),
                 "h": ("disconnect",), "w": ("automon",)}

_BOOL = {"yes": True, "true": True, "on": True, "1": True, "y": True,
         "no": False, "false": False, "off": False, "0": False, "n": False}


@dataclass(slots=True)
class FeaturesConfig:
    """features.conf with Asterisk's defaults (main/features_config.c)."""

    featuredigittimeout: float = 1.0  # seconds between the digits of a feature code
    transferdigittimeout: float = 3.0  # seconds between the digits of a transfer target
    atxfernoanswertimeout: float = 15.0
    atxferdropcall: bool = False
    transferdialattempts: int = 3
    xfersound: str = "beep"
    xferfailsound: str = "beeperr"
    transferannouncesound: str = "pbx-transfer"
    transferretrysound: str = "pbx-invalid"
    transferinvalidsound: str = "privacy-incorrect"
    courtesytone: str = ""
    recordingfailsound: str = ""
    atxferabort: str = "*1"
    atxfercomplete: str = "*2"
    atxferthreeway: str = "*3"
    atxferswap: str = "*4"
    pickupexten: str = "*8"
    pickupsound: str = ""
    pickupfailsound: str = ""
    featuremap: dict[str, str] = field(default_factory=lambda: {
        "blindxfer": "#", "disconnect": "*", "atxfer": "", "parkcall": "",
        "automixmon": "", "automon": ""})

    def codes(self, features: frozenset[str]) -> dict[str, str]:
        """code -> feature name for the features a party may use (those with a code)."""
        return {self.featuremap[f]: f for f in features if self.featuremap.get(f)}

    def atxfer_codes(self) -> dict[str, str]:
        """The keys of an attended transfer in progress (transferer side)."""
        keys = {"abort": self.atxferabort, "complete": self.atxfercomplete,
                "threeway": self.atxferthreeway, "swap": self.atxferswap}
        return {code: name for name, code in keys.items() if code}


_SECONDS = {"transferdigittimeout", "atxfernoanswertimeout"}
_SOUNDS = {"xfersound", "xferfailsound", "transferannouncesound", "transferretrysound",
           "transferinvalidsound", "courtesytone", "recordingfailsound", "pickupsound",
           "pickupfailsound"}
_KEYS = {"atxferabort", "atxfercomplete", "atxferthreeway", "atxferswap", "pickupexten"}
# Accepted, not acted on (a warning would only be noise for a stock Asterisk file).
_IGNORED = {"atxferloopdelay", "atxfercallbackretries", "pickup_exten", "parkedcalltransfers",
            "parkedcallreparking", "parkedcallhangup", "parkedcallrecording"}


def load_features_conf(path: Path, diagnostics: list[Diagnostic]) -> FeaturesConfig:
    """Read features.conf; problems are `file:line:col` diagnostics (unknown keys warn)."""
    cfg = FeaturesConfig()
    if not path.exists():
        return cfg
    conf = read_conf(path, diagnostics)
    for section in conf.sections:
        name = section.name.lower()
        if name == "general":
            for e in section.entries:
                key = e.key
                if key == "featuredigittimeout":
                    value = _number(e, diagnostics, "milliseconds")
                    if value is not None:
                        cfg.featuredigittimeout = value / 1000
                elif key in _SECONDS:
                    value = _number(e, diagnostics, "seconds")
                    if value is not None:
                        setattr(cfg, key, value)
                elif key == "transferdialattempts":
                    value = _number(e, diagnostics, "a count")
                    if value is not None:
                        cfg.transferdialattempts = max(1, int(value))
                elif key == "atxferdropcall":
                    flag = _BOOL.get(e.value.lower())
                    if flag is None:
                        diagnostics.append(e.diag(f"{key}: expected yes or no"))
                    else:
                        cfg.atxferdropcall = flag
                elif key in _SOUNDS:
                    setattr(cfg, key, e.value)
                elif key in _KEYS:
                    if e.value and not _DTMF.match(e.value):
                        diagnostics.append(e.diag(f"{key}: '{e.value}' is not a DTMF sequence"))
                    else:
                        setattr(cfg, key, e.value)
                elif key not in _IGNORED:
                    diagnostics.append(e.diag(f"features.conf: unknown option '{key}' in "
                                              "[general]", on_value=False, severity="warning"))
        elif name == "featuremap":
            for e in section.entries:
                if e.key not in FEATURES:
                    diagnostics.append(e.diag(f"features.conf: unknown feature '{e.key}' "
                                              f"(known: {', '.join(FEATURES)})", on_value=False,
                                              severity="warning"))
                elif e.value and not _DTMF.match(e.value):
                    diagnostics.append(e.diag(f"{e.key}: '{e.value}' is not a DTMF sequence "
                                              "(0-9, *, #, A-D)"))
                else:
                    if e.key == "automon" and e.value:
                        diagnostics.append(e.diag("automon (Monitor) is not supported: use "
                                                  "automixmon", severity="warning"))
                    cfg.featuremap[e.key] = e.value
        else:
            diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                          f"features.conf: [{section.name}] is not used by this "
                                          "PBX (applicationmap and feature groups are not "
                                          "supported)", "warning"))
    _check_overlaps(cfg, path, diagnostics)
    return cfg


def _number(entry: Entry, diagnostics: list[Diagnostic], unit: str) -> float | None:
    try:
        value = float(entry.value)
    except ValueError:
        diagnostics.append(entry.diag(f"{entry.key}: '{entry.value}' is not a number ({unit})"))
        return None
    if value < 0:
        diagnostics.append(entry.diag(f"{entry.key}: must not be negative"))
        return None
    return value


def _check_overlaps(cfg: FeaturesConfig, path: Path, diagnostics: list[Diagnostic]) -> None:
    seen: dict[str, str] = {}
    for name, code in cfg.featuremap.items():
        if not code:
            continue
        if code in seen:
            diagnostics.append(Diagnostic(str(path), 1, 1, f"features.conf: {name} and "
                                          f"{seen[code]} both use '{code}'", "warning"))
        seen[code] = name


def option_letters(options: str) -> str:
    """Dial options without their arguments: ``tTm(moh)L(6000)`` -> ``tTmL``."""
    return re.sub(r"\([^)]*\)", "", options)


def dial_features(options: str) -> tuple[frozenset[str], frozenset[str]]:
    """(caller's features, callee's features) a Dial's options allow."""
    letters = option_letters(options)
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
