"""The voicemail service: one per server, holding config, mailboxes, outbox and MWI.

The server builds it at start-up and calls `start()` (tables, outbox
sender), and `stop()` at shutdown; `reload(config)` swaps voicemail.conf.
The VoiceMail/VoiceMailMain applications reach it through their
AppContext (the server puts it in the DialplanServices it runs calls with),
so two servers in one process each use their own.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sqlite3
from pathlib import Path
from typing import Any

from pbx.media.wavstream import repair
from pbx.store import Store
from voicemail import safety
from voicemail.config import MailboxConfig, VoicemailConfig, split_mailbox, with_pin
from voicemail.mailbox import MailboxStore
from voicemail.mwi import MwiNotifier
from voicemail.notify import Outbox, OutboxRow

log = logging.getLogger("voicemail")

class VoicemailService:
    """Everything voicemail needs at run time."""

    def __init__(self, store: Store, settings: Any, config: VoicemailConfig | None,
                 mwi: MwiNotifier | None = None, *, retry_min: float | None = None,
                 retry_max: float | None = None, hostname: str | None = None) -> None:
        self.store = store
        self.settings = settings  # pbx.config.Settings: storage_dir, smtp
        self.config = config or VoicemailConfig()
        self.hostname = hostname
        self.mailboxes = MailboxStore(store, settings.storage_dir / "voicemail")
        rmin = retry_min if retry_min is not None else \
            float(getattr(settings, "voicemail_retry_min", 30.0))
        rmax = retry_max if retry_max is not None else \
            float(getattr(settings, "voicemail_retry_max", 3600.0))
        self.outbox = Outbox(store, getattr(settings, "smtp", None),
                             settings.storage_dir / "outbox",
                             mailcmd=lambda: self.config.general.mailcmd,
                             retry_min=rmin, retry_max=rmax, on_delivered=self._delivered)
        self.mwi = mwi or MwiNotifier()
        self.mwi.counts = self.counts_of

    async def init(self) -> None:
        """Create the tables (start() does it; tests may call it alone)."""
        await self.mailboxes.init()
        await self.outbox.init()

    async def start(self) -> None:
        """Create tables, file messages a stop interrupted, start the outbox sender."""
        await self.init()
        await self.recover()
        self.outbox.start()

    async def recover(self) -> int:
        """File the recordings a crash (or kill) left in the mailboxes' tmp/ folders.

        Each is repaired and becomes a message if longer than its mailbox's
        minsecs, as if the caller had hung up; returns how many were filed."""
        filed = 0
        for sidecar in safety.leftovers(self.mailboxes.spool):
            filed += await self.recover_one(sidecar)
        return filed

    async def recover_one(self, sidecar: Path) -> int:
        """File one interrupted recording (see recover); 1 if filed."""
        from voicemail.deposit import file_message

        pending = safety.read_pending(sidecar)
        if pending is None:
            return 0
        rec = Path(pending.recording)
        part = Path(str(rec) + ".part")
        try:
            if not rec.is_file() and part.is_file():
                os.replace(part, rec)
            if not rec.is_file():
                safety.done(rec)  # filed before the stop, or nothing was recorded
                return 0
            seconds = repair(str(rec))
        except OSError as exc:
            log.error("VoiceMail: cannot recover %s: %s", rec, exc)
            return 0
        targets = [mb for mb in (self.find(box, ctx) for ctx, box in pending.mailboxes) if mb]
        if not targets:
            log.warning("VoiceMail: %s was recorded for %s, no longer in voicemail.conf: "
                        "left in place", rec, pending.mailboxes)
            return 0
        first = targets[0]
        if seconds <= 0 or seconds < first.minsecs:
            log.info("VoiceMail: interrupted recording for %s was %.1f s, needs %d s: "
                     "discarded", first.key, seconds, first.minsecs)
            with contextlib.suppress(OSError):
                rec.unlink()
            safety.done(rec)
            return 0
        try:
            await file_message(self, targets, rec, seconds, pending)
        except (OSError, sqlite3.Error) as exc:
            log.error("VoiceMail: interrupted recording %s not filed yet: %s", rec, exc)
            return 0
        safety.done(rec)
        log.info("VoiceMail: recovered an interrupted %.1f s message from %s for %s",
                 seconds, pending.callerid or "unknown", ", ".join(m.key for m in targets))
        return 1

    async def stop(self) -> None:
        """Stop the sender."""
        await self.outbox.stop()

    def reload(self, config: VoicemailConfig) -> None:
        """Use a new voicemail.conf (already validated)."""
        self.config = config

    # --- helpers for the applications -----------------------------------------
    def find(self, mailbox: str, context: str | None = None) -> MailboxConfig | None:
        """A mailbox of voicemail.conf (`box` or `box@context`)."""
        return self.config.find(mailbox, context)

    async def effective(self, mb: MailboxConfig) -> MailboxConfig:
        """The mailbox with the PIN the user may have changed."""
        pin = await self.mailboxes.pin(mb.context, mb.mailbox)
        return mb if pin is None else with_pin(mb, pin)

    async def set_pin(self, mb: MailboxConfig, pin: str) -> None:
        """Save a new PIN (kept in the store; voicemail.conf is not rewritten)."""
        await self.mailboxes.set_pin(mb.context, mb.mailbox, pin)

    async def counts_of(self, key: str) -> tuple[int, int]:
        """(new, old) of `box@context`."""
        box, ctx = split_mailbox(key)
        return await self.mailboxes.counts(ctx, box)

    async def changed(self, context: str, mailbox: str) -> None:
        """A mailbox's content changed: tell MWI watchers."""
        try:
            await self.mwi.mailbox_changed(f"{mailbox}@{context}")
        except Exception:
            log.exception("MWI update for %s@%s failed", mailbox, context)

    async def _delivered(self, row: OutboxRow) -> None:
        # delete=yes: the mailbox only relays to email; the message goes once sent.
        if not row.delete_after or row.message_id is None:
            return
        msg = await self.mailboxes.get(row.message_id)
        if msg is None:
            return
        await self.mailboxes.delete(msg)
        await self.changed(msg.context, msg.mailbox)
