"""The management endpoint's token: made on first start, readable by its owner only.

`pbx run` creates ``<storage>/mgmt.token`` (mode 0600, a random 256-bit value)
unless it exists; the `pbx` CLI reads it from the same config dir's storage
folder and sends it as ``Authorization: Bearer <token>``. Another local user
cannot read it, so cannot reload or query the PBX; and a CLI pointed at the
wrong config dir is refused instead of talking to another PBX.
"""

from __future__ import annotations

import hmac
import os
import secrets
import stat
from pathlib import Path

__all__ = ["TOKEN_FILE", "TokenError", "check_token", "ensure_token", "read_token"]

TOKEN_FILE = "mgmt.token"


class TokenError(Exception):
    """The token file cannot be made or read: the message says what to do."""


def ensure_token(storage_dir: Path) -> str:
    """The token, creating the file (0600) if needed; a readable-by-others file is fixed."""
    path = storage_dir / TOKEN_FILE
    storage_dir.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        mode = stat.S_IMODE(path.stat().st_mode)
        if mode & 0o077:
            path.chmod(0o600)  # was readable by others: make it the owner's again
        return read_token(storage_dir)
    except OSError as exc:
        raise TokenError(f"cannot create {path}: {exc.strerror}") from exc
    token = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as out:
        out.write(token + "\n")
    return token


def read_token(storage_dir: Path) -> str:
    path = storage_dir / TOKEN_FILE
    try:
        token = path.read_text().strip()
    except FileNotFoundError as exc:
        raise TokenError(f"{path} does not exist: has `pbx run` been started with this "
                         "config dir?") from exc
    except PermissionError as exc:
        raise TokenError(f"cannot read {path}: run as the user that runs the PBX") from exc
    except OSError as exc:
        raise TokenError(f"cannot read {path}: {exc.strerror}") from exc
    if not token:
        raise TokenError(f"{path} is empty: delete it and restart the PBX")
    return token


def check_token(expected: str, authorization: str | None) -> bool:
    """Whether an `Authorization: Bearer <token>` value carries ``expected`` (constant time)."""
    if not authorization:
        return False
    scheme, _, value = authorization.strip().partition(" ")
    if scheme.lower() != "bearer":
        return False
    return hmac.compare_digest(value.strip().encode(), expected.encode())
