"""voicemail.conf as Asterisk's app_voicemail reads it.

``[general]`` holds the options; ``[zonemessages]`` is accepted and ignored;
the section named by ``aliasescontext=`` holds ``alias@ctx => mailbox@ctx``
lines (Asterisk 16+: VoiceMail(1234@devices) leaves the message in
1234@default); every other section is a voicemail context whose lines are
``mailbox => pin,Full Name,email[,pager[,options]]`` (options are
``key=value`` pairs separated by ``|``). An alias line outside the aliases
section (Asterisk's sample has one, with aliasescontext commented out) is an
error Asterisk loads anyway: `pbx run` ignores the line with a warning. Problems are reported as
``file:line:col`` diagnostics; unsupported audio formats are a warning (the
message is recorded as WAV) so the operator is never silently surprised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path

from pbx.conffile import Entry, read_conf
from pbx.diagnostics import Diagnostic

# Asterisk's default for ${VM_DATE} (strftime).
DEFAULT_DATE_FORMAT = "%A, %B %d, %Y at %r"

# Formats we record in; the others Asterisk users write are accepted with a warning.
SUPPORTED_FORMATS = {"wav"}
KNOWN_FORMATS = {"wav", "wav49", "gsm", "ulaw", "alaw", "g722", "g729", "g723", "g723sf",
                 "g726", "sln", "sln16", "ogg", "mp3", "h263", "ilbc", "speex", "siren7",
                 "siren14", "opus", "vox", "au", "pcm"}

_BOOL_TRUE = {"yes", "true", "y", "t", "1", "on"}
# `6001 => 1234,Name,...` (or `=`): a mailbox line, wherever it is written.
_MAILBOX_LINE = re.compile(r"^[0-9][A-Za-z0-9_.+-]*=>?\s*[^,]*,")
_BOOL_FALSE = {"no", "false", "n", "f", "0", "off"}

# Options accepted in [general] that this PBX does not act on: no warning for them,
# because Asterisk users' files are full of them.
_IGNORED_GENERAL = {
    "skipms", "maxgreet", "sendvoicemail", "review", "operator", "saycid", "envelope",
    "tempgreetwarn", "externnotify", "externpass", "externpassnotify", "externpasscheck",
    "smdienable", "smdiport", "minpassword", "usedirectory", "charset", "adsifdn",
    "adsisec", "adsiver", "userscontext", "cidinternalcontexts",
    "forcename", "forcegreetings", "moveheard", "nextaftercmd", "callback", "dialout",
    "exitcontext", "volgain", "odbcstorage", "odbctable", "pagerfromstring",
    "pagersubject", "pagerbody", "pagerdateformat", "emailtitle", "listen-control-forward-key",
    "listen-control-reverse-key", "listen-control-pause-key", "listen-control-restart-key",
    "listen-control-stop-key", "backupdeleted", "sayduration", "saydurationm", "locale", "tz",
    "attachfmt", "imapserver", "imapport", "imapflags", "imapfolder", "authuser",
    "authpassword", "expungeonhangup", "imapgreetings", "greetingsfolder", "pollmailboxes",
    "pollfreq", "hidefromdir", "messagewrap", "vm-password", "vm-newpassword",
    "vm-passchanged", "vm-reenterpassword", "vm-mismatch", "vm-invalid-password",
    "vm-pls-try-again", "vm-prepend-timeout", "shortinstructions", "allowemptypin",
    "deletevoicemail", "fromstring_pager", "mailcmd_pager", "storesecret", "passwordlocation",
    "format_pager", "minmessage_pager", "silence_threshold", "serveremail_pager", "vmexten",
}

_MAILBOX_OPTIONS = {
    "attach", "delete", "maxmsg", "maxsecs", "maxmessage", "minsecs", "minmessage",
    "saycid", "envelope", "review", "operator", "tz", "locale", "attachfmt", "sayduration",
    "saydurationm", "hidefromdir", "callback", "dialout", "exitcontext", "forcename",
    "forcegreetings", "tempgreetwarn", "nextaftercmd", "sendvoicemail", "moveheard",
    "volgain", "language", "emailsubject", "emailbody", "serveremail", "fromstring",
    "messagewrap", "imapuser", "imappassword", "imapfolder", "imapvmshareid", "maxgreet",
    "alias",  # Directory(...,a): another name to find the mailbox by
}


@dataclass(slots=True)
class VoicemailGeneral:
    """[general]: defaults are Asterisk's."""

    formats: list[str] = field(default_factory=lambda: ["wav"])
    record_format: str = "wav"  # what is actually written
    serveremail: str = "asterisk"
    fromstring: str = ""
    attach: bool = False
    maxsecs: int = 0  # 0: no limit
    minsecs: int = 0
    maxsilence: int = 0  # seconds; 0: off
    silencethreshold: int = 256
    maxmsg: int = 100
    maxlogins: int = 3
    emailsubject: str = ""
    emailbody: str = ""
    emaildateformat: str = DEFAULT_DATE_FORMAT
    delete: bool = False
    mailcmd: str = ""
    pbxskip: bool = False
    aliasescontext: str = ""
    directoryintro: str = ""  # Directory(): a prompt instead of "welcome ... using your keypad"
    searchcontexts: bool = False  # Directory() without a context searches every context


@dataclass(slots=True)
class MailboxConfig:
    """One `mailbox => pin,name,email,pager,options` line, general options folded in."""

    context: str
    mailbox: str
    pin: str
    fullname: str = ""
    email: str = ""
    pager: str = ""
    attach: bool = False
    delete: bool = False
    maxmsg: int = 100
    maxsecs: int = 0
    minsecs: int = 0
    options: dict[str, str] = field(default_factory=dict)
    file: str = ""
    line: int = 0
    pin_col: int = 0  # column of the PIN (security checks point at it)

    @property
    def key(self) -> str:
        """`mailbox@context`, how the rest of the PBX names a mailbox."""
        return f"{self.mailbox}@{self.context}"


@dataclass(slots=True)
class VoicemailConfig:
    """Everything voicemail.conf says."""

    general: VoicemailGeneral = field(default_factory=VoicemailGeneral)
    mailboxes: dict[str, MailboxConfig] = field(default_factory=dict)  # "box@context" -> box
    aliases: dict[str, str] = field(default_factory=dict)  # "alias@ctx" -> "box@context"
    path: str = ""

    def find(self, mailbox: str, context: str | None = None) -> MailboxConfig | None:
        """The mailbox `box`, `box@context` (context `default` when not given),
        or the one an alias of aliasescontext names."""
        box, ctx = split_mailbox(mailbox, context)
        key = f"{box}@{ctx}"
        return self.mailboxes.get(key) or self.mailboxes.get(self.aliases.get(key, ""))


def split_mailbox(spec: str, context: str | None = None) -> tuple[str, str]:
    """`123@ctx` -> ("123", "ctx"); `123` -> ("123", context or "default")."""
    box, _, ctx = spec.strip().partition("@")
    return box.strip(), (ctx.strip() or context or "default")


def _parse_bool(entry: Entry, value: str, diagnostics: list[Diagnostic],
                col: int | None = None, name: str | None = None) -> bool | None:
    v = value.strip().lower()
    if v in _BOOL_TRUE:
        return True
    if v in _BOOL_FALSE:
        return False
    diagnostics.append(Diagnostic(entry.file, entry.line, col or entry.value_col,
                                  f"{name or entry.key}: expected yes or no, got {value!r}"))
    return None


def _parse_int(entry: Entry, name: str, value: str, diagnostics: list[Diagnostic],
               col: int | None = None) -> int | None:
    v = value.strip()
    if re.fullmatch(r"\d+", v):
        return int(v)
    diagnostics.append(Diagnostic(entry.file, entry.line, col or entry.value_col,
                                  f"{name}: expected a whole number >= 0, got {value!r}"))
    return None


def _unescape(text: str) -> str:
    r"""Asterisk's template escapes: `\n`, `\t`, `\r` and `\\`."""
    out: list[str] = []
    i = 0
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            nxt = text[i + 1]
            out.append({"n": "\n", "t": "\t", "r": "\r", "\\": "\\"}.get(nxt, "\\" + nxt))
            i += 2
            continue
        out.append(ch)
        i += 1
    return "".join(out)


def _load_formats(entry: Entry, general: VoicemailGeneral,
                  diagnostics: list[Diagnostic]) -> None:
    formats: list[str] = []
    unsupported: list[tuple[str, int]] = []
    offset = 0
    for raw in entry.value.split("|"):
        name = raw.strip().lower()
        col = entry.value_col + offset + (len(raw) - len(raw.lstrip()))
        offset += len(raw) + 1
        if not name:
            continue
        if name not in KNOWN_FORMATS:
            diagnostics.append(Diagnostic(entry.file, entry.line, col,
                                          f"format={name} is not a known audio format"))
            continue
        if name not in SUPPORTED_FORMATS:
            unsupported.append((name, col))
        formats.append(name)
    if not SUPPORTED_FORMATS.intersection(formats):
        # Never silently: the operator asked for something else than what is written.
        # With wav in the list (Asterisk's usual wav49|gsm|wav) the messages are in
        # a format they asked for; the others are extra copies Asterisk would keep.
        for name, col in unsupported:
            diagnostics.append(Diagnostic(
                entry.file, entry.line, col,
                f"format={name} is not supported: messages are recorded as WAV", "warning"))
    general.formats = formats or ["wav"]
    general.record_format = "wav"


def _load_general(entries: list[Entry], general: VoicemailGeneral,
                  diagnostics: list[Diagnostic]) -> None:
    for entry in entries:
        key, value = entry.key, entry.value
        if key == "format":
            _load_formats(entry, general, diagnostics)
        elif key in ("serveremail", "fromstring", "mailcmd", "emaildateformat",
                     "aliasescontext", "directoryintro"):
            setattr(general, key, value)
        elif key in ("emailsubject", "emailbody"):
            setattr(general, key, _unescape(value))
        elif key in ("attach", "delete", "pbxskip", "searchcontexts"):
            b = _parse_bool(entry, value, diagnostics)
            if b is not None:
                setattr(general, key, b)
        elif key in ("maxsecs", "maxmessage", "minsecs", "minmessage", "maxsilence",
                     "silencethreshold", "maxmsg", "maxlogins"):
            n = _parse_int(entry, key, value, diagnostics)
            if n is None:
                continue
            attr = {"maxmessage": "maxsecs", "minmessage": "minsecs"}.get(key, key)
            if attr == "maxlogins" and n < 1:
                diagnostics.append(entry.diag("maxlogins must be at least 1"))
                continue
            setattr(general, attr, n)
        elif entry.arrow or _MAILBOX_LINE.match(f"{key}=>{value}"):
            # A mailbox written in [general] (or before any context): Asterisk
            # ignores it and the box silently does not exist. An error here.
            diagnostics.append(entry.diag(f"mailbox {key} is not in a context: put mailbox "
                                          "lines under a context such as [default]",
                                          on_value=False))
        elif key not in _IGNORED_GENERAL:
            diagnostics.append(entry.diag(f"unknown voicemail.conf option '{key}' (ignored)",
                                          on_value=False, severity="warning"))
    if general.maxsecs and general.minsecs > general.maxsecs:
        e = next((x for x in reversed(entries) if x.key in ("minsecs", "minmessage")), None)
        if e is not None:
            diagnostics.append(e.diag(f"minsecs ({general.minsecs}) is greater than "
                                      f"maxsecs ({general.maxsecs})"))


_ALIAS_TARGET = re.compile(r"[A-Za-z0-9_.+-]+@[A-Za-z0-9_.+-]+")


def _load_alias(entry: Entry, diagnostics: list[Diagnostic]) -> tuple[str, str] | None:
    """`alias@ctx => box@ctx` of the aliases context."""
    alias, target = entry.key, entry.value.strip()
    if "@" not in alias:
        alias += "@default"
    if not _ALIAS_TARGET.fullmatch(target):
        diagnostics.append(entry.diag(f"alias {alias}: expected 'mailbox@context', "
                                      f"got {target!r}"))
        return None
    return alias, target


def _load_mailbox(entry: Entry, context: str, general: VoicemailGeneral,
                  diagnostics: list[Diagnostic]) -> MailboxConfig | None:
    box = entry.key
    if "@" in box and _ALIAS_TARGET.fullmatch(entry.value.strip()):
        where = (f"[general] aliasescontext={general.aliasescontext} names another section"
                 if general.aliasescontext else "aliasescontext= is not set in [general]")
        diagnostics.append(Diagnostic(
            entry.file, entry.line, entry.col,
            f"'{box} => {entry.value.strip()}' is an alias line, but {where}: "
            f"the line is ignored (set aliasescontext={context} to use it)", loadable=True))
        return None
    if not re.fullmatch(r"[A-Za-z0-9_.+-]+", box):
        diagnostics.append(entry.diag(f"mailbox name {box!r} may only hold letters, digits "
                                      "and _ . + -", on_value=False))
        return None
    if not entry.value:
        diagnostics.append(entry.diag(f"mailbox {box}: expected 'pin,Full Name,email"
                                      "[,pager[,options]]'"))
        return None
    # Split on the first four commas only: the options field is `|`-separated.
    parts = entry.value.split(",", 4)
    cols: list[int] = []
    pos = entry.value_col
    for p in parts:
        cols.append(pos + (len(p) - len(p.lstrip())))
        pos += len(p) + 1
    fields = [p.strip() for p in parts] + [""] * (5 - len(parts))
    pin, name, email, pager, options = fields
    if not pin:
        diagnostics.append(Diagnostic(entry.file, entry.line, cols[0],
                                      f"mailbox {box}: the PIN is empty"))
        return None
    if email and not re.fullmatch(r"[^@\s,]+@[^@\s,]+", email):
        diagnostics.append(Diagnostic(entry.file, entry.line, cols[2],
                                      f"mailbox {box}: {email!r} is not an email address"))
        return None
    mb = MailboxConfig(context=context, mailbox=box, pin=pin, fullname=name, email=email,
                       pager=pager, attach=general.attach, delete=general.delete,
                       maxmsg=general.maxmsg, maxsecs=general.maxsecs, minsecs=general.minsecs,
                       file=entry.file, line=entry.line, pin_col=cols[0])
    if options:
        offset = cols[4]
        for raw in options.split("|"):
            col = offset + (len(raw) - len(raw.lstrip()))
            offset += len(raw) + 1
            item = raw.strip()
            if not item:
                continue
            k, eq, v = item.partition("=")
            k, v = k.strip().lower(), v.strip()
            if not eq or not k:
                diagnostics.append(Diagnostic(entry.file, entry.line, col,
                                              f"mailbox {box}: option {item!r} is not key=value"))
                continue
            if k not in _MAILBOX_OPTIONS:
                diagnostics.append(Diagnostic(entry.file, entry.line, col,
                                              f"mailbox {box}: unknown option '{k}' (ignored)",
                                              "warning"))
            mb.options[k] = v
            if k in ("attach", "delete"):
                b = _parse_bool(entry, v, diagnostics, col, k)
                if b is not None:
                    setattr(mb, k, b)
            elif k in ("maxmsg", "maxsecs", "maxmessage", "minsecs", "minmessage"):
                n = _parse_int(entry, k, v, diagnostics, col)
                if n is not None:
                    setattr(mb, {"maxmessage": "maxsecs", "minmessage": "minsecs"}.get(k, k), n)
    return mb


def load_voicemail_conf(path: Path, diagnostics: list[Diagnostic]) -> VoicemailConfig:
    """Read voicemail.conf; errors and warnings go to `diagnostics` with file:line:col."""
    config = VoicemailConfig(path=str(path))
    conf = read_conf(path, diagnostics)
    general = conf.section("general")
    if general is not None:
        _load_general(general.entries, config.general, diagnostics)
    aliases = config.general.aliasescontext
    for section in conf.sections:
        if section.name in ("general", "zonemessages") or section.is_template:
            continue
        if aliases and section.name == aliases:
            for entry in section.entries:
                pair = _load_alias(entry, diagnostics)
                if pair is not None:
                    config.aliases[pair[0]] = pair[1]
            continue
        for entry in section.entries:
            mb = _load_mailbox(entry, section.name, config.general, diagnostics)
            if mb is None:
                continue
            first = config.mailboxes.get(mb.key)
            if first is not None:
                diagnostics.append(entry.diag(f"mailbox {mb.key} defined twice (first at "
                                              f"{first.file}:{first.line})", on_value=False))
                continue
            config.mailboxes[mb.key] = mb
    for alias, target in config.aliases.items():
        if target not in config.mailboxes:
            section = conf.section(aliases)
            entry = next((e for e in section.entries if e.value.strip() == target), None) \
                if section is not None else None
            if entry is not None:
                diagnostics.append(Diagnostic(entry.file, entry.line, entry.value_col,
                                              f"alias {alias} names mailbox {target}, which "
                                              "voicemail.conf does not define", loadable=True))
    return config


def with_pin(mailbox: MailboxConfig, pin: str) -> MailboxConfig:
    """A copy of `mailbox` with another PIN (a PIN changed by the user)."""
    return replace(mailbox, pin=pin, options=dict(mailbox.options))


def check_references(config: VoicemailConfig | None, dialplan: object, peers: dict) -> \
        list[Diagnostic]:
    """Mailboxes named by the dialplan (VoiceMail, VoiceMailMain) and by sip.conf
    `mailbox=` that voicemail.conf does not define: warnings, and an error when
    voicemail.conf defines no mailbox at all (every message would be refused)."""
    out: list[Diagnostic] = []
    mailboxes = config.mailboxes if config is not None else {}
    where = f" ({config.path})" if config is not None and config.path else ""
    for context in getattr(dialplan, "contexts", {}).values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                if step.app.lower() not in ("voicemail", "voicemailmain"):
                    continue
                spec = re.split(r"(?<!\\),", step.args)[0].strip()
                pos = step.app_pos
                if not mailboxes and step.app.lower() == "voicemail":
                    out.append(Diagnostic(pos.file, pos.line, pos.col,
                                          f"{step.app}({spec}): voicemail.conf{where} defines "
                                          "no mailbox (mailbox lines go under a context such "
                                          "as [default])"))
                    continue
                for part in spec.split("&"):
                    box = part.strip()
                    if not box or "${" in box or "$[" in box:
                        continue
                    name, ctx = split_mailbox(box)
                    if f"{name}@{ctx}" not in mailboxes:
                        then = (f": the caller is asked for a mailbox of [{ctx}]"
                                if step.app.lower() == "voicemailmain" else "")
                        out.append(Diagnostic(pos.file, pos.line, pos.col,
                                              f"{step.app}: mailbox {name}@{ctx} is not in "
                                              f"voicemail.conf{where}{then}", "warning"))
    for peer in peers.values():
        if peer.mailbox and mailboxes:
            for part in peer.mailbox.split("&"):
                name, ctx = split_mailbox(part)
                if f"{name}@{ctx}" not in mailboxes:
                    out.append(Diagnostic(peer.file, peer.line, 1,
                                          f"[{peer.name}] mailbox={part.strip()} is not in "
                                          f"voicemail.conf{where}", "warning"))
    return out
