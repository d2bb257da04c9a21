"""features.conf, as Asterisk's (optional: every key has a default).

What this module acts on: `[general]` `pickupexten` (default `*8`: dialing
it picks up a ringing call of the caller's pickup groups, before any
dialplan, as chan_sip/chan_pjsip do), `pickupsound` and `pickupfailsound`
(played to the one who picks up; default none). The other keys Asterisk's
sample has (transfer keys, `[featuremap]`, `[applicationmap]`) are read by
the features that use them; a key Asterisk does not have is a warning with
file:line:col.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from pbx.conffile import read_conf
from pbx.diagnostics import Diagnostic

# Asterisk's [general] keys of features.conf (configs/samples/features.conf.sample).
GENERAL_KEYS = frozenset({
    "transferdigittimeout", "xfersound", "xferfailsound", "pickupexten", "pickupsound",
    "pickupfailsound", "featuredigittimeout", "recordingfailsound", "atxfernoanswertimeout",
    "atxferdropcall", "atxferloopdelay", "atxfercallbackretries", "transferdialattempts",
    "transferannouncesound", "transferretrysound", "transferinvalidsound", "atxferabort",
    "atxfercomplete", "atxferthreeway", "atxferswap", "courtesytone", "parkedplay",
    "parkedcalltransfers", "parkedcallreparking", "parkedcallhangup", "parkedcallrecording",
    "parkeddynamic", "adsipark", "parkinghints", "parkext", "parkpos", "context",
    "parkingtime", "comebacktoorigin", "findslot", "parkedmusicclass", "parkext_exclusive",
})
_EXTEN_RE = re.compile(r"^[0-9*#A-Za-z+]+$")


@dataclass(slots=True)
class FeaturesConfig:
    pickupexten: str = "*8"
    pickupsound: str = ""
    pickupfailsound: str = ""


def load_features_conf(path: Path, diagnostics: list[Diagnostic]) -> FeaturesConfig:
    """Read features.conf (a missing file gives the defaults)."""
    features = FeaturesConfig()
    if not path.exists():
        return features
    conf = read_conf(path, diagnostics)
    # [featuremap], [applicationmap] and feature groups (any other section, as in
    # Asterisk) belong to the in-call features; only [general] is read here.
    general = conf.section("general")
    if general is not None:
        for entry in general.entries:
            key, value = entry.key, entry.value.strip()
            if key not in GENERAL_KEYS:
                diagnostics.append(entry.diag(f"unknown option '{key}' in [general]",
                                              on_value=False, severity="warning"))
            elif key == "pickupexten":
                if not _EXTEN_RE.match(value):
                    diagnostics.append(entry.diag(f"pickupexten must be digits, * or # "
                                                  f"(e.g. *8), got {value!r}"))
                else:
                    features.pickupexten = value
            elif key in ("pickupsound", "pickupfailsound"):
                setattr(features, key, value)
    return features
