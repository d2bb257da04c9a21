"""features.conf, as Asterisk reads it (optional: every key has a default).

``[general]``: call pickup (`pickupexten`, default `*8`: dialing it picks up a
ringing call of the caller's pickup groups, before any dialplan, as
chan_sip/chan_pjsip do; `pickupsound`, `pickupfailsound`), the timers and
prompts of the transfer keys (featuredigittimeout, transferdigittimeout,
transferdialattempts, the transfer sounds, the attended transfer keys
atxferabort/complete/threeway/swap). ``[featuremap]``: the in-call keys
(blindxfer, atxfer, disconnect, parkcall, automixmon) that pbx.features
watches in a bridge. Mistakes are `file:line:col` diagnostics; a key Asterisk
does not have is a warning, as is a section this PBX does not use
(applicationmap, feature groups) and a parking key (res_parking.conf has those).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pbx.conffile import Entry, read_conf
from pbx.diagnostics import Diagnostic

__all__ = ["FEATURES", "FeaturesConfig", "load_features_conf"]

# featuremap names (features_config.c); "automon" (Monitor) is accepted but not offered.
FEATURES = ("blindxfer", "disconnect", "atxfer", "parkcall", "automixmon", "automon")
_DTMF = re.compile(r"^[0-9*#A-Da-d]{1,11}$")
_EXTEN_RE = re.compile(r"^[0-9*#A-Za-z+]+$")

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
_KEYS = {"atxferabort", "atxfercomplete", "atxferthreeway", "atxferswap"}
# Asterisk's [general] keys that are accepted and not acted on (a warning would only
# be noise for a stock Asterisk file).
_IGNORED = {"atxferloopdelay", "atxfercallbackretries", "pickup_exten", "parkedcalltransfers",
            "parkedcallreparking", "parkedcallhangup", "parkedcallrecording", "adsipark"}
# Parking in features.conf's [general] is Asterisk 11's: res_parking.conf has it now.
_PARKING = {"parkext", "parkpos", "context", "parkingtime", "comebacktoorigin", "findslot",
            "parkedmusicclass", "parkext_exclusive", "parkinghints", "parkedplay",
            "parkeddynamic"}


def load_features_conf(path: Path, diagnostics: list[Diagnostic]) -> FeaturesConfig:
    """Read features.conf (a missing file gives the defaults)."""
    cfg = FeaturesConfig()
    if not path.exists():
        return cfg
    conf = read_conf(path, diagnostics)
    for section in conf.sections:
        name = section.name.lower()
        if name == "general":
            for e in section.entries:
                _general(cfg, e, diagnostics)
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


def _general(cfg: FeaturesConfig, e: Entry, diagnostics: list[Diagnostic]) -> None:
    key, value = e.key, e.value.strip()
    if key == "featuredigittimeout":
        number = _number(e, diagnostics, "milliseconds")
        if number is not None:
            cfg.featuredigittimeout = number / 1000
    elif key in _SECONDS:
        number = _number(e, diagnostics, "seconds")
        if number is not None:
            setattr(cfg, key, number)
    elif key == "transferdialattempts":
        number = _number(e, diagnostics, "a count")
        if number is not None:
            cfg.transferdialattempts = max(1, int(number))
    elif key == "atxferdropcall":
        flag = _BOOL.get(value.lower())
        if flag is None:
            diagnostics.append(e.diag(f"{key}: expected yes or no"))
        else:
            cfg.atxferdropcall = flag
    elif key == "pickupexten":
        if not _EXTEN_RE.match(value):
            diagnostics.append(e.diag(f"pickupexten must be digits, * or # (e.g. *8), "
                                      f"got {value!r}"))
        else:
            cfg.pickupexten = value
    elif key in _SOUNDS:
        setattr(cfg, key, value)
    elif key in _KEYS:
        if value and not _DTMF.match(value):
            diagnostics.append(e.diag(f"{key}: '{value}' is not a DTMF sequence"))
        else:
            setattr(cfg, key, value)
    elif key in _PARKING:
        diagnostics.append(e.diag(f"features.conf: '{key}' is a parking option: it is read "
                                  "from res_parking.conf (as in Asterisk 12 and later)",
                                  on_value=False, severity="warning"))
    elif key not in _IGNORED:
        diagnostics.append(e.diag(f"features.conf: unknown option '{key}' in [general]",
                                  on_value=False, severity="warning"))


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
