"""Prompt search path, caching, and the embedded prompts in sounds/en."""

from __future__ import annotations

import os
import wave
from pathlib import Path

import numpy as np
import pytest

from pbx.media import prompts as prompts_mod
from pbx.media.codecs import PCMA, PCMU, alaw_encode, ulaw_decode, ulaw_encode
from pbx.media.prompts import DEBIAN_SOUNDS, PromptLibrary, default_path
from pbx.media.wav import WavError, write_wav

REPO = Path(__file__).resolve().parents[3]
SOUNDS_EN = REPO / "sounds" / "en"

# What the dialplan applications and voicemail play (must ship in sounds/en).
REQUIRED = [
    "tt-weasels", "demo-echotest", "demo-congrats", "beep", "hello-world", "goodbye",
    "pls-try-again", "invalid", "auth-thankyou", "silence/1",
    *[f"digits/{n}" for n in range(20)],
    *[f"digits/{n}" for n in range(20, 100, 10)],
    "digits/hundred", "digits/thousand", "digits/million", "digits/minus", "digits/oh",
    "vm-login", "vm-password", "vm-incorrect", "vm-incorrect-mailbox", "vm-youhave",
    "vm-INBOX", "vm-Old", "vm-message", "vm-messages", "vm-no", "vm-and", "vm-first",
    "vm-last", "vm-next", "vm-nomore", "vm-delete", "vm-deleted", "vm-saved", "vm-goodbye",
    "vm-intro", "vm-theperson", "vm-isunavail", "vm-isonphone", "vm-options",
    "vm-newpassword", "vm-reenterpassword", "vm-passchanged", "vm-mismatch",
    "vm-instructions", "vm-onefor", "vm-opts", "vm-msginstruct", "vm-advopts",
    "vm-undeleted", "vm-rec-unv", "vm-rec-busy", "vm-rec-name", "vm-rec-temp", "vm-review",
    "vm-msgsaved", "vm-received", "vm-from", "vm-from-phonenumber", "vm-unknown-caller",
    "vm-star-cancel", "vm-extension", "vm-dialout",
]  # fmt: skip


def make_prompt(path: Path, n_samples: int = 800, value: int = 1000) -> bytes:
    path.parent.mkdir(parents=True, exist_ok=True)
    pcm = np.full(n_samples, value, dtype="<i2").tobytes()
    write_wav(path, pcm)
    return pcm


@pytest.fixture
def dirs(tmp_path: Path) -> tuple[Path, Path]:
    a, b = tmp_path / "a", tmp_path / "b"
    make_prompt(a / "en" / "hello.wav", value=1)
    make_prompt(a / "only-plain.wav", value=2)
    make_prompt(b / "hello.wav", value=3)
    make_prompt(b / "en" / "digits" / "5.wav", value=4)
    make_prompt(b / "fr" / "hello.wav", value=5)
    make_prompt(b / "b-only.wav", value=6)
    return a, b


def test_default_path(tmp_path: Path) -> None:
    assert default_path(tmp_path) == [
        "/usr/share/asterisk/sounds/en_US_f_Allison",
        str(tmp_path / "sounds" / "asterisk"),
        str(tmp_path / "sounds"),
    ]


def test_search_order_and_first_hit_wins(dirs: tuple[Path, Path]) -> None:
    a, b = dirs
    lib = PromptLibrary([str(a), str(b)])
    assert lib.searched("hello") == [
        str(a / "en" / "hello.wav"),
        str(a / "hello.wav"),
        str(b / "en" / "hello.wav"),
        str(b / "hello.wav"),
    ]
    assert lib.find("hello") == str(a / "en" / "hello.wav")
    assert lib.find("only-plain") == str(a / "only-plain.wav")
    assert lib.find("b-only") == str(b / "b-only.wav")
    assert lib.find("digits/5") == str(b / "en" / "digits" / "5.wav")
    assert lib.find("hello", language="fr") == str(b / "fr" / "hello.wav")
    assert lib.find("hello", language="de") == str(b / "hello.wav")
    assert PromptLibrary([b], language="fr").find("hello") == str(b / "fr" / "hello.wav")
    assert lib.exists("hello") and not lib.exists("nothing")
    assert lib.find("nothing") is None and lib.get("nothing", PCMU) is None


def test_absolute_paths_and_escapes(dirs: tuple[Path, Path]) -> None:
    a, b = dirs
    lib = PromptLibrary([str(b)])
    assert lib.find(str(a / "only-plain")) == str(a / "only-plain.wav")
    assert lib.find(str(a / "only-plain.wav")) == str(a / "only-plain.wav")
    assert lib.searched("../a/only-plain") == [] and lib.find("../a/only-plain") is None
    assert lib.find("") is None


def test_get_encodes_once_per_codec_and_caches(
    dirs: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    a, _ = dirs
    reads: list[str] = []
    real = prompts_mod.read_wav

    def counting(path: str, rate: int = 8000) -> bytes:
        reads.append(path)
        return real(path, rate)

    monkeypatch.setattr(prompts_mod, "read_wav", counting)
    lib = PromptLibrary([str(a)])
    first = lib.get("hello", PCMU)
    assert first is not None and len(first) == 800
    assert first == ulaw_encode(np.full(800, 1, dtype="<i2").tobytes())
    assert lib.get("hello", PCMU) is first  # the same object: no re-encode
    alaw = lib.get("hello", PCMA)
    assert alaw == alaw_encode(np.full(800, 1, dtype="<i2").tobytes())
    assert lib.get("hello", PCMA) is alaw
    assert reads == [str(a / "en" / "hello.wav")]  # decoded/converted once
    assert lib.pcm("hello") is not None and len(reads) == 1
    lib.clear()
    assert lib.get("hello", PCMU) == first and len(reads) == 2


def test_raw_asterisk_formats(tmp_path: Path) -> None:
    pcm = np.arange(-800, 800, 2, dtype="<i2").tobytes()
    (tmp_path / "en").mkdir()
    (tmp_path / "en" / "u.ulaw").write_bytes(ulaw_encode(pcm))
    (tmp_path / "a.alaw").write_bytes(alaw_encode(pcm))
    (tmp_path / "s.sln").write_bytes(pcm)
    make_prompt(tmp_path / "both.wav", value=7)
    (tmp_path / "both.ulaw").write_bytes(b"\x00" * 10)
    lib = PromptLibrary([str(tmp_path)])
    assert lib.find("u") == str(tmp_path / "en" / "u.ulaw")
    assert lib.get("u", PCMU) == ulaw_encode(pcm)  # served as is
    assert lib.get("u", PCMA) == alaw_encode(ulaw_decode(ulaw_encode(pcm)))
    assert lib.get("a", PCMA) == alaw_encode(pcm)
    assert lib.get("s", PCMU) == ulaw_encode(pcm) and lib.pcm("s") == pcm
    assert lib.find("both") == str(tmp_path / "both.wav")  # .wav first


def test_unconvertible_prompt_raises_naming_file(tmp_path: Path) -> None:
    bad = tmp_path / "en" / "bad.wav"
    bad.parent.mkdir()
    bad.write_bytes(b"RIFF\x04\x00\x00\x00WAVE")
    with pytest.raises(WavError, match=str(bad)):
        PromptLibrary([str(tmp_path)]).get("bad", PCMU)


# ------------------------------------------------------------ shipped prompts


@pytest.mark.parametrize("name", REQUIRED)
def test_shipped_prompt_exists_in_8k_16bit_mono(name: str) -> None:
    path = SOUNDS_EN / f"{name}.wav"
    assert path.is_file(), f"missing prompt {path}: run sounds/make_sounds.sh"
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
        assert w.getnframes() > 800  # at least 0.1 s


def test_shipped_prompts_resolve_through_the_repo_sounds_folder() -> None:
    lib = PromptLibrary([str(REPO / "sounds")])
    data = lib.get("tt-weasels", PCMU)
    assert data is not None and len(data) > 8000
    assert lib.find("digits/5") == str(SOUNDS_EN / "digits" / "5.wav")
    total = sum(p.stat().st_size for p in SOUNDS_EN.rglob("*.wav"))
    # 3.5 MB before the date words of pbx.say (weekdays, months, ordinals: 0.5 MB);
    # the conference prompts of ConfBridge (27, the two spoken menus 0.37 MB) 0.94 MB;
    # the transfer and parking prompts (pbx-transfer, pbx-invalid...) 0.16 MB
    assert total < 4_900_000


def test_beep_is_a_1khz_tone() -> None:
    pcm = PromptLibrary([str(REPO / "sounds")]).pcm("beep")
    assert pcm is not None and len(pcm) == 2 * 2000  # 0.25 s
    x = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    spec = np.abs(np.fft.rfft(x))
    assert abs(np.argmax(spec) * 8000 / len(x) - 1000) < 5
    assert np.max(np.abs(x)) > 8000


def test_silence_is_silent() -> None:
    pcm = PromptLibrary([str(REPO / "sounds")]).pcm("silence/1")
    assert pcm == bytes(16000)


def test_debian_folder_comes_first_in_the_default_path() -> None:
    if not os.path.isdir(DEBIAN_SOUNDS):  # `make test` installs it as root: a failure, not a skip
        pytest.fail("asterisk-core-sounds-en-wav is not installed (make test installs it)")
    lib = PromptLibrary(default_path(REPO))
    assert lib.find("tt-weasels") == os.path.join(DEBIAN_SOUNDS, "tt-weasels.wav")
    assert lib.find("digits/5") == os.path.join(DEBIAN_SOUNDS, "digits", "5.wav")
    data = lib.get("tt-weasels", PCMA)
    assert data is not None and len(data) > 8000


def test_absolute_paths_are_read_afresh(tmp_path) -> None:
    """Voicemail renumbers and re-records files in place: no stale audio."""
    from pbx.media.codecs import PCMU
    from pbx.media.prompts import PromptLibrary
    from pbx.media.wav import write_wav

    path = tmp_path / "msg0000.wav"
    write_wav(str(path), b"\x00\x10" * 800)
    library = PromptLibrary([str(tmp_path)])
    first = library.get(str(tmp_path / "msg0000"), PCMU)
    write_wav(str(path), b"\x00\x40" * 1600)
    second = library.get(str(tmp_path / "msg0000"), PCMU)
    assert first is not None and second is not None
    assert len(second) == 2 * len(first) and second != first[:1] * len(second)
