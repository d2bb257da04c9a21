"""The management token: owner-only file, made once, checked in constant time."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pbx.security.token import TokenError, check_token, ensure_token, read_token


def test_made_once_owner_only(tmp_path: Path) -> None:
    token = ensure_token(tmp_path / "var")
    path = tmp_path / "var" / "mgmt.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and len(token) >= 40
    assert ensure_token(tmp_path / "var") == token == read_token(tmp_path / "var")
    path.chmod(0o644)
    ensure_token(tmp_path / "var")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_check_and_missing(tmp_path: Path) -> None:
    assert check_token("abc", "Bearer abc") and check_token("abc", "bearer  abc ")
    assert not check_token("abc", "Bearer abd") and not check_token("abc", None)
    assert not check_token("abc", "Basic abc")
    with pytest.raises(TokenError, match="has `pbx run` been started"):
        read_token(tmp_path)
