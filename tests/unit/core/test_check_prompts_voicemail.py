"""`pbx check`: every prompt the dialplan names is decoded (corrupt files are
errors naming the file, durations listed), and voicemail.conf mailboxes
outside a context are refused."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError

REPO = Path(__file__).resolve().parents[3]


def config_dir(tmp_path: Path, dialplan: str, voicemail: str | None = None) -> Path:
    shutil.copy(REPO / "etc" / "sip.conf", tmp_path / "sip.conf")
    (tmp_path / "pbx.yaml").write_text(f"sounds: {{path: [{REPO / 'sounds'}]}}\n")
    (tmp_path / "extensions.conf").write_text(dialplan)
    if voicemail is not None:
        (tmp_path / "voicemail.conf").write_text(voicemail)
    return tmp_path


def errors(tmp_path: Path) -> list[str]:
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path)
    return [str(d) for d in ei.value.diagnostics if d.severity == "error"]


def test_good_prompts_are_decoded_with_their_duration(tmp_path: Path) -> None:
    config = load_config(config_dir(tmp_path, "[internal]\nexten => 1,1,Playback(tt-weasels)\n"
                                              " same => n,Read(X,beep&silence/1,1)\n"
                                              "[default]\n"))
    seconds = {name: round(s, 2) for name, _, s in config.prompts}
    assert set(seconds) == {"tt-weasels", "beep", "silence/1"}
    assert seconds["beep"] == 0.25 and seconds["silence/1"] == 1.0


def test_random_bytes_and_mp3_named_wav_are_errors_with_the_path(tmp_path: Path) -> None:
    bad, song = tmp_path / "bad.wav", tmp_path / "song.wav"
    bad.write_bytes(os.urandom(3000))
    song.write_bytes(b"ID3\x03\x00\x00\x00\x00\x00\x00" + os.urandom(2000))
    config_dir(tmp_path, f"[internal]\nexten => 1,1,Playback({tmp_path}/bad)\n"
                         f" same => n,Background(tt-weasels&{tmp_path}/song)\n[default]\n")
    found = errors(tmp_path)
    assert len(found) == 2
    assert found[0].endswith(f"extensions.conf:2:14: prompt '{tmp_path}/bad' cannot be played: "
                             f"{bad}: not a RIFF/WAVE file")
    assert f"{song}: not a RIFF/WAVE file (it is MP3" in found[1]
    assert ":3:12:" in found[1]


def test_mailboxes_outside_a_context_are_refused(tmp_path: Path) -> None:
    config_dir(tmp_path, "[internal]\nexten => 1,1,VoiceMail(6001@default,u)\n[default]\n",
               "[general]\nformat=wav\n6001 => 1234,Alice,alice@example.com\n")
    found = errors(tmp_path)
    assert any("voicemail.conf:3:1: mailbox 6001 is not in a context" in e for e in found)
    assert any("extensions.conf:2:14: VoiceMail(6001@default): voicemail.conf" in e
               and "defines no mailbox" in e for e in found)


def test_a_missing_mailbox_is_a_warning_when_others_exist(tmp_path: Path) -> None:
    config = load_config(config_dir(
        tmp_path, "[internal]\nexten => 1,1,VoiceMail(6009@default)\n[default]\n",
        "[general]\n[default]\n6001 => 1234,Alice\n6002 => 1234,Bob\n123 => 1,Z\n"))
    assert any("mailbox 6009@default is not in voicemail.conf" in str(w)
               for w in config.warnings)
