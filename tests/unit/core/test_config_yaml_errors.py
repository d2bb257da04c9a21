"""pbx.yaml: errors of any kind get file:line:col, never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pbx.config import load_settings
from pbx.diagnostics import Diagnostic


def diags_for(tmp_path: Path, data: bytes) -> list[str]:
    (tmp_path / "pbx.yaml").write_bytes(data)
    out: list[Diagnostic] = []
    load_settings(tmp_path, out)
    return [str(d).split(str(tmp_path) + "/", 1)[1] for d in out]


@pytest.mark.parametrize(("data", "expected"), [
    (b"sip:\n  realm: caf\xe9\n", "pbx.yaml:2:13: not UTF-8 text: byte 0xe9"),
    (b"sip:\n  realm: \x00\n", "pbx.yaml:2:10: YAML: special characters are not allowed"),
    (b"sip: [1, 2\n", "pbx.yaml:2:1: YAML syntax: expected ',' or ']', but got '<stream end>'"),
    (b"sip: {listen: !!python/object:os.system x}\n",
     "pbx.yaml:1:15: cannot read this value: could not determine a constructor for the tag "
     "'tag:yaml.org,2002:python/object:os.system'"),
    (b"rtp: {timeout: 2001-13-45}\n", "pbx.yaml:1:16: cannot read this value: month must be "
     "in 1..12"),
    (b"- a\n- b\n", "pbx.yaml:1:1: pbx.yaml must be a mapping"),
    (b"rtp: {ports: [1, x]}\n", "pbx.yaml:1:14: rtp.ports: must be [low, high] with 1024 <= "
     "low < high <= 65535"),
    (b"sip: {listen: 5}\n", "pbx.yaml:1:15: sip.listen must be list or str, got 5"),
    (b"sip: {listen: [{a: 1}]}\n", "pbx.yaml:1:16: sip.listen: listen address \"{'a': 1}\" is "
     "not transport:host:port (e.g. udp:127.0.0.1:5060 or udp:[::1]:5060)"),
    (b"{[1]: 2}\n", "pbx.yaml:1:2: pbx.yaml: a key must be a plain name"),
])
def test_each_kind_of_error_has_a_position(tmp_path: Path, data: bytes, expected: str) -> None:
    got = diags_for(tmp_path, data)
    assert got and got[0].startswith(expected), got


def test_alias_bomb_and_deep_nesting_are_refused_quickly(tmp_path: Path) -> None:
    bomb = b"a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i in range(1, 9):
        prev = chr(ord("a") + i - 1)
        bomb += f"{chr(ord('a') + i)}: &{chr(ord('a') + i)} [*{prev}, *{prev}, *{prev}, " \
                f"*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n".encode()
    bomb += b"sounds: {path: *i}\n"
    assert diags_for(tmp_path, bomb) == [
        "pbx.yaml:1:1: pbx.yaml holds more than 10000 values (with aliases expanded)"]
    deep = b"sip: " + b"[" * 5000 + b"]" * 5000 + b"\n"
    got = diags_for(tmp_path, deep)
    assert got and ("nested too deeply" in got[0] or "must be" in got[0])


_yamlish = st.lists(st.sampled_from(
    ["sip:", "rtp:", "security:", "ban:", "limits:", "listen:", "ports:", "  ", "    ", "- ",
     "[", "]", "{", "}", ",", ": ", "\n", "&a ", "*a", "!!str ", "!!python/name:os ", "'",
     '"', "#", "1", "-1", "65536", "0.5", "udp:127.0.0.1:5060", "true", "null", "\t",
     "time: ", "trusted: ", "10.0.0.0/8", "http:", "listen: ", "\xe9", "\x00", "~"]),
    max_size=40).map("".join)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.function_scoped_fixture])
@given(data=st.one_of(st.binary(max_size=300), _yamlish.map(lambda s: s.encode("utf-8"))))
def test_any_bytes_give_diagnostics_never_an_exception(tmp_path: Path, data: bytes) -> None:
    (tmp_path / "pbx.yaml").write_bytes(data)
    out: list[Diagnostic] = []
    load_settings(tmp_path, out)
    for d in out:
        assert d.line >= 1 and d.col >= 1 and d.message
