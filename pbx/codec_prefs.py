"""allow= / disallow=: a peer's codec list, with Asterisk's names and order rules.

A list holds Asterisk codec names ("ulaw", "alaw", "g722", "opus") in
preference order. The rules are those of Asterisk's
``ast_format_cap_update_by_allow_disallow`` (main/format_cap.c), which
chan_sip and chan_pjsip both use:

- lines apply in file order; a peer starts from [general]'s list (chan_sip;
  the default there is ulaw, alaw: chan_sip's ulaw, alaw, gsm, h263 less what
  this PBX does not implement);
- ``allow=a,b`` appends each name not yet in the list (one already there keeps
  its place); ``disallow=a`` removes it; ``all`` appends every codec (in
  Asterisk's registration order: ulaw, alaw, g722, opus) or clears the list;
  ``!name`` inverts the line for that name; ``,`` and ``|`` both separate;
- ``name:ms`` sets the packetization in Asterisk; here packets stay 20 ms
  (the remote's ptime is honoured), so it is accepted with a warning.

A name no Asterisk knows is an error at its own column; one Asterisk knows but
this PBX does not implement (gsm, g729, h264, ...) is a warning and ignored,
so a sip.conf copied from Asterisk loads.
"""

from __future__ import annotations

import re

from pbx.conffile import Entry
from pbx.diagnostics import Diagnostic

__all__ = ["ASTERISK_ONLY", "DEFAULT_CODECS", "SUPPORTED", "update_codecs"]

# What this PBX implements, in Asterisk's codec registration order (allow=all).
SUPPORTED: tuple[str, ...] = ("ulaw", "alaw", "g722", "opus")
DEFAULT_CODECS: tuple[str, ...] = ("ulaw", "alaw")
# Every other format name Asterisk's format cache knows (main/codec_builtin.c).
ASTERISK_ONLY: frozenset[str] = frozenset({
    "g723", "gsm", "g726", "g726aal2", "adpcm", "slin", "slin12", "slin16", "slin24",
    "slin32", "slin44", "slin48", "slin96", "slin192", "lpc10", "g729", "speex", "speex16",
    "speex32", "ilbc", "siren7", "siren14", "testlaw", "g719", "codec2", "none", "silk8",
    "silk12", "silk16", "silk24", "jpeg", "png", "h261", "h263", "h263p", "h264", "h265",
    "mpeg4", "vp8", "vp9", "red", "t140", "t140red", "t38",
})

_TOKEN = re.compile(r"[^,|]+")


def update_codecs(codecs: list[str], entry: Entry, diagnostics: list[Diagnostic]) -> None:
    """Apply one ``allow=`` or ``disallow=`` line (``entry``) to ``codecs`` in place."""
    allowing = entry.key == "allow"
    for match in _TOKEN.finditer(entry.value):
        raw = match.group()
        token = raw.strip()
        if not token:
            continue
        col = entry.value_col + match.start() + (len(raw) - len(raw.lstrip()))
        this_allowing = allowing
        if token.startswith("!"):
            token = token[1:].strip()
            this_allowing = not allowing
        name, _, framing = token.partition(":")
        name = name.strip().lower()

        def report(message: str, severity: str = "error", at: int = col) -> None:
            diag = Diagnostic(entry.file, entry.line, at, message, severity)
            if diag not in diagnostics:  # a template's line is seen once per peer using it
                diagnostics.append(diag)

        if framing:
            if not framing.strip().isdigit():
                report(f"bad packetization {framing.strip()!r} for codec '{name}' "
                       "(milliseconds, e.g. ulaw:20)")
                continue
            report(f"packetization ':{framing.strip()}' for '{name}' is ignored: this PBX "
                   "sends 20 ms packets (or the remote's ptime)", "warning")
        if name == "all":
            if this_allowing:
                codecs.extend(c for c in SUPPORTED if c not in codecs)
            else:
                codecs.clear()
        elif name in SUPPORTED:
            if this_allowing:
                if name not in codecs:
                    codecs.append(name)
            elif name in codecs:
                codecs.remove(name)
        elif name in ASTERISK_ONLY:
            if this_allowing:
                report(f"codec '{name}' is not supported by this PBX and is ignored "
                       f"(supported: {', '.join(SUPPORTED)})", "warning")
        else:
            report(f"unknown codec '{name}' in {entry.key}= (supported: "
                   f"{', '.join(SUPPORTED)}, or all)")
