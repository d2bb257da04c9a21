"""indications.conf: the tones of each country, as Asterisk's main/indications.c reads them.

A *tone list* is what `dial = 350+440` or `busy = 480+620/500,0/500` says:
comma-separated parts (``|`` when the list has one), each
``[!]freq[+|*freq2][/ms]`` (Asterisk's ``ast_tone_zone_part_parse``):

- ``f1+f2``: two frequencies added; ``f1*f2``: f1 modulated by f2;
- ``Mn``: a MIDI note instead of a frequency (``M69`` is 440 Hz);
- ``/ms``: how long the part lasts; without it the part lasts for ever;
- ``!``: the part is played once. The list repeats from its first part
  without ``!``; a list whose parts all have ``!`` plays once and stops.

A *zone* is a country section (``[us]``, ``[uk]``, ...) with a
``description``, a ``ringcadence`` and its tones by name (``dial``, ``busy``,
``ring``, ``congestion``, ``callwaiting``, ``dialrecall``, ``record``,
``info``, and any other name: PlayTones(name) plays it). ``[general]``
``country=`` names the default zone. Asterisk drops a zone without a
description or without tones (it warns; so does `pbx check`).

This module only parses and looks up; pbx.media.tones turns a ToneList into
audio. Without an indications.conf the PBX uses BUILTIN (Asterisk's ``[us]``
zone), so PlayTones(dial) works out of the box.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pbx.conffile import read_conf
from pbx.diagnostics import Diagnostic

__all__ = ["BUILTIN", "MAX_CYCLE_MS", "Indications", "ToneError", "ToneList", "TonePart",
           "ToneZone", "load_indications", "parse_tonelist"]

# A tone list renders one cycle of audio; longer cycles than this are refused
# (they would cost memory per codec for nothing a caller could tell apart).
MAX_CYCLE_MS = 120_000
# Above half the 8 kHz sample rate a frequency cannot be played on G.711 legs.
NARROWBAND_LIMIT = 4000

# ast_tone_zone_part_parse's forms, tried as its sscanf patterns are: f1[+|*f2][/ms]
# in Hz, or the same with MIDI notes (M on both frequencies). Like sscanf, a
# match may stop before the end of the part: the rest is ignored (a warning).
_PART = re.compile(r"(?P<f1>\d+)(?:(?P<op>[+*])(?P<f2>\d+))?(?:/(?P<ms>\d+))?"
                   r"|M(?P<n1>\d+)(?:(?P<nop>[+*])M(?P<n2>\d+))?(?:/(?P<nms>\d+))?")


def midi_hz(note: int) -> int:
    """Asterisk's midi_tohz table (truncated equal temperament); 0 beyond 127."""
    return int(440 * 2 ** ((note - 69) / 12)) if 0 <= note <= 127 else 0


class ToneError(ValueError):
    """A tone list that cannot be parsed; `offset` is where in its text."""

    def __init__(self, message: str, offset: int = 0) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


@dataclass(frozen=True, slots=True)
class TonePart:
    """One part of a tone list: frequencies in Hz (0: none), duration in ms (0: for ever)."""

    freq1: int
    freq2: int = 0
    ms: int = 0
    modulate: bool = False
    once: bool = False  # written with `!`: not repeated


@dataclass(frozen=True, slots=True)
class ToneList:
    """A parsed tone list; `text` is what it was parsed from (the cache key of its audio)."""

    parts: tuple[TonePart, ...]
    text: str
    notes: tuple[str, ...] = ()  # what plays differently than written (for pbx check)

    @property
    def repeat_from(self) -> int | None:
        """Index of the first part without `!` (the list repeats from there), None
        when every part has `!` (the list plays once)."""
        for i, part in enumerate(self.parts):
            if not part.once:
                return i
        return None


def _split(text: str) -> tuple[str, list[tuple[str, int]]]:
    sep = "|" if "|" in text else ","
    out: list[tuple[str, int]] = []
    pos = 0
    for piece in text.split(sep):
        out.append((piece, pos))
        pos += len(piece) + 1
    return sep, out


def parse_tonelist(text: str) -> ToneList:
    """Parse a tone list as Asterisk does; ToneError names a part it cannot read at all
    and where (Asterisk skips such a part with a log line and plays the others: the
    PBX reports it, so `pbx check` catches it before a caller hears the gap).

    What Asterisk reads differently than written -- text after a part it could
    read (`350+375+400` plays 350+375), a MIDI note above M127 (silence),
    frequencies G.711 cannot carry -- is in `ToneList.notes`."""
    if not text.strip():
        raise ToneError("empty tone list", 0)
    _, pieces = _split(text)
    while len(pieces) > 1 and not pieces[-1][0].strip():
        pieces.pop()  # a trailing separator: strsep's last empty piece ends the list anyway
    parts: list[TonePart] = []
    notes: list[str] = []
    total = 0
    for piece, pos in pieces:
        lead = len(piece) - len(piece.lstrip())
        item = piece.strip()
        at = pos + lead
        if not item:
            raise ToneError("empty part in the tone list (Asterisk stops reading the list "
                            "there)", at)
        once = item.startswith("!")
        body = item[1:].lstrip() if once else item
        m = _PART.match(body)
        if m is None:
            raise ToneError(f"bad tone part {item!r}: expected [!]freq[+freq2|*freq2][/ms], "
                            "e.g. 440+480/2000", at)
        if m.end() < len(body):
            notes.append(f"{body[m.end():]!r} after {body[:m.end()]!r} is ignored "
                         "(Asterisk reads no further)")
        if m["n1"] is not None:
            notes.extend(f"MIDI note M{n} does not exist (M0..M127): it plays silence"
                         for n in (m["n1"], m["n2"]) if n is not None and int(n) > 127)
            f1 = midi_hz(int(m["n1"]))
            f2 = midi_hz(int(m["n2"])) if m["n2"] is not None else 0
            op, ms = m["nop"], m["nms"]
        else:
            f1 = int(m["f1"])
            f2 = int(m["f2"]) if m["f2"] is not None else 0
            op, ms = m["op"], m["ms"]
        duration = int(ms) if ms is not None else 0
        total += duration
        parts.append(TonePart(f1, f2, duration, op == "*", once))
    if total > MAX_CYCLE_MS:
        raise ToneError(f"tone list lasts {total / 1000:.0f} s per cycle: at most "
                        f"{MAX_CYCLE_MS // 1000} s", 0)
    high = sorted({f for p in parts for f in (p.freq1, p.freq2) if f > NARROWBAND_LIMIT})
    if high:
        notes.append(f"{', '.join(map(str, high))} Hz is above {NARROWBAND_LIMIT} Hz: "
                     "silent on G.711 legs (heard on G.722 ones)")
    return ToneList(tuple(parts), text.strip(), tuple(notes))


@dataclass(slots=True)
class ToneZone:
    """One country section."""

    country: str
    description: str = ""
    ringcadence: tuple[int, ...] = ()
    tones: dict[str, ToneList] = field(default_factory=dict)  # lower-case name -> list


@dataclass(slots=True)
class Indications:
    """Every zone, and which one is the default ([general] country=)."""

    zones: dict[str, ToneZone] = field(default_factory=dict)  # lower-case country -> zone
    country: str = "us"
    path: str = ""

    def zone(self, country: str | None = None) -> ToneZone | None:
        """The zone of `country` (the channel's tonezone), else the default one."""
        if country:
            found = self.zones.get(country.strip().lower())
            if found is not None:
                return found
        return self.zones.get(self.country.lower())

    def tone(self, name: str, country: str | None = None) -> ToneList | None:
        """The tone called `name` (any case) in the channel's zone (ast_get_indication_tone)."""
        zone = self.zone(country)
        return None if zone is None else zone.tones.get(name.strip().lower())

    def resolve(self, arg: str, country: str | None = None) -> ToneList:
        """PlayTones' argument: a tone name of the zone, else a tone list itself."""
        found = self.tone(arg, country)
        return found if found is not None else parse_tonelist(arg)


# Asterisk's [us] zone (configs/samples/indications.conf.sample): the default
# when the config folder has no indications.conf.
_US = {
    "description": "United States / North America",
    "ringcadence": "2000,4000",
    "dial": "350+440",
    "busy": "480+620/500,0/500",
    "ring": "440+480/2000,0/4000",
    "congestion": "480+620/250,0/250",
    "callwaiting": "440/300,0/10000",
    "dialrecall": "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
    "record": "1400/500,0/15000",
    "info": "!950/330,!1400/330,!1800/330,0",
    "stutter": "!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,!0/100,!350+440/100,"
               "!0/100,!350+440/100,!0/100,!350+440/100,!0/100,350+440",
}


def _builtin() -> Indications:
    zone = ToneZone("us", _US["description"], (2000, 4000))
    for name, value in _US.items():
        if name not in ("description", "ringcadence"):
            zone.tones[name] = parse_tonelist(value)
    return Indications({"us": zone}, "us", "(built in)")


BUILTIN = _builtin()


def load_indications(path: Path, diagnostics: list[Diagnostic]) -> Indications:
    """Read indications.conf; problems go to `diagnostics` as file:line:col.

    A bad tone list is an error Asterisk loads anyway (it plays the parts it
    can read): `loadable`, so `pbx run` starts with a warning and `pbx check`
    refuses it."""
    conf = read_conf(path, diagnostics)
    out = Indications(path=str(path))
    country = ""
    for section in conf.sections:
        if section.is_template:
            continue
        name = section.name.lower()
        if name == "general":
            for entry in section.entries:
                if entry.key == "country":
                    country = entry.value.strip()
                else:
                    diagnostics.append(entry.diag(f"unknown [general] option '{entry.key}' "
                                                  "(ignored)", on_value=False,
                                                  severity="warning"))
            continue
        zone = ToneZone(name)
        for entry in section.entries:
            key = entry.key
            if key == "description":
                zone.description = entry.value.strip()
            elif key == "ringcadence":
                cadence = [p.strip() for p in entry.value.split(",")]
                if not all(p.isdigit() for p in cadence):
                    diagnostics.append(entry.diag(f"ringcadence {entry.value!r}: expected "
                                                  "milliseconds separated by commas"))
                    continue
                zone.ringcadence = tuple(int(p) for p in cadence)
            else:
                value = entry.value
                try:
                    tones = parse_tonelist(value)
                except ToneError as exc:
                    diagnostics.append(Diagnostic(
                        entry.file, entry.line, entry.value_col + exc.offset,
                        f"[{section.name}] {key}: {exc.message}", loadable=True))
                    continue
                for text in tones.notes:
                    diagnostics.append(entry.diag(f"[{section.name}] {key}: {text}",
                                                  severity="warning"))
                zone.tones[key.lower()] = tones
        if not zone.description or not zone.tones:
            missing = "description" if not zone.description else "tones"
            diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                          f"zone [{section.name}] has no {missing}: Asterisk "
                                          "ignores it", "warning"))
            continue
        out.zones[name] = zone
    first = next((s for s in conf.sections if s.name.lower() == "general"), None)
    if not country:
        diagnostics.append(Diagnostic(str(path), first.line if first else 1, 1,
                                      "no [general] country=: using 'us'", "warning"))
        country = "us"
    if country.lower() not in out.zones:
        entry = first.entry("country") if first is not None else None
        where = (entry.file, entry.line, entry.value_col) if entry else (str(path), 1, 1)
        diagnostics.append(Diagnostic(*where, f"country={country}: no zone [{country}] "
                                      "in indications.conf", loadable=True))
        if not out.zones:
            out.zones["us"] = BUILTIN.zones["us"]
            country = "us"
    out.country = country.lower()
    return out
