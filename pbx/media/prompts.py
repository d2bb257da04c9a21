"""Prompt lookup and the per-codec prompt cache.

A prompt name is what Playback() gets: ``tt-weasels``, ``digits/5``, or an
absolute path without extension (``/var/spool/pbx/voicemail/default/100/greet``).
Each folder of the search path is tried as ``<DIR>/<language>/<name>.wav``
then ``<DIR>/<name>.wav`` (the second form takes the Debian folder
``/usr/share/asterisk/sounds/en_US_f_Allison``, which has no language level);
the first file found wins.

At each place ``.wav`` is tried first, then Asterisk's raw formats ``.ulaw``,
``.alaw``, ``.sln`` (8 kHz 16-bit signed linear), ``.g722`` and ``.sln16``
(16 kHz), so an Asterisk sound pack in any of these formats can be dropped
into a folder of the path; a raw file already in the call's codec is served
as is, without any conversion. For a wideband leg (G.722) the 16 kHz forms
come first at each place: Debian's asterisk-core-sounds-en-g722 puts
``tt-weasels.g722`` next to asterisk-core-sounds-en-wav's 8 kHz
``tt-weasels.wav``, and a G.722 caller hears the wideband one; where only an
8 kHz file exists it is upsampled (windowed sinc).

A prompt is read, converted to 16-bit mono PCM at the codec's rate and
encoded once per codec; every later call returns the same ``bytes`` object,
out of which the player slices its 20 ms frames.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from pbx.media import g722
from pbx.media.codecs import CannotTranscode, Codec, alaw_decode, ulaw_decode
from pbx.media.resample import resample_pcm
from pbx.media.wav import WavError, read_wav

__all__ = ["DEBIAN_SOUNDS", "PromptLibrary", "default_path"]

DEBIAN_SOUNDS = "/usr/share/asterisk/sounds/en_US_f_Allison"


def default_path(repo_root: str | os.PathLike[str]) -> list[str]:
    """The search path used when ``sounds.path`` in pbx.yaml is empty.

    The Debian Asterisk prompts (a real voice) come first; the repository's
    generated prompts under sounds/ are the fallback that always exists.
    """
    root = os.fspath(repo_root)
    return [
        DEBIAN_SOUNDS,
        os.path.join(root, "sounds", "asterisk"),
        os.path.join(root, "sounds"),
    ]


class PromptLibrary:
    """Finds prompt files on a search path and caches them encoded per codec."""

    EXTENSION = ".wav"
    # Asterisk's headerless formats: the codec whose payload the bytes already
    # are, or None for 16-bit linear; and the rate of the audio in them.
    RAW_EXTENSIONS: dict[str, str | None] = {
        ".ulaw": "PCMU", ".alaw": "PCMA", ".sln": None, ".g722": "G722", ".sln16": None}
    RAW_RATES: dict[str, int] = {
        ".ulaw": 8000, ".alaw": 8000, ".sln": 8000, ".g722": 16000, ".sln16": 16000}
    # Order of the forms tried at each place of the path.
    NARROWBAND_ORDER = (".wav", ".ulaw", ".alaw", ".sln", ".g722", ".sln16")
    WIDEBAND_ORDER = (".g722", ".sln16", ".wav", ".ulaw", ".alaw", ".sln")

    def __init__(self, path: Iterable[str | os.PathLike[str]], language: str = "en") -> None:
        self.path = [os.fspath(p) for p in path]
        self.language = language
        self._pcm: dict[tuple[str, int], bytes] = {}
        self._encoded: dict[tuple[str, str], bytes] = {}

    def searched(self, name: str, language: str | None = None) -> list[str]:
        """Every place tried for ``name``, in order, as ``.wav`` paths (for the
        "not found" log; the raw extensions are tried at the same places)."""
        lang = self.language if language is None else language
        if os.path.isabs(name):
            return [name if name.endswith(self.EXTENSION) else name + self.EXTENSION]
        # A name comes from the dialplan, maybe from a caller's digits: no escaping the path.
        parts = name.replace("\\", "/").split("/")
        if not name or ".." in parts:
            return []
        rel = os.path.join(*parts) + self.EXTENSION
        out: list[str] = []
        for folder in self.path:
            if lang:
                out.append(os.path.join(folder, lang, rel))
            out.append(os.path.join(folder, rel))
        return out

    def find(self, name: str, language: str | None = None, *,
             wideband: bool = False) -> str | None:
        """The file that ``name`` resolves to, or None (16 kHz forms first if ``wideband``)."""
        order = self.WIDEBAND_ORDER if wideband else self.NARROWBAND_ORDER
        for candidate in self.searched(name, language):
            base = candidate[: -len(self.EXTENSION)]
            for ext in order:
                if os.path.isfile(base + ext):
                    return base + ext
        return None

    def exists(self, name: str, language: str | None = None) -> bool:
        """Whether ``name`` resolves to a file."""
        return self.find(name, language) is not None

    def pcm(self, name: str, language: str | None = None, rate: int = 8000) -> bytes | None:
        """The prompt as 16-bit mono PCM at ``rate`` (cached), None if not found.

        Raises WavError (naming the file) when the file cannot be converted.
        """
        file = self.find(name, language, wideband=rate > 8000)
        if file is None:
            return None
        return self._load_pcm(file, rate, cache=not os.path.isabs(name))

    def _load_pcm(self, file: str, rate: int, *, cache: bool = True) -> bytes:
        # Absolute names are recordings (voicemail messages, greetings): they are
        # renumbered and re-recorded in place, so they are read afresh each time.
        data = self._pcm.get((file, rate)) if cache else None
        if data is None:
            data = self._read_pcm(file, rate)
            if cache:
                self._pcm[(file, rate)] = data
        return data

    def _read_pcm(self, file: str, rate: int) -> bytes:
        ext = os.path.splitext(file)[1]
        if ext not in self.RAW_EXTENSIONS:
            return read_wav(file, rate)
        raw = self._read_raw(file)
        if ext == ".ulaw":
            pcm = ulaw_decode(raw)
        elif ext == ".alaw":
            pcm = alaw_decode(raw)
        elif ext == ".g722":
            pcm = g722.decode(raw)
        else:
            pcm = raw[: len(raw) // 2 * 2]
        return resample_pcm(pcm, self.RAW_RATES[ext], rate)

    @staticmethod
    def _read_raw(file: str) -> bytes:
        try:
            with open(file, "rb") as f:
                return f.read()
        except OSError as exc:
            raise WavError(f"{file}: cannot read: {exc.strerror or exc}") from exc

    def get(self, name: str, codec: Codec, language: str | None = None) -> bytes | None:
        """The whole prompt encoded in ``codec`` (cached: the same object each time).

        None if not found; WavError (naming the file) if it cannot be read or
        converted; CannotTranscode for a codec that is only passed through (Opus).
        """
        if not codec.transcodable:
            raise CannotTranscode(f"cannot play '{name}' in {codec.name}: it is passed "
                                  "through only")
        file = self.find(name, language, wideband=codec.sample_rate > 8000)
        if file is None:
            return None
        cache = not os.path.isabs(name)
        key = (file, codec.name)
        data = self._encoded.get(key) if cache else None
        if data is None:
            ext = os.path.splitext(file)[1]
            if self.RAW_EXTENSIONS.get(ext, "") == codec.name:
                # Already a payload in this codec: no decode/encode round trip.
                data = self._read_raw(file)
            else:
                assert codec.encode is not None
                data = codec.encode(self._load_pcm(file, codec.sample_rate, cache=cache))
            if cache:
                self._encoded[key] = data
        return data

    def clear(self) -> None:
        """Forget every cached prompt (after a reload or a prompt file changed)."""
        self._pcm.clear()
        self._encoded.clear()

    def __repr__(self) -> str:
        return f"PromptLibrary(path={self.path!r}, language={self.language!r})"
