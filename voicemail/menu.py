"""VoiceMailMain(): a user listens to and manages their mailbox (Asterisk's vm_execmain).

Login: mailbox (unless given) and PIN by DTMF ending with `#`, `maxlogins`
tries, then "goodbye". Then "You have N new and M old messages" and the
menu:

- main: 1 play the folder's messages (INBOX if there are new ones, else Old),
  2 change folder (0 INBOX, 1 Old, 2 Work, 3 Family, 4 Friends),
  0 mailbox options, * help, # exit;
- during and after a message: 4 previous, 5 repeat, 6 next, 7 delete/undelete,
  9 save (to the folder picked: 0-4; Old when none is pressed), 3 envelope
  (date and caller);
- mailbox options: 1 unavailable greeting, 2 busy greeting, 3 name,
  4 temporary greeting (or remove it), 5 change PIN (entered twice), * back.

As in Asterisk, changes are applied when the mailbox is closed (on exit, on
hangup, or on changing folder): heard new messages move to Old, deleted ones
are removed and the rest renumbered, saved ones move to their folder.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pbx import say
from pbx.channel import Channel, ChannelState
from voicemail.config import MailboxConfig, split_mailbox
from voicemail.deposit import parse_options
from voicemail.mailbox import Message
from voicemail.service import VoicemailService

log = logging.getLogger("voicemail.menu")

DTMF = "0123456789*#"
# How Asterisk's app_voicemail says when a message came (English).
ENVELOPE_DATE = "'vm-received' q 'digits/at' IMp"
FOLDER_KEYS = {"0": "INBOX", "1": "Old", "2": "Work", "3": "Family", "4": "Friends"}


@dataclass
class MenuResult:
    logged_in: bool
    mailbox: MailboxConfig | None = None
    reason: str = ""


@dataclass
class _Folder:
    name: str
    messages: list[Message] = field(default_factory=list)
    heard: set[int] = field(default_factory=set)  # message ids
    deleted: set[int] = field(default_factory=set)
    save_to: dict[int, str] = field(default_factory=dict)


class VoicemailMenu:
    """One VoiceMailMain session on one channel."""

    # Asterisk's waits: 10 s for the first digit, a few for the next, 6 s at menus.
    response_timeout = 10.0
    digit_timeout = 5.0
    menu_timeout = 6.0
    menu_repeats = 3
    max_greeting_seconds = 60

    def __init__(self, service: VoicemailService, ch: Channel) -> None:
        self.service = service
        self.ch = ch
        self.mb: MailboxConfig | None = None
        self.folder = _Folder("INBOX")
        self.cur = 0

    # --- input -------------------------------------------------------------
    async def read_digits(self, prompts: list[str], max_len: int = 80) -> str:
        """Play prompts (a digit interrupts) and collect digits until `#` or a pause."""
        got = ""
        d = await self.ch.play(prompts, interrupt=DTMF) if prompts else ""
        while len(got) < max_len:
            if not d:
                d = await self.ch.wait_digit(self.digit_timeout if got
                                             else self.response_timeout) or ""
                if not d:
                    break
            if d == "#":
                break
            got += d
            d = ""
        return got

    async def _ask(self, prompts: list[str]) -> str:
        """Play a menu and wait for one key, repeating it a few times; "" on silence."""
        for _ in range(self.menu_repeats):
            d = await self.ch.play(prompts, interrupt=DTMF)
            if not d:
                d = await self.ch.wait_digit(self.menu_timeout) or ""
            if d:
                return d
        return ""

    # --- login ---------------------------------------------------------------
    async def login(self, spec: str, skip_pin: bool) -> MailboxConfig | None:
        """Ask for mailbox and PIN; None after maxlogins failures."""
        given_box, context = split_mailbox(spec) if spec.strip() else ("", None)
        if given_box and self.service.find(given_box, context) is None:
            # As vm_execmain: a mailbox that does not exist is asked for instead.
            log.warning("VoiceMailMain: mailbox %s@%s does not exist; asking the caller",
                        given_box, context)
            given_box = ""
        tries = self.service.config.general.maxlogins
        for attempt in range(tries):
            box = given_box
            if not box:
                box = await self.read_digits(["vm-login" if attempt == 0
                                              else "vm-incorrect-mailbox"])
            found = self.service.find(box, context) if box else None
            mb = await self.service.effective(found) if found is not None else None
            if mb is not None and skip_pin and given_box:
                return mb
            pin = await self.read_digits(["vm-password"])
            if mb is not None and pin == mb.pin:
                return mb
            log.info("VoiceMailMain: login failed for mailbox %r on %s", box, self.ch.name)
            if given_box or attempt == tries - 1:
                await self.ch.play(["vm-incorrect"])
        await self.ch.play(["vm-goodbye"])
        return None

    # --- announcements ------------------------------------------------------
    async def intro(self) -> str:
        """"You have N new and M old messages" (Asterisk's vm_intro_en)."""
        assert self.mb is not None
        new, old = await self.service.mailboxes.counts(self.mb.context, self.mb.mailbox)
        p = ["vm-youhave"]
        if new:
            p += [*say.number(new), "vm-INBOX"]
            p += ["vm-and"] if old else ["vm-message" if new == 1 else "vm-messages"]
        if old:
            p += [*say.number(old), "vm-Old", "vm-message" if old == 1 else "vm-messages"]
        if not new and not old:
            p += ["vm-no", "vm-messages"]
        return await self.ch.play(p, interrupt=DTMF)

    def instructions(self, starting: bool) -> list[str]:
        """The menu prompts (Asterisk's vm_instructions_en)."""
        msgs = self.folder.messages
        p: list[str] = []
        if starting:
            if msgs:
                p += ["vm-onefor", f"vm-{self.folder.name}", "vm-messages"]
            p.append("vm-opts")
        else:
            if self.cur > 0:
                p.append("vm-prev")
            p += ["vm-advopts", "vm-repeat"]
            if self.cur < len(msgs) - 1:
                p.append("vm-next")
            p += ["vm-delete", "vm-savemessage"]
        p.append("vm-helpexit")
        return p

    async def message_prompts(self, i: int) -> list[str]:
        """"First message ..." + the recording."""
        msgs = self.folder.messages
        msg = msgs[i]
        p: list[str] = []
        if i == 0:
            p += ["vm-first", "vm-message"]
        elif i == len(msgs) - 1:
            p += ["vm-last", "vm-message"]
        else:
            p += ["vm-message", *say.number(i + 1)]
        p.append(str(self.service.mailboxes.wav_path(msg).with_suffix("")))
        return p

    def envelope_prompts(self, msg: Message) -> list[str]:
        """Date and caller: "received today at 3 15 p-m, from phone number 6 0 0 1"
        (Asterisk's play_message_datetime and play_message_callerid, English)."""
        p = say.date_with_format(msg.origtime, ENVELOPE_DATE, now=time.time())
        if msg.cidnum:
            p += ["vm-from-phonenumber", *say.digits(msg.cidnum)]
        else:
            p.append("vm-unknown-caller")
        return p

    # --- folders ---------------------------------------------------------------
    async def open_folder(self, name: str) -> None:
        """Close the current folder (applying changes) and open another."""
        await self.close_folder()
        assert self.mb is not None
        msgs = await self.service.mailboxes.messages(self.mb.context, self.mb.mailbox, name)
        self.folder = _Folder(name, msgs)
        self.cur = 0

    async def close_folder(self) -> None:
        """Apply the session's changes: deletes, saves, heard INBOX -> Old."""
        f, boxes = self.folder, self.service.mailboxes
        if not (f.deleted or f.save_to or (f.heard and f.name == "INBOX")):
            return
        for msg in f.messages:
            assert msg.id is not None
            if msg.id in f.deleted:
                await boxes.delete(msg)
            elif msg.id in f.save_to:
                await boxes.move(msg, f.save_to[msg.id])
            elif msg.id in f.heard and f.name == "INBOX":
                await boxes.move(msg, "Old")
        f.deleted.clear()
        f.save_to.clear()
        f.heard.clear()
        assert self.mb is not None
        await self.service.changed(self.mb.context, self.mb.mailbox)

    async def play_current(self) -> str:
        """Play the current message; it counts as heard once started."""
        msg = self.folder.messages[self.cur]
        assert msg.id is not None
        self.folder.heard.add(msg.id)
        return await self.ch.play(await self.message_prompts(self.cur), interrupt=DTMF)

    # --- the session -----------------------------------------------------------
    async def run(self, spec: str, options: str) -> MenuResult:
        """Log in, then the menus until `#`, silence or hangup."""
        opts = parse_options(options)
        if self.ch.state is not ChannelState.UP:
            await self.ch.answer()
        mb = await self.login(spec, skip_pin="s" in opts)
        if mb is None:
            return MenuResult(False, reason="login failed")
        self.mb = mb
        boxes = self.service.mailboxes
        new, _ = await boxes.counts(mb.context, mb.mailbox)
        try:
            await self.open_folder("INBOX" if new else "Old")
            await self.menu_loop(await self.intro())
        finally:
            # Also on hangup: what was heard and deleted must stick.
            await self.close_folder()
        return MenuResult(True, mb)

    async def menu_loop(self, cmd: str) -> None:
        """Asterisk's main loop: `cmd` is the next key (from a prompt it interrupted)."""
        starting = True
        while True:
            if not cmd:
                cmd = await self._ask(self.instructions(starting))
                if not cmd:
                    cmd = "t"  # nobody there: say goodbye
            msgs = self.folder.messages
            key, cmd = cmd, ""
            if key in ("#", "t"):
                await self.ch.play(["vm-goodbye"])
                return
            if key == "*":
                cmd = await self.ch.play(["vm-instructions", *self.instructions(starting)],
                                         interrupt=DTMF)
            elif key == "0":
                await self.options_menu()
            elif key == "2":
                d = await self._ask(["vm-changeto"])
                if d in FOLDER_KEYS:
                    await self.open_folder(FOLDER_KEYS[d])
                    starting = True
                    cmd = await self.ch.play([f"vm-{self.folder.name}", "vm-messages"],
                                             interrupt=DTMF)
            elif key == "1":
                if msgs:
                    self.cur, starting = 0, False
                    cmd = await self.play_current()
                else:
                    cmd = await self.ch.play(["vm-no", "vm-messages"], interrupt=DTMF)
            elif not msgs or starting:
                continue  # message commands need a message
            elif key == "4":
                if self.cur > 0:
                    self.cur -= 1
                    cmd = await self.play_current()
                else:
                    cmd = await self.ch.play(["vm-nomore"], interrupt=DTMF)
            elif key == "5":
                cmd = await self.play_current()
            elif key == "6":
                if self.cur < len(msgs) - 1:
                    self.cur += 1
                    cmd = await self.play_current()
                else:
                    cmd = await self.ch.play(["vm-nomore"], interrupt=DTMF)
            elif key == "7":
                cmd = await self.toggle_delete()
            elif key == "9":
                cmd = await self.save()
            elif key == "3":
                cmd = await self.ch.play(self.envelope_prompts(msgs[self.cur]),
                                         interrupt=DTMF)

    async def toggle_delete(self) -> str:
        """7: mark the current message deleted (or undelete it)."""
        msg = self.folder.messages[self.cur]
        assert msg.id is not None
        if msg.id in self.folder.deleted:
            self.folder.deleted.discard(msg.id)
            return await self.ch.play(["vm-message", *say.number(self.cur + 1),
                                       "vm-undeleted"], interrupt=DTMF)
        self.folder.deleted.add(msg.id)
        self.folder.save_to.pop(msg.id, None)
        return await self.ch.play(["vm-message", *say.number(self.cur + 1), "vm-deleted"],
                                  interrupt=DTMF)

    async def save(self) -> str:
        """9: save the current message to a folder (Old when no folder key is pressed)."""
        msg = self.folder.messages[self.cur]
        assert msg.id is not None
        d = await self.ch.play(["vm-savefolder"], interrupt=DTMF)
        if not d:
            d = await self.ch.wait_digit(self.menu_timeout) or ""
        if d == "*":
            return ""  # cancelled
        target = FOLDER_KEYS.get(d, "Old")
        self.folder.deleted.discard(msg.id)
        if target != self.folder.name:
            self.folder.save_to[msg.id] = target
        return await self.ch.play(["vm-message", *say.number(self.cur + 1), "vm-savedto",
                                   f"vm-{target}"], interrupt=DTMF)

    # --- mailbox options --------------------------------------------------------
    async def options_menu(self) -> None:
        """0: greetings, name, PIN; `*` or `#` returns to the main menu."""
        assert self.mb is not None
        while True:
            has_temp = self.service.mailboxes.greeting(self.mb.context, self.mb.mailbox,
                                                       "temp") is not None
            d = await self._ask((["vm-tmpexists"] if has_temp else []) + ["vm-options"])
            if d in ("", "*", "#"):
                return
            if d == "1":
                await self.record_greeting("unavail", "vm-rec-unv")
            elif d == "2":
                await self.record_greeting("busy", "vm-rec-busy")
            elif d == "3":
                await self.record_greeting("greet", "vm-rec-name")
            elif d == "4":
                await self.temp_greeting(has_temp)
            elif d == "5":
                await self.change_pin()

    async def temp_greeting(self, exists: bool) -> None:
        """4: record the temporary greeting, or (2) remove the existing one."""
        assert self.mb is not None
        if exists:
            d = await self._ask(["vm-tempgreeting2"])
            if d == "2":
                path = self.service.mailboxes.greeting_path(self.mb.context, self.mb.mailbox,
                                                            "temp")
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                await self.ch.play(["vm-tempremoved"])
                return
            if d != "1":
                return
        await self.record_greeting("temp", "vm-rec-temp")

    async def record_greeting(self, kind: str, prompt: str) -> bool:
        """Record a greeting after the prompt and a beep; kept when not empty."""
        assert self.mb is not None
        boxes, general = self.service.mailboxes, self.service.config.general
        await self.ch.play([prompt])
        await self.ch.play(["beep"])
        try:
            tmp = boxes.tmp_path(self.mb.context, self.mb.mailbox)
            rec = await self.ch.record(str(tmp), max_seconds=self.max_greeting_seconds,
                                       silence_seconds=general.maxsilence,
                                       silence_threshold=general.silencethreshold,
                                       stop_digits="#")
        except OSError as exc:  # StorageError: full or read-only spool
            log.error("VoiceMailMain: %s greeting of %s not stored: %s", kind, self.mb.key, exc)
            from voicemail.deposit import tell_failure

            await tell_failure(self.ch)
            return False
        path = Path(rec.path)
        if rec.seconds <= 0 or not path.is_file():
            with contextlib.suppress(OSError):
                path.unlink()
            return False
        os.replace(path, boxes.greeting_path(self.mb.context, self.mb.mailbox, kind))
        log.info("VoiceMailMain: %s greeting of %s recorded (%.1f s)", kind, self.mb.key,
                 rec.seconds)
        self.ch.check_hangup()
        await self.ch.play(["vm-msgsaved"])
        return True

    async def change_pin(self) -> bool:
        """5: new PIN, entered twice."""
        assert self.mb is not None
        first = await self.read_digits(["vm-newpassword"])
        if not first:
            await self.ch.play(["vm-invalidpassword"])
            return False
        again = await self.read_digits(["vm-reenterpassword"])
        if first != again:
            await self.ch.play(["vm-mismatch"])
            return False
        await self.service.set_pin(self.mb, first)
        self.mb = await self.service.effective(self.mb)
        log.info("VoiceMailMain: PIN of %s changed", self.mb.key)
        await self.ch.play(["vm-passchanged"])
        return True


async def voicemail_main(service: VoicemailService, ch: Channel, spec: str = "",
                         options: str = "") -> MenuResult:
    """Run VoiceMailMain(spec,options) on `ch`."""
    return await VoicemailMenu(service, ch).run(spec, options)
