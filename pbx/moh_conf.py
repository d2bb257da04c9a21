"""musiconhold.conf: the music-on-hold classes, as Asterisk's res_musiconhold reads them.

A class is a ``[section]`` with ``mode=files`` (every sound file of
``directory=``, one entry per base name: ``song.wav`` and ``song.ulaw`` are
one song) or ``mode=playlist`` (``entry=`` lines: absolute paths without
extension, played in order), and ``sort=alpha|random|randstart`` (files
mode). A relative ``directory`` is looked up, as Asterisk resolves it
against its data folder, in the config dir, ``/var/lib/asterisk``,
``/usr/share/asterisk`` (where Debian's ``asterisk-moh-opsound-wav`` puts
``moh/``), the repository's ``sounds/asterisk`` (what `make sounds` unpacks
without root) and ``sounds/`` (``sounds/moh``: a few seconds of generated
music, so ``default`` always plays something). ``[default]`` exists
even when the file does not say it (``mode=files``, ``directory=moh``).

Problems are ``file:line:col`` diagnostics: an unknown mode or sort value is
an error; a folder that does not exist or holds no sound file, a playlist with
nothing to play, and modes this PBX does not run (``custom``, ``mp3``...) are
loadable errors (Asterisk drops the class and loads: ``pbx run`` starts with a
warning and the class plays ``default``; ``pbx check`` and ``--strict``
refuse them); a WAV that cannot be played (an MP3 renamed, GSM) is skipped
with a warning.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from pbx.conffile import Entry, Section, read_conf
from pbx.diagnostics import Diagnostic

REPO_SOUNDS = Path(__file__).resolve().parent.parent / "sounds"
# Where a relative `directory=` is looked for after the config dir (Asterisk:
# astdatalibdir, then Debian's package folder, then the repository's fallback).
DATA_DIRS = ("/var/lib/asterisk", "/usr/share/asterisk", str(REPO_SOUNDS / "asterisk"),
             str(REPO_SOUNDS))
# Sound files a class may hold (the prompt library reads these forms).
SOUND_EXTENSIONS = (".wav", ".ulaw", ".alaw", ".sln", ".g722", ".sln16")
SORTS = ("alpha", "random", "randstart")
MODES = ("files", "playlist")
# Modes of Asterisk's that run external programs or stream: not run here.
UNSUPPORTED_MODES = ("custom", "mp3", "quietmp3", "mp3nb", "quietmp3nb")
# Keys Asterisk knows that this PBX reads but does not act on (a warning each).
UNUSED_KEYS = frozenset({
    "digit", "announcement", "loop_last", "answeredonly", "application", "format",
    "kill_escalation_delay", "kill_method"})
DEFAULT_CLASS = "default"


@dataclass(frozen=True, slots=True)
class MohClass:
    """One class: what it plays, in which order."""

    name: str
    mode: str = "files"
    directory: str | None = None  # the folder found (files mode)
    sort: str = "alpha"
    # Base paths without extension (the prompt library picks the form per codec),
    # alphabetical for files mode, as written for a playlist.
    files: tuple[str, ...] = ()
    file: str = ""
    line: int = 0


@dataclass(slots=True)
class MohConfig:
    """Every class by name, and [general]'s choice of whose class wins."""

    classes: dict[str, MohClass] = field(default_factory=dict)
    # preferchannelclass=yes: CHANNEL(musicclass) beats the class a holder suggests.
    prefer_channel_class: bool = True

    def get(self, name: str | None) -> MohClass | None:
        return self.classes.get(name) if name else None


def data_dirs(config_dir: str | os.PathLike[str]) -> list[str]:
    """The folders a relative `directory=` is looked up in, in order."""
    return [os.fspath(config_dir), *DATA_DIRS]


def scan_folder(folder: str) -> list[str]:
    """Base paths of the sound files in ``folder``, alphabetical (one per base name)."""
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    bases = set()
    for name in names:
        base, ext = os.path.splitext(name)
        if name.startswith(".") or ext.lower() not in SOUND_EXTENSIONS:
            continue
        if os.path.isfile(os.path.join(folder, name)):
            bases.add(os.path.join(folder, base))
    return sorted(bases)


def find_folder(directory: str, search: list[str]) -> tuple[str | None, list[str]]:
    """(the folder `directory` names, its files): absolute as is, relative through
    ``search`` (the first place with sound files wins); (None, []) if none."""
    if os.path.isabs(directory):
        return (directory, scan_folder(directory)) if os.path.isdir(directory) else (None, [])
    first_dir = None
    for base in search:
        folder = os.path.join(base, directory)
        if not os.path.isdir(folder):
            continue
        first_dir = first_dir or folder
        files = scan_folder(folder)
        if files:
            return folder, files
    return first_dir, []


def sound_file(base: str) -> str | None:
    """The file a base path names (.wav first, then the raw forms)."""
    for ext in SOUND_EXTENSIONS:
        if os.path.isfile(base + ext):
            return base + ext
    return None


def check_sound(path: str) -> str | None:
    """Why ``path`` cannot be played (None when it can): a WAV's header is read."""
    if not path.lower().endswith(".wav"):
        return None
    from pbx.media.wav import WavError, read_wav_format

    try:
        with open(path, "rb") as f:
            head = f.read(65536)
        fmt = read_wav_format(path, head)
    except OSError as exc:
        return f"{path}: cannot read: {exc.strerror or exc}"
    except WavError as exc:
        return str(exc)
    if fmt.format_tag not in (0x0001, 0x0003, 0x0006, 0x0007):
        return f"{path}: {fmt.format_name} WAV cannot be played: convert it to PCM"
    return None


def load_moh_conf(path: str | os.PathLike[str], diagnostics: list[Diagnostic],
                  search: list[str] | None = None) -> MohConfig:
    """Read musiconhold.conf (a missing file: only the built-in ``default``)."""
    path = Path(path)
    search = search if search is not None else data_dirs(path.parent)
    config = MohConfig()
    if path.exists():
        conf = read_conf(path, diagnostics)
        for section in conf.sections:
            if section.is_template:
                continue
            if section.name == "general":
                _general(section, config, diagnostics)
                continue
            if section.name in config.classes:
                first = config.classes[section.name]
                diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                              f"class [{section.name}] defined twice (first "
                                              f"at {first.file}:{first.line})"))
                continue
            moh = _class(section, search, diagnostics)
            if moh is not None:
                config.classes[moh.name] = moh
    if DEFAULT_CLASS not in config.classes:
        folder, files = find_folder("moh", search)
        config.classes[DEFAULT_CLASS] = MohClass(DEFAULT_CLASS, directory=folder,
                                                 files=tuple(files), file=str(path))
    return config


def _general(section: Section, config: MohConfig, diagnostics: list[Diagnostic]) -> None:
    for entry in section.entries:
        if entry.key == "preferchannelclass":
            value = _bool(entry, diagnostics)
            if value is not None:
                config.prefer_channel_class = value
        elif entry.key == "cachertclasses":
            _bool(entry, diagnostics)  # realtime classes: nothing to cache here
        else:
            diagnostics.append(entry.diag(f"unknown option '{entry.key}' in [general]",
                                          on_value=False, severity="warning"))


def _bool(entry: Entry, diagnostics: list[Diagnostic]) -> bool | None:
    low = entry.value.strip().lower()
    if low in ("yes", "true", "y", "t", "1", "on"):
        return True
    if low in ("no", "false", "n", "f", "0", "off"):
        return False
    diagnostics.append(entry.diag(f"{entry.key} must be yes or no, got {entry.value!r}"))
    return None


def _class(section: Section, search: list[str],
           diagnostics: list[Diagnostic]) -> MohClass | None:
    name = section.name
    mode, sort = "files", "alpha"
    directory: Entry | None = None
    entries: list[Entry] = []
    mode_entry: Entry | None = None
    for entry in section.entries:
        key, value = entry.key, entry.value.strip()
        if key == "mode":
            mode_entry = entry
            mode = value.lower()
        elif key == "directory":
            directory = entry
        elif key == "sort":
            if value.lower() not in SORTS:
                diagnostics.append(entry.diag(f"sort must be one of {', '.join(SORTS)}, "
                                              f"got {value!r}"))
            else:
                sort = value.lower()
        elif key == "entry":
            entries.append(entry)
        elif key in UNUSED_KEYS:
            diagnostics.append(entry.diag(f"option '{key}' in [{name}] is Asterisk's but this "
                                          "PBX does not use it (ignored)", on_value=False,
                                          severity="warning"))
        else:
            diagnostics.append(entry.diag(f"unknown option '{key}' in [{name}]",
                                          on_value=False, severity="warning"))
    if mode in UNSUPPORTED_MODES:
        assert mode_entry is not None
        diagnostics.append(Diagnostic(
            mode_entry.file, mode_entry.line, mode_entry.value_col,
            f"mode={mode} (an external player) is not supported: use mode=files; "
            f"[{name}] plays the default class", loadable=True))
        return None
    if mode not in MODES:
        assert mode_entry is not None
        diagnostics.append(mode_entry.diag(f"mode must be files or playlist, got {mode!r}"))
        return None
    if mode == "playlist":
        return _playlist(section, entries, sort, diagnostics)
    if directory is None:
        diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                      f"class [{name}] (mode=files) needs directory="))
        return None
    folder, files = find_folder(directory.value.strip(), search)
    if folder is None:
        places = (directory.value if os.path.isabs(directory.value)
                  else ", ".join(os.path.join(b, directory.value) for b in search))
        diagnostics.append(_loadable(directory.diag(f"music-on-hold folder not found: {places}")))
        return None
    playable = _playable(files, directory, diagnostics)
    if not playable:
        diagnostics.append(_loadable(directory.diag(
            f"{folder} holds no sound file this PBX can play "
            f"({', '.join(SOUND_EXTENSIONS)})")))
        return None
    return MohClass(name, "files", folder, sort, tuple(playable), section.file, section.line)


def _playlist(section: Section, entries: list[Entry], sort: str,
              diagnostics: list[Diagnostic]) -> MohClass | None:
    files = []
    for entry in entries:
        value = entry.value.strip()
        if "://" in value:
            diagnostics.append(entry.diag("HTTP(S) entries are not supported (skipped)",
                                          severity="warning"))
            continue
        if not os.path.isabs(value):
            diagnostics.append(entry.diag("a playlist entry must be an absolute path "
                                          "without extension"))
            continue
        base, ext = os.path.splitext(value)
        if ext.lower() in SOUND_EXTENSIONS:
            value = base
        if sound_file(value) is None:
            diagnostics.append(entry.diag(f"no sound file {value}"
                                          f"{{{','.join(SOUND_EXTENSIONS)}}}"))
            continue
        if _playable([value], entry, diagnostics):
            files.append(value)
    if not files:
        diagnostics.append(Diagnostic(section.file, section.line, section.col,
                                      f"class [{section.name}] (mode=playlist) has no entry= "
                                      "that can be played", loadable=True))
        return None
    return MohClass(section.name, "playlist", None, sort, tuple(files), section.file,
                    section.line)


def _loadable(diagnostic: Diagnostic) -> Diagnostic:
    """A class Asterisk would drop at load (no music where it says): `pbx run`
    starts with a warning and the class plays `default`; `pbx check` refuses."""
    return replace(diagnostic, loadable=True, message=f"{diagnostic.message} "
                   "(the class plays default)")


def _playable(bases: list[str], at: Entry, diagnostics: list[Diagnostic]) -> list[str]:
    """The base paths whose file can be played; the others get a warning each."""
    out = []
    for base in bases:
        file = sound_file(base)
        problem = check_sound(file) if file else f"{base}: not found"
        if problem is None:
            out.append(base)
        else:
            diagnostics.append(at.diag(f"{problem} (skipped)", severity="warning"))
    return out


def check_peer_classes(config: MohConfig, peers: dict) -> list[Diagnostic]:
    """A peer's mohsuggest/mohinterpret (moh_suggest) naming no class: a warning
    (Asterisk plays `default` then)."""
    out = []
    for peer in peers.values():
        for key in ("mohsuggest", "mohinterpret"):
            name = getattr(peer, key, None)
            if name and name not in config.classes:
                out.append(Diagnostic(peer.file, peer.line, 1,
                                      f"[{peer.name}] {key}={name}: no such class in "
                                      "musiconhold.conf (default plays instead)", "warning"))
    return out
