"""voicemail.conf as Asterisk's app_voicemail reads it.

``[general]`` holds the options; ``[zonemessages]`` is accepted and ignored;
every other section is a voicemail context whose lines are
``mailbox => pin,Full Name,email[,pager[,options]]`` (options are
``key=value`` pairs separated by ``|``). Problems are reported as
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
_BOOL_FALSE = {"no", "false", "n", "f", "0", "off"}

# Options accepted in [general] that this PBX does not act on: no warning for them,
# because Asterisk users' files are full of them.
_IGNORED_GENERAL = {
    "skipms", "maxgreet", "sendvoicemail", "review", "operator", "saycid", "envelope",
    "tempgreetwarn", "externnotify", "externpass", "externpassnotify", "externpasscheck",
    "smdienable", "smdiport", "minpassword", "usedirectory", "charset", "adsifdn",
    "adsisec", "adsiver", "searchcontexts", "userscontext", "cidinternalcontexts",
    "forcename", "forcegreetings", "moveheard", "nextaftercmd", "callback", "dialout",
    "exitcontext", "directoryintro", "volgain", "odbcstorage", "odbctable", "pagerfromstring",
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
    path: str = ""

    def find(self, mailbox: str, context: str | None = None) -> MailboxConfig | None:
        """The mailbox `box`, `box@context` (context `default` when not given)."""
        box, ctx = split_mailbox(mailbox, context)
        return self.mailboxes.get(f"{box}@{ctx}")


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
            # Never silently: the operator asked for something else than what is written.
            diagnostics.append(Diagnostic(
                entry.file, entry.line, col,
                f"format={name} is not supported: messages are recorded as WAV", "warning"))
        formats.append(name)
    general.formats = formats or ["wav"]
    general.record_format = "wav"


def _load_general(entries: list[Entry], general: VoicemailGeneral,
                  diagnostics: list[Diagnostic]) -> None:
    for entry in entries:
        key, value = entry.key, entry.value
        if key == "format":
            _load_formats(entry, general, diagnostics)
        elif key in ("serveremail", "fromstring", "mailcmd", "emaildateformat"):
            setattr(general, key, value)
        elif key in ("emailsubject", "emailbody"):
            setattr(general, key, _unescape(value))
        elif key in ("attach", "delete", "pbxskip"):
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
        elif key not in _IGNORED_GENERAL:
            diagnostics.append(entry.diag(f"unknown voicemail.conf option '{key}' (ignored)",
                                          on_value=False, severity="warning"))
    if general.maxsecs and general.minsecs > general.maxsecs:
        e = next((x for x in reversed(entries) if x.key in ("minsecs", "minmessage")), None)
        if e is not None:
            diagnostics.append(e.diag(f"minsecs ({general.minsecs}) is greater than "
                                      f"maxsecs ({general.maxsecs})"))


def _load_mailbox(entry: Entry, context: str, general: VoicemailGeneral,
                  diagnostics: list[Diagnostic]) -> MailboxConfig | None:
    box = entry.key
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
    for section in conf.sections:
        if section.name in ("general", "zonemessages") or section.is_template:
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
    return config


def with_pin(mailbox: MailboxConfig, pin: str) -> MailboxConfig:
    """A copy of `mailbox` with another PIN (a PIN changed by the user)."""
    return replace(mailbox, pin=pin, options=dict(mailbox.options))
