"""Voicemail's guard against lost messages: the spool check before the
greeting, the record of a message in progress, and filing what a crash left.

A message being recorded lives in `<mailbox>/tmp/rec-<id>.wav.part`
(streamed by the recorder) with `rec-<id>.json` beside it: who called, for
which mailboxes, when. The JSON is removed once the message is in the INBOX
(or discarded as too short). At start-up, a JSON still there means the PBX
stopped in between: the recording is repaired, and filed as a message if it
is longer than the mailbox's minsecs (Asterisk's rule for any message).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("voicemail")

BYTES_PER_SEC = 32000  # 16 kHz 16-bit mono: the most a recording takes (a G.722 leg)
DEFAULT_SECONDS = 300  # room checked for when the mailbox has no maxsecs
MARGIN = 64 * 1024  # headers, the .txt file, the index


@dataclass(slots=True)
class PendingMessage:
    """What is known about a message while it is recorded (the .json sidecar)."""

    mailboxes: list[tuple[str, str]]  # (context, mailbox), the first is where it is recorded
    origtime: float
    callerid: str = ""
    cidnum: str = ""
    cidname: str = ""
    exten: str = ""
    priority: int = 0
    channel: str = ""
    uniqueid: str = ""
    flag: str = ""
    recording: str = ""  # the final .wav path (the recorder writes <it>.part meanwhile)
    extra: dict[str, Any] = field(default_factory=dict)


def check_spool(folder: Path, max_seconds: int) -> str | None:
    """Why a message of up to `max_seconds` cannot be stored in `folder`, or None.

    The folder is created, a small file is written, synced and removed (a
    read-only or broken spool fails here, even for root), and the free space
    must hold the longest message allowed."""
    seconds = max_seconds if max_seconds > 0 else DEFAULT_SECONDS
    need = seconds * BYTES_PER_SEC + MARGIN
    probe = folder / f".probe-{uuid.uuid4().hex}"
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with open(probe, "wb") as f:
            f.write(bytes(4096))
            f.flush()
            os.fsync(f.fileno())
        free = shutil.disk_usage(folder).free
    except OSError as exc:
        return f"{folder} is not writable: {exc.strerror or exc}"
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()
    if free < need:
        return (f"{folder} has {free // 1024} KB free, a {seconds} s message needs "
                f"{need // 1024} KB")
    return None


def sidecar_path(recording: Path) -> Path:
    return recording.with_suffix(".json")


def write_pending(pending: PendingMessage) -> Path:
    """Write the sidecar (atomically) before the recording starts."""
    path = sidecar_path(Path(pending.recording))
    tmp = path.with_suffix(".json.tmp")
    try:
        tmp.write_text(json.dumps(asdict(pending)), encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise OSError(exc.errno, f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def read_pending(path: Path) -> PendingMessage | None:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        data["mailboxes"] = [tuple(x) for x in data["mailboxes"]]
        return PendingMessage(**data)
    except (OSError, ValueError, TypeError, KeyError) as exc:
        log.warning("VoiceMail: unreadable %s (%s): left in place", path, exc)
        return None


def done(recording: Path) -> None:
    """The message is filed or discarded: forget it (sidecar and leftovers)."""
    for p in (sidecar_path(recording), Path(str(recording) + ".part")):
        with contextlib.suppress(FileNotFoundError):
            p.unlink()


def leftovers(spool: Path) -> list[Path]:
    """Sidecars of messages a stopped PBX did not finish: <ctx>/<box>/tmp/*.json."""
    if not spool.is_dir():
        return []
    return sorted(spool.glob("*/*/tmp/rec-*.json"))
