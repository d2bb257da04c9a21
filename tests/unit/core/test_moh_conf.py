"""musiconhold.conf: classes, the built-in default, file:line:col errors; peers' keys."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pbx.config import load_config
from pbx.diagnostics import ConfigError, Diagnostic
from pbx.media.wav import write_wav
from pbx.moh_conf import REPO_SOUNDS, load_moh_conf

FALLBACK = REPO_SOUNDS / "moh" / "pbx-fallback.wav"


@pytest.fixture
def music(tmp_path: Path) -> Path:
    folder = tmp_path / "music"
    folder.mkdir()
    for name in ("b-song", "a-song"):
        write_wav(folder / f"{name}.wav", b"\0\1" * 800)
    (folder / "a-song.ulaw").write_bytes(b"\xff" * 800)  # the same song in another form
    (folder / "notes.txt").write_text("not music")
    (folder / ".hidden.wav").write_bytes(b"")
    return folder


def load(tmp_path: Path, text: str | None, search: list[str] | None = None,
         ) -> tuple[object, list[Diagnostic]]:
    path = tmp_path / "musiconhold.conf"
    if text is not None:
        path.write_text(text)
    diags: list[Diagnostic] = []
    return load_moh_conf(path, diags, search if search is not None else [str(tmp_path)]), diags


def test_files_class_one_entry_per_song_in_alpha_order(tmp_path: Path, music: Path) -> None:
    conf, diags = load(tmp_path, f"[general]\npreferchannelclass=no\n\n[office]\nmode=files\n"
                       f"directory={music}\nsort=random\n")
    office = conf.classes["office"]
    assert office.files == (str(music / "a-song"), str(music / "b-song"))
    assert office.sort == "random" and office.directory == str(music)
    assert conf.prefer_channel_class is False and diags == []


def test_relative_directory_is_found_on_the_search_path(tmp_path: Path, music: Path) -> None:
    conf, diags = load(tmp_path, "[office]\nmode=files\ndirectory=music\n",
                       search=["/nonexistent", str(tmp_path)])
    assert conf.classes["office"].directory == str(music) and diags == []


def test_default_exists_without_a_file_and_falls_back_to_the_repository(tmp_path: Path) -> None:
    conf, diags = load(tmp_path, None, search=[str(tmp_path), str(REPO_SOUNDS)])
    default = conf.classes["default"]
    assert default.files == (str(FALLBACK.with_suffix("")),) and diags == []
    # Debian's folder, when it has music, comes before the fallback.
    debian = tmp_path / "share"
    (debian / "moh").mkdir(parents=True)
    shutil.copy(FALLBACK, debian / "moh" / "opsound.wav")
    conf, _ = load(tmp_path, None, search=[str(debian), str(REPO_SOUNDS)])
    assert conf.classes["default"].directory == str(debian / "moh")


def test_the_repository_fallback_is_a_few_seconds_of_8khz_audio() -> None:
    import wave

    with wave.open(str(FALLBACK)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (8000, 1, 2)
        assert 3.0 <= w.getnframes() / 8000 <= 15.0


def test_errors_carry_file_line_col(tmp_path: Path, music: Path) -> None:
    mp3 = tmp_path / "mp3"
    mp3.mkdir()
    (mp3 / "song.wav").write_bytes(b"ID3\x03\x00" + b"\0" * 100)
    _, diags = load(tmp_path, f"""\
[a]
mode=files
directory=/no/such/folder

[b]
mode=quietmp3
directory={music}

[c]
mode=files
directory={music}
sort=shuffle
digit=#

[d]
mode=files
directory={mp3}

[e]
mode=playlist
entry=relative/path
entry={music}/a-song
entry=http://example.com/x.ulaw

[f]
mode=files
""")
    text = [str(d) for d in diags]
    conf = str(tmp_path / "musiconhold.conf")
    assert (f"{conf}:3:11: music-on-hold folder not found: /no/such/folder (the class plays "
            "default)") in text
    # Asterisk drops such a class and loads: `pbx run` starts, `pbx check` refuses.
    assert [d.loadable for d in diags if d.line in (3, 17) and d.severity == "error"] == \
        [True, True]
    assert any(t.startswith(f"{conf}:6:6: mode=quietmp3") for t in text)
    assert [d.loadable for d in diags if d.line == 6] == [True]
    assert f"{conf}:12:6: sort must be one of alpha, random, randstart, got 'shuffle'" in text
    assert any(t.startswith(f"{conf}:13:1: warning: option 'digit'") for t in text)
    assert any(t.startswith(f"{conf}:17:11: warning: ") and "MP3" in t for t in text)
    assert any(t.startswith(f"{conf}:17:11: ") and "holds no sound file" in t for t in text)
    assert any(t.startswith(f"{conf}:21:7: a playlist entry must be an absolute") for t in text)
    assert any(t.startswith(f"{conf}:23:7: warning: HTTP") for t in text)
    assert f"{conf}:25:1: class [f] (mode=files) needs directory=" in text


def test_playlist_keeps_its_order(tmp_path: Path, music: Path) -> None:
    conf, diags = load(tmp_path, f"[p]\nmode=playlist\nentry={music}/b-song\n"
                       f"entry={music}/a-song.wav\n")
    assert conf.classes["p"].files == (str(music / "b-song"), str(music / "a-song"))
    assert diags == []


def write_config(tmp_path: Path, sip: str, moh: str, pjsip: str | None = None) -> None:
    (tmp_path / "sip.conf").write_text(sip)
    (tmp_path / "musiconhold.conf").write_text(moh)
    if pjsip is not None:
        (tmp_path / "pjsip.conf").write_text(pjsip)
    (tmp_path / "extensions.conf").write_text("[internal]\nexten => 1,1,Hangup()\n")


def test_peers_mohsuggest_mohinterpret_and_pjsip_moh_keys(tmp_path: Path, music: Path) -> None:
    write_config(tmp_path, "[6001]\ntype=friend\nhost=dynamic\nsecret=x\ncontext=internal\n"
                 "mohsuggest=office\nmohinterpret=nothere\n",
                 f"[office]\nmode=files\ndirectory={music}\n",
                 "[7001]\ntype=endpoint\ncontext=internal\nallow=ulaw\nmoh_suggest=office\n"
                 "moh_passthrough=yes\n")
    config = load_config(tmp_path)
    p1, p7 = config.sip.peers["6001"], config.sip.peers["7001"]
    assert (p1.mohsuggest, p1.mohinterpret, p1.moh_passthrough) == ("office", "nothere", False)
    assert (p7.mohsuggest, p7.moh_passthrough) == ("office", True)
    warnings = [str(w) for w in config.warnings]
    assert any("mohinterpret=nothere: no such class" in w for w in warnings), warnings
    assert not any("mohsuggest" in w and "not use" in w for w in warnings)
    assert set(config.moh.classes) == {"office", "default"}


def test_a_bad_musiconhold_conf_stops_the_load(tmp_path: Path) -> None:
    write_config(tmp_path, "[general]\n", "[x]\nmode=files\ndirectory=/nowhere\n")
    with pytest.raises(ConfigError) as err:
        load_config(tmp_path)
    assert "musiconhold.conf:3:11: music-on-hold folder not found" in str(err.value)
    config = load_config(tmp_path, strict=False)  # `pbx run`: a warning, default plays
    assert set(config.moh.classes) == {"default"}
    assert any("folder not found" in str(w) for w in config.warnings)


def test_check_warns_of_unknown_classes_and_local_targets(tmp_path: Path, music: Path) -> None:
    write_config(tmp_path, "[general]\n", f"[office]\nmode=files\ndirectory={music}\n")
    (tmp_path / "extensions.conf").write_text(
        "[internal]\nexten => 1,1,Dial(Local/9@nowhere&Local/2@internal/n,5,m(jazz))\n"
        " same => n,MusicOnHold(office)\n same => n,StartMusicOnHold(lounge)\n"
        " same => n,Dial(Local/${EXTEN}@x,5,m(${CLASS}))\nexten => 2,1,Hangup()\n")
    warnings = {str(w).split(str(tmp_path) + "/", 1)[1] for w in load_config(tmp_path).warnings}
    assert warnings == {
        "extensions.conf:2:14: warning: Dial option m: no music-on-hold class 'jazz' in "
        "musiconhold.conf (default plays instead)",
        "extensions.conf:2:14: warning: Dial target Local/9@nowhere: no extension '9' in "
        "context 'nowhere'",
        "extensions.conf:4:12: warning: StartMusicOnHold: no music-on-hold class 'lounge' in "
        "musiconhold.conf (default plays instead)"}
