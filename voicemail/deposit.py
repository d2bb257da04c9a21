"""VoiceMail(): a caller leaves a message (Asterisk's leave_voicemail).

Greeting: the temporary greeting if recorded, else with `u`/`b` the
unavailable/busy greeting, or one built from prompts ("the person at
extension 1 2 3 is unavailable", the recorded name replacing the digits);
then `vm-intro` (skipped with `s`), a beep, and the recording, which ends
with `#`, hangup, maxsilence or maxsecs. During the greeting `#` skips to
the beep, `0` goes to the `o` extension and `*` to `a` (VMSTATUS=USEREXIT).
A recording shorter than minsecs is discarded (VMSTATUS=FAILED).
"""

from __future__ import annotations

import contextlib
import logging
import re
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from pbx import say
from pbx.channel import Channel, ChannelState, Hangup
from voicemail import safety
from voicemail.config import MailboxConfig, split_mailbox
from voicemail.mailbox import Message, Statement, callerid_string
from voicemail.notify import build_email, enqueue_statement
from voicemail.safety import PendingMessage, write_pending
from voicemail.service import VoicemailService

log = logging.getLogger("voicemail.deposit")

# Told to a caller whose message cannot be stored (Asterisk's core prompts).
STORAGE_FAILED_PROMPTS = ["an-error-has-occurred", "vm-goodbye"]


@dataclass(slots=True)
class DepositResult:
    status: str  # VMSTATUS: SUCCESS, USEREXIT, FAILED
    jump: str | None = None  # "o" or "a": the extension to continue at
    messages: list[Message] = field(default_factory=list)
    reason: str = ""


def parse_options(text: str) -> dict[str, str]:
    """`su`, `g(3)`, `d(ctx)` -> {"s": "", "u": "", "g": "3", ...}."""
    out: dict[str, str] = {}
    for m in re.finditer(r"([A-Za-z])(?:\(([^)]*)\))?", text or ""):
        out[m.group(1)] = m.group(2) or ""
    return out


def _play_path(path: Path) -> str:
    # Prompt names for recorded files are absolute paths without the extension.
    return str(path.with_suffix(""))


def greeting_prompts(service: VoicemailService, mb: MailboxConfig, busy: bool,
                     unavail: bool) -> list[str]:
    """What the caller hears before the beep (Asterisk's order of precedence)."""
    boxes = service.mailboxes
    temp = boxes.greeting(mb.context, mb.mailbox, "temp")
    if temp is not None:
        return [_play_path(temp)]
    if not busy and not unavail:
        return []
    recorded = boxes.greeting(mb.context, mb.mailbox, "busy" if busy else "unavail")
    if recorded is not None:
        return [_play_path(recorded)]
    name = boxes.greeting(mb.context, mb.mailbox, "greet")
    prompts = [_play_path(name)] if name is not None else \
        ["vm-theperson", *say.digits(mb.mailbox)]
    prompts.append("vm-isonphone" if busy else "vm-isunavail")
    return prompts


async def leave_voicemail(service: VoicemailService, ch: Channel, spec: str, options: str = "",
                          has_exten: Callable[[str], bool] = lambda _e: False,
                          ) -> DepositResult:
    """Run VoiceMail(spec,options) on `ch`; sets VMSTATUS and returns what happened.

    `spec` is `mailbox[@context][&mailbox2[@context]...]`; `has_exten(e)` says
    whether extension `e` ("o", "a") exists in the caller's context."""
    opts = parse_options(options)
    targets: list[MailboxConfig] = []
    for part in spec.split("&"):
        if not part.strip():
            continue
        box, ctx = split_mailbox(part)
        mb = service.find(box, ctx)
        if mb is None:
            log.warning("VoiceMail: no mailbox %s@%s in voicemail.conf", box, ctx)
            continue
        targets.append(mb)
    if not targets:
        return _status(ch, DepositResult("FAILED", reason=f"no such mailbox {spec!r}"))
    first = targets[0]
    general = service.config.general
    try:
        if ch.state is not ChannelState.UP:
            await ch.answer()
        new, _old = await service.mailboxes.counts(first.context, first.mailbox)
        if first.maxmsg and new >= first.maxmsg:
            log.warning("VoiceMail: mailbox %s is full (%d messages)", first.key, new)
            await ch.play(["vm-mailboxfull"])
            return _status(ch, DepositResult("FAILED", reason="mailbox full"))
        if not await check_storage(service, ch, first):
            return _status(ch, DepositResult("FAILED", reason="voicemail storage unavailable"))
        ecodes = "#" + ("0" if has_exten("o") else "") + ("*" if has_exten("a") else "")
        prompts = greeting_prompts(service, first, busy="b" in opts, unavail="u" in opts)
        digit = await ch.play(prompts, interrupt=ecodes) if prompts else ""
        if not digit and "s" not in opts:
            digit = await ch.play(["vm-intro"], interrupt=ecodes)
        if digit in ("0", "*"):
            ext = "o" if digit == "0" else "a"
            return _status(ch, DepositResult("USEREXIT", jump=ext,
                                             reason=f"caller pressed {digit}"))
        await ch.play(["beep"])
    except Hangup:
        ch.variables["VMSTATUS"] = "FAILED"
        raise
    tmp = service.mailboxes.tmp_path(first.context, first.mailbox)
    pending = PendingMessage(
        mailboxes=[(mb.context, mb.mailbox) for mb in targets], origtime=time.time(),
        callerid=callerid_string(ch.callerid.name, ch.callerid.num), cidnum=ch.callerid.num,
        cidname=ch.callerid.name, exten=ch.exten, priority=ch.priority, channel=ch.name,
        uniqueid=ch.uniqueid, flag="Urgent" if "U" in opts else "", recording=str(tmp))
    stop_digits = "#" + ("0" if has_exten("o") else "")
    try:
        write_pending(pending)
    except OSError as exc:
        log.error("VoiceMail: message for %s not stored: %s", first.key, exc)
        await tell_failure(ch)
        return _status(ch, DepositResult("FAILED", reason=f"storage: {exc}"))
    try:
        rec = await ch.record(str(tmp), max_seconds=first.maxsecs,
                              silence_seconds=general.maxsilence,
                              silence_threshold=general.silencethreshold,
                              stop_digits=stop_digits)
    except OSError as exc:  # StorageError: the disk filled up while the caller spoke
        log.error("VoiceMail: message for %s not stored: %s", first.key, exc)
        await tell_failure(ch)
        # What reached the disk before the failure is filed now if it can be, else
        # at the next start (the sidecar stays until it is).
        await service.recover_one(safety.sidecar_path(tmp))
        return _status(ch, DepositResult("FAILED", reason=f"storage: {exc}"))
    # Channel.record already cut the trailing silence that ended the recording
    # (keeping 0.2 s, as Asterisk's play_and_record does): subtracting maxsilence
    # again discarded every short message left by a real caller.
    seconds = rec.seconds
    path = Path(rec.path)
    if not path.is_file() or seconds <= 0 or seconds < first.minsecs:
        with contextlib.suppress(OSError):
            path.unlink()
        safety.done(tmp)
        log.info("VoiceMail: recording for %s was %.1f s, needs %d s: discarded", first.key,
                 seconds, first.minsecs)
        return _status(ch, DepositResult("FAILED", reason="message too short"))
    try:
        result = DepositResult("SUCCESS", messages=await file_message(service, targets, path,
                                                                      seconds, pending))
    except (OSError, sqlite3.Error) as exc:
        log.error("VoiceMail: message for %s not stored (kept in %s for the next start): %s",
                  first.key, path, exc)
        await tell_failure(ch)
        return _status(ch, DepositResult("FAILED", reason=f"storage: {exc}"))
    safety.done(tmp)
    if rec.stopped_by == "dtmf:0":
        result.status, result.jump = "USEREXIT", "o"
    return _status(ch, result)


async def file_message(service: VoicemailService, targets: list[MailboxConfig], path: Path,
                       seconds: float, info: PendingMessage) -> list[Message]:
    """Put a finished recording into every target's INBOX (mail queued, MWI told)."""
    saved_all: list[Message] = []
    duration = max(1, round(seconds))
    for i, mb in enumerate(targets):
        msg = Message(context=mb.context, mailbox=mb.mailbox, folder="INBOX", msgnum=0,
                      origtime=info.origtime, duration=duration, callerid=info.callerid,
                      cidnum=info.cidnum, cidname=info.cidname,
                      origmailbox=targets[0].mailbox, exten=info.exten, priority=info.priority,
                      channel=info.channel, uniqueid=info.uniqueid, flag=info.flag)
        last = i == len(targets) - 1
        saved = await service.mailboxes.deposit(msg, path, keep_source=not last,
                                                extra=_mail_for(service, mb))
        saved_all.append(saved)
        log.info("VoiceMail: message %d (%d s) from %s left in %s", saved.msgnum + 1,
                 duration, msg.callerid, mb.key)
    service.outbox.kick()
    for mb in targets:
        await service.changed(mb.context, mb.mailbox)
    return saved_all


async def check_storage(service: VoicemailService, ch: Channel, mb: MailboxConfig) -> bool:
    """The spool can take a message: else say so to the caller and the log, once."""
    problem = safety.check_spool(service.mailboxes.dir(mb.context, mb.mailbox) / "tmp",
                                 mb.maxsecs)
    if problem is None:
        return True
    log.error("VoiceMail: cannot take a message for %s: %s", mb.key, problem)
    await tell_failure(ch)
    return False


async def tell_failure(ch: Channel) -> None:
    """"An error has occurred. Goodbye." while the caller is still there."""
    if ch.state is ChannelState.HUNGUP:
        return
    with contextlib.suppress(Hangup):
        await ch.play(STORAGE_FAILED_PROMPTS)


def _mail_for(service: VoicemailService, mb: MailboxConfig
              ) -> Callable[[Message], list[Statement]]:
    def extra(msg: Message) -> list[Statement]:
        if not mb.email:
            return []
        wav = service.mailboxes.wav_path(msg)
        em = build_email(service.config.general, mb, msg, wav, hostname=service.hostname)
        return [enqueue_statement(em, msg, delete_after=mb.delete)]
    return extra


def _status(ch: Channel, result: DepositResult) -> DepositResult:
    ch.variables["VMSTATUS"] = result.status
    return result
