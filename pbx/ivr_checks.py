"""`pbx check` for the IVR applications: what their arguments name must exist.

Run on the whole configuration (the dialplan, voicemail.conf, indications.conf,
the peers) once everything is loaded. Like the other dialplan checks, what
only fails the calls that reach it is an error marked `loadable` (Asterisk
loads it; `pbx run` warns, `pbx check` refuses); what merely plays
differently is a warning:

- PlayTones(x): a tone of the default zone, or a tone list that parses
  (file:line:col points at the bad part);
- Read(var,x,,i): `x` should be a tone (else it is played as a prompt);
- Directory(vm-context,dial-context,options): voicemail.conf must exist and
  have the context; dial-context must be a dialplan context;
- ChanIsAvail(SIP/x&...): devices are Tech/resource naming known peers;
- SIPAddHeader(Header: value), Set(PJSIP_HEADER(add,Name)=...): a header the
  PBX lets the dialplan add;
- WaitUntil(epoch): a number;
- a peer's tonezone= (sip.conf) or tone_zone= (pjsip.conf): a zone of
  indications.conf.

Arguments built from variables (`${...}`) are checked when the call runs.
"""

from __future__ import annotations

import re
from typing import Any

from dialplan.check import split_top_level
from dialplan.model import Step
from pbx.added_headers import HeaderRefused, check_header, parse_sipaddheader
from pbx.diagnostics import Diagnostic
from pbx.indications import BUILTIN, ToneError

_DIRECTORY_OPTIONS = set("eflbamnpcsd")
_CHANISAVAIL_OPTIONS = set("ast")
_PJSIP_HEADER = re.compile(r"PJSIP_(?:INHERITABLE_)?HEADER\(([^,()]*),([^,()]*)", re.I)


def _dynamic(text: str) -> bool:
    return "${" in text or "$[" in text


class _Checks:
    def __init__(self, config: Any) -> None:
        self.config = config
        self.tones = config.indications or BUILTIN
        self.out: list[Diagnostic] = []

    def add(self, step: Step, offset: int, message: str, severity: str = "error",
            *, loadable: bool = False) -> None:
        p = step.app_pos
        # Column of the argument text, assuming `App(` is written without a space.
        col = p.col + len(step.app) + 1 + offset
        self.out.append(Diagnostic(p.file, p.line, col, message, severity, loadable))

    def args(self, step: Step) -> list[tuple[str, int]]:
        return split_top_level(step.args, ",")

    # --- per application -----------------------------------------------------------
    def playtones(self, step: Step) -> None:
        text = step.args
        arg = text.strip()
        if not arg or _dynamic(arg):
            if not arg:
                self.add(step, 0, "PlayTones: nothing to play", loadable=True)
            return
        lead = len(text) - len(text.lstrip())
        if self.tones.tone(arg) is not None:
            return
        try:
            tones = self.tones.resolve(arg)
        except ToneError as exc:
            elsewhere = [z for z, zone in self.tones.zones.items() if arg.lower() in zone.tones]
            hint = (f" (zone{'s' if len(elsewhere) > 1 else ''} {', '.join(elsewhere)} "
                    "ha" + ("ve" if len(elsewhere) > 1 else "s") + " it: set "
                    "CHANNEL(tonezone) first)") if elsewhere else ""
            self.add(step, lead + exc.offset,
                     f"PlayTones({arg}): not a tone of zone '{self.tones.country}' and not a "
                     f"tone list: {exc.message}{hint}", loadable=True)
            return
        for note in tones.notes:
            self.add(step, lead, f"PlayTones({arg}): {note}", "warning")

    def read(self, step: Step) -> None:
        parts = self.args(step)
        if len(parts) < 4 or "i" not in parts[3][0] or _dynamic(parts[1][0]):
            return
        name, offset = parts[1]
        if name.strip() and self.tones.tone(name.strip()) is None:
            self.add(step, offset, f"Read: option i, but '{name.strip()}' is not a tone of "
                     f"zone '{self.tones.country}': it is played as a prompt", "warning")

    def directory(self, step: Step) -> None:
        parts = self.args(step) + [("", len(step.args))] * 3
        (vm, vm_off), (dial, dial_off), (opts, opts_off) = parts[:3]
        vm, dial = vm.strip(), dial.strip()
        voicemail = self.config.voicemail
        if voicemail is None:
            self.add(step, 0, "Directory: there is no voicemail.conf, where its names come "
                     "from", loadable=True)
        elif vm and not _dynamic(vm):
            contexts = {mb.context for mb in voicemail.mailboxes.values()}
            if vm not in contexts:
                self.add(step, vm_off, f"Directory: voicemail.conf has no mailbox in context "
                         f"'{vm}'", "warning")
        if dial and not _dynamic(dial) and dial not in self.config.dialplan.contexts:
            self.add(step, dial_off, f"Directory: dial-context '{dial}' does not exist",
                     loadable=True)
        letters = re.sub(r"\([^)]*\)", "", opts)
        unknown = sorted({c for c in letters if c.isalpha()} - _DIRECTORY_OPTIONS)
        if unknown and not _dynamic(opts):
            self.add(step, opts_off, f"Directory: unknown option(s) {''.join(unknown)} "
                     "(e f l b a m n p s)", "warning")

    def chanisavail(self, step: Step) -> None:
        parts = self.args(step)
        devices, offset = parts[0] if parts else ("", 0)
        peers = self.config.sip.peers
        pos = offset
        for device in devices.split("&"):
            text = device.strip()
            here = pos + len(device) - len(device.lstrip())
            pos += len(device) + 1
            if not text or _dynamic(text):
                continue
            if "/" not in text:
                self.add(step, here, f"ChanIsAvail: '{text}' is not Technology/Resource "
                         "(SIP/6001)", "warning")
                continue
            tech, resource = text.split("/", 1)
            if tech.upper() not in ("SIP", "PJSIP"):
                self.add(step, here, f"ChanIsAvail: technology {tech} is not supported: never "
                         "available", "warning")
                continue
            from pbx.chan_avail import dial_target

            name = dial_target(tech, resource).peer
            if name not in peers:
                kind = "endpoint" if tech.upper() == "PJSIP" else "peer"
                self.add(step, here, f"ChanIsAvail: no {kind} '{name}' in sip.conf or "
                         "pjsip.conf", "warning")
        if len(parts) > 1:
            opts, off = parts[1]
            unknown = sorted({c for c in opts if c.isalpha()} - _CHANISAVAIL_OPTIONS)
            if unknown and not _dynamic(opts):
                self.add(step, off, f"ChanIsAvail: unknown option(s) {''.join(unknown)} "
                         "(a s t)", "warning")

    def sipaddheader(self, step: Step) -> None:
        text = step.args
        if not text.strip() or _dynamic(text.split(":", 1)[0]):
            return
        try:
            parse_sipaddheader(text if not _dynamic(text) else text.split(":", 1)[0] + ": x")
        except HeaderRefused as exc:
            self.add(step, len(text) - len(text.lstrip()), f"SIPAddHeader: {exc}",
                     loadable=True)

    def pjsip_header(self, step: Step) -> None:
        for m in _PJSIP_HEADER.finditer(step.args):
            action, name = m.group(1).strip().lower(), m.group(2).strip()
            if _dynamic(action) or _dynamic(name):
                continue
            where = m.start(1)
            writing = step.app.lower() == "set" and m.start() < step.args.find("=")
            allowed = ("add", "update", "remove") if writing else ("read", "remove")
            if action not in allowed:
                self.add(step, where, f"PJSIP_HEADER: '{action}' here must be one of "
                         f"{', '.join(allowed)}", loadable=True)
            elif action in ("add", "update") and name:
                try:
                    check_header(name, "")
                except HeaderRefused as exc:
                    self.add(step, m.start(2), f"PJSIP_HEADER({action},{name}): {exc}",
                             loadable=True)

    def waituntil(self, step: Step) -> None:
        arg = step.args.strip()
        if arg and not _dynamic(arg) and not re.match(r"\s*[-+]?\d", arg):
            self.add(step, 0, f"WaitUntil({arg}): not an epoch time: WAITUNTILSTATUS will be "
                     "FAILURE", "warning")

    def run(self) -> list[Diagnostic]:
        by_app = {"playtones": self.playtones, "read": self.read, "directory": self.directory,
                  "chanisavail": self.chanisavail, "sipaddheader": self.sipaddheader,
                  "waituntil": self.waituntil}
        for context in self.config.dialplan.contexts.values():
            for extension in context.extensions.values():
                for prio, step in extension.steps.items():
                    if prio < 0:
                        continue
                    check = by_app.get(step.app.lower())
                    if check is not None:
                        check(step)
                    if "PJSIP_" in step.args.upper():
                        self.pjsip_header(step)
        return self.out


def _peer_zones(config: Any) -> list[Diagnostic]:
    tones = config.indications or BUILTIN
    out = []
    for peer in config.sip.peers.values():
        zone = getattr(peer, "tonezone", None)
        if zone and zone not in tones.zones:
            where = (f"indications.conf has no zone [{zone}]" if config.indications is not None
                     else f"no zone [{zone}] without an indications.conf (only [us])")
            out.append(Diagnostic(peer.file, peer.line, 1, f"[{peer.name}] tone zone "
                                  f"'{zone}': {where}; its calls use "
                                  f"[{tones.country}]", "warning"))
    return out


def check_ivr_apps(config: Any) -> list[Diagnostic]:
    """Every problem in the IVR applications' arguments (see the module docstring)."""
    if config.dialplan is None:
        return _peer_zones(config)
    return _Checks(config).run() + _peer_zones(config)
