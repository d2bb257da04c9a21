"""confbridge.conf as Asterisk's app_confbridge reads it.

Every section but ``[general]`` (reserved, as in Asterisk) has ``type=user``,
``type=bridge`` or ``type=menu``. ``default_user`` and ``default_bridge`` (and an
empty ``default_menu``) always exist, with Asterisk's defaults, so a file with
no sections at all (Asterisk's basic-pbx ships one) works. A profile may start
from another with ``template=name`` or the ``[name](template)`` syntax.

Problems are ``file:line:col`` diagnostics: an unknown option, a wrong value or
a menu action nobody knows is an error (Asterisk refuses to load such a file);
an option Asterisk has that this PBX does not act on (video, REMB, denoise,
talk detection...) is a warning naming it.

The same option tables serve ``Set(CONFBRIDGE(user,quiet)=yes)``: `apply_option`
changes one profile and returns the error text, or None.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pbx.conffile import Entry, Section, read_conf
from pbx.diagnostics import Diagnostic

DEFAULT_USER = "default_user"
DEFAULT_BRIDGE = "default_bridge"
DEFAULT_MENU = "default_menu"

_TRUE = {"yes", "true", "y", "t", "1", "on"}
_FALSE = {"no", "false", "n", "f", "0", "off"}

# The prompts of a bridge profile: option name -> Asterisk's default file
# (conf_get_sound() in app_confbridge.c).
SOUNDS: dict[str, str] = {
    "has_joined": "conf-hasjoin",
    "has_left": "conf-hasleft",
    "kicked": "conf-kicked",
    "muted": "conf-muted",
    "unmuted": "conf-unmuted",
    "binaural_on": "confbridge-binaural-on",
    "binaural_off": "confbridge-binaural-off",
    "only_one": "conf-onlyone",
    "there_are": "conf-thereare",
    "other_in_party": "conf-otherinparty",
    "place_into_conference": "conf-placeintoconf",
    "wait_for_leader": "conf-waitforleader",
    "leader_has_left": "conf-leaderhasleft",
    "get_pin": "conf-getpin",
    "invalid_pin": "conf-invalidpin",
    "only_person": "conf-onlyperson",
    "locked": "conf-locked",
    "locked_now": "conf-lockednow",
    "unlocked_now": "conf-unlockednow",
    "error_menu": "conf-errormenu",
    "join": "confbridge-join",
    "leave": "confbridge-leave",
    "participants_muted": "conf-now-muted",
    "participants_unmuted": "conf-now-unmuted",
    "begin": "confbridge-conf-begin",
}


@dataclass(slots=True)
class UserProfile:
    """A `type=user` section: how one caller takes part."""

    name: str = DEFAULT_USER
    admin: bool = False
    marked: bool = False
    startmuted: bool = False
    music_on_hold_when_empty: bool = False
    music_on_hold_class: str = ""
    quiet: bool = False
    hear_own_join_sound: bool = True
    announce_user_count: bool = False
    announce_user_count_all: bool = False
    announce_user_count_all_after: int = 0  # announce_user_count_all=N: only above N
    announce_only_user: bool = True
    wait_marked: bool = False
    end_marked: bool = False
    end_marked_any: bool = False
    pin: str = ""
    announce_join_leave: bool = False
    announce_join_leave_review: bool = False
    announcement: str = ""
    timeout: int = 0  # seconds in the conference; 0: no limit
    answer_channel: bool = True
    dtmf_passthrough: bool = False


@dataclass(slots=True)
class BridgeProfile:
    """A `type=bridge` section: how the room behaves."""

    name: str = DEFAULT_BRIDGE
    max_members: int = 0  # 0: no limit; admins always get in
    record_conference: bool = False
    record_file: str = ""
    record_file_append: bool = True
    record_file_timestamp: bool = True
    internal_sample_rate: int = 0  # 0: auto (16 kHz when a member is wideband)
    maximum_sample_rate: int = 0  # 0: none
    mixing_interval: int = 20
    language: str = "en"
    sounds: dict[str, str] = field(default_factory=dict)  # overrides of SOUNDS

    def sound(self, which: str) -> str:
        """The prompt for an event (the profile's sound_<which>, or Asterisk's)."""
        return self.sounds.get(which) or SOUNDS[which]


# Menu actions: name -> whether it takes an argument in parentheses.
MENU_ACTIONS: dict[str, bool] = {
    "toggle_mute": False, "toggle_binaural": False, "no_op": False,
    "increase_listening_volume": False, "decrease_listening_volume": False,
    "reset_listening_volume": False, "increase_talking_volume": False,
    "decrease_talking_volume": False, "reset_talking_volume": False,
    "admin_toggle_conference_lock": False, "admin_toggle_mute_participants": False,
    "participant_count": False, "admin_kick_last": False, "leave_conference": False,
    "set_as_single_video_src": False, "release_as_single_video_src": False,
    "playback": True, "playback_and_continue": True, "dialplan_exec": True,
}
# Actions accepted but without effect here (no video, no binaural mixing, and
# dialplan_exec would need a second dialplan run inside the conference).
UNSUPPORTED_ACTIONS = {"toggle_binaural", "set_as_single_video_src",
                       "release_as_single_video_src", "dialplan_exec"}


@dataclass(frozen=True, slots=True)
class MenuAction:
    name: str  # one of MENU_ACTIONS
    arg: str = ""  # playback files (a&b), dialplan_exec's context,exten,priority


@dataclass(slots=True)
class Menu:
    """A `type=menu` section: DTMF sequence -> actions, in order."""

    name: str = DEFAULT_MENU
    entries: dict[str, tuple[MenuAction, ...]] = field(default_factory=dict)


@dataclass(slots=True)
class ConfBridgeConfig:
    """Everything confbridge.conf defines (always with the three defaults)."""

    users: dict[str, UserProfile] = field(default_factory=dict)
    bridges: dict[str, BridgeProfile] = field(default_factory=dict)
    menus: dict[str, Menu] = field(default_factory=dict)
    file: str = ""

    def __post_init__(self) -> None:
        self.users.setdefault(DEFAULT_USER, UserProfile())
        self.bridges.setdefault(DEFAULT_BRIDGE, BridgeProfile())
        self.menus.setdefault(DEFAULT_MENU, Menu())

    def user(self, name: str = "") -> UserProfile | None:
        """A copy of a user profile (blank: default_user), or None."""
        p = self.users.get(name or DEFAULT_USER)
        return _copy(p) if p is not None else None

    def bridge(self, name: str = "") -> BridgeProfile | None:
        p = self.bridges.get(name or DEFAULT_BRIDGE)
        return _copy(p) if p is not None else None

    def menu(self, name: str = "") -> Menu | None:
        return self.menus.get(name or DEFAULT_MENU)


def _copy(p: Any) -> Any:
    out = replace(p)
    if isinstance(out, BridgeProfile):
        out.sounds = dict(out.sounds)
    return out


# --- option tables -------------------------------------------------------------
def _bool(value: str) -> bool | str:
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    return f"'{value}' is not yes or no"


def _uint(value: str) -> int | str:
    v = value.strip()
    if not v.isdigit():
        return f"'{value}' is not a whole number >= 0"
    return int(v)


def _text(value: str) -> str:
    return value.strip()


_USER_OPTIONS = {name: _bool for name in (
    "admin", "marked", "startmuted", "music_on_hold_when_empty", "quiet",
    "hear_own_join_sound", "announce_user_count", "announce_only_user", "wait_marked",
    "end_marked", "end_marked_any", "announce_join_leave", "announce_join_leave_review",
    "answer_channel", "dtmf_passthrough")}
_USER_OPTIONS.update({"pin": _text, "music_on_hold_class": _text, "announcement": _text,
                      "timeout": _uint})
# Options Asterisk has that change nothing here (talk detection, denoise, events...).
_USER_IGNORED = {"send_events", "echo_events", "talk_detection_events", "denoise",
                 "dsp_drop_silence", "dsp_silence_threshold", "dsp_talking_threshold",
                 "jitterbuffer", "text_messaging"}

_BRIDGE_OPTIONS = {name: _bool for name in (
    "record_conference", "record_file_append", "record_file_timestamp")}
_BRIDGE_OPTIONS.update({"max_members": _uint, "record_file": _text, "language": _text})
_BRIDGE_IGNORED = {"jitterbuffer", "binaural_active", "video_mode", "record_options",
                   "record_command", "regcontext", "video_update_discard",
                   "remb_send_interval", "remb_behavior", "remb_estimated_bitrate",
                   "enable_events"}
_RATES = (8000, 16000)  # what the mixer runs at


def apply_option(profile: UserProfile | BridgeProfile, key: str, value: str,
                 warnings: list[str] | None = None) -> str | None:
    """Set one option on a profile; the error text, or None. Options without
    effect here add a note to `warnings` (when given)."""
    key = key.strip().lower()
    if isinstance(profile, UserProfile):
        return _apply_user(profile, key, value, warnings)
    return _apply_bridge(profile, key, value, warnings)


def _apply_user(p: UserProfile, key: str, value: str, warnings: list[str] | None) -> str | None:
    if key == "announce_user_count_all":
        b = _bool(value)
        if isinstance(b, bool):
            p.announce_user_count_all, p.announce_user_count_all_after = b, 0
            return None
        n = _uint(value)
        if isinstance(n, str):
            return f"announce_user_count_all: '{value}' is not yes, no or a number"
        p.announce_user_count_all, p.announce_user_count_all_after = True, n
        return None
    if key in _USER_IGNORED:
        if warnings is not None:
            warnings.append(f"user option '{key}' is accepted but has no effect in this PBX")
        return None
    parse = _USER_OPTIONS.get(key)
    if parse is None:
        return f"unknown user profile option '{key}'"
    parsed = parse(value)
    if isinstance(parsed, str) and parse is not _text:
        return f"{key}: {parsed}"
    if key == "announce_join_leave_review" and parsed and warnings is not None:
        warnings.append("announce_join_leave_review: the name is recorded without the "
                        "review step (as announce_join_leave)")
    setattr(p, key, parsed)
    return None


def _apply_bridge(p: BridgeProfile, key: str, value: str,
                  warnings: list[str] | None) -> str | None:
    if key.startswith("sound_"):
        which = key[len("sound_"):]
        if which not in SOUNDS:
            return f"unknown sound '{key}'"
        if not value.strip():
            return f"{key} needs a prompt name"
        p.sounds[which] = value.strip()
        return None
    if key in ("internal_sample_rate", "maximum_sample_rate"):
        word = "auto" if key == "internal_sample_rate" else "none"
        v = value.strip().lower()
        if v == word:
            setattr(p, key, 0)
            return None
        n = _uint(v)
        if isinstance(n, str) or not 8000 <= n <= 192000:
            return f"{key}: '{value}' is not {word} or a rate from 8000 to 192000"
        rate = min(_RATES, key=lambda r: abs(r - n))
        if rate != n and warnings is not None:
            warnings.append(f"{key}={n}: conferences mix at 8000 or 16000 Hz here; {rate} used")
        setattr(p, key, rate)
        return None
    if key == "mixing_interval":
        n = _uint(value)
        if isinstance(n, str) or n not in (10, 20, 40, 80):
            return f"mixing_interval: '{value}' is not 10, 20, 40 or 80"
        if n != 20 and warnings is not None:
            warnings.append(f"mixing_interval={n}: conferences mix on the 20 ms media clock")
        p.mixing_interval = 20
        return None
    if key in _BRIDGE_IGNORED:
        if warnings is not None:
            warnings.append(f"bridge option '{key}' is accepted but has no effect in this PBX")
        return None
    parse = _BRIDGE_OPTIONS.get(key)
    if parse is None:
        return f"unknown bridge profile option '{key}'"
    parsed = parse(value)
    if isinstance(parsed, str) and parse is not _text:
        return f"{key}: {parsed}"
    setattr(p, key, parsed)
    return None


# --- menus ------------------------------------------------------------------------
DTMF_SEQUENCE = re.compile(r"^[0-9A-D*#]+$")


def parse_actions(text: str) -> tuple[list[MenuAction], str | None]:
    """`playback(a&b), toggle_mute` -> actions; commas inside parentheses belong
    to the action's argument (dialplan_exec(ctx,exten,1))."""
    actions: list[MenuAction] = []
    depth = 0
    start = 0
    parts: list[str] = []
    for i, ch in enumerate(text):
        if ch == "(":
            depth += 1
        elif ch == ")":
            depth = max(0, depth - 1)
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    for part in (p.strip() for p in parts):
        if not part:
            continue
        name, paren, rest = part.partition("(")
        name = name.strip().lower()
        takes_arg = MENU_ACTIONS.get(name)
        if takes_arg is None:
            return actions, f"unknown menu action '{name}'"
        if takes_arg:
            if not paren or not rest.rstrip().endswith(")"):
                return actions, f"{name} needs its argument in parentheses: {name}(...)"
            arg = rest.rstrip()[:-1].strip()
            if not arg:
                return actions, f"{name}() needs an argument"
            actions.append(MenuAction(name, arg))
        else:
            if paren:
                return actions, f"{name} takes no argument"
            actions.append(MenuAction(name))
    if not actions:
        return actions, "no action given"
    return actions, None


# --- loading -------------------------------------------------------------------------
def load_confbridge_conf(path: Path, diagnostics: list[Diagnostic]) -> ConfBridgeConfig:
    """Read confbridge.conf; problems go to `diagnostics` (errors and warnings)."""
    conf = read_conf(path, diagnostics)
    cfg = ConfBridgeConfig(file=str(path))
    defined: dict[str, str] = {}  # name -> type, in file order (templates must come first)
    for section in conf.sections:
        if section.name.lower() == "general" or section.is_template:
            continue
        type_entry = section.entry("type")
        kind = (type_entry.value.lower() if type_entry else "")
        if kind not in ("user", "bridge", "menu"):
            where = type_entry.diag if type_entry else _section_diag(section)
            diagnostics.append(where(
                f"[{section.name}] needs type=user, type=bridge or type=menu"
                + (f", not '{type_entry.value}'" if type_entry else "")))
            continue
        if section.name in defined and defined[section.name] != kind:
            diagnostics.append(_section_diag(section)(
                f"[{section.name}] is already a {defined[section.name]} profile"))
            continue
        defined[section.name] = kind
        if kind == "menu":
            cfg.menus[section.name] = _load_menu(section, cfg, diagnostics)
        elif kind == "user":
            cfg.users[section.name] = _load_profile(section, UserProfile(name=section.name),
                                                    cfg.users, diagnostics)
        else:
            cfg.bridges[section.name] = _load_profile(
                section, BridgeProfile(name=section.name), cfg.bridges, diagnostics)
    return cfg


def _section_diag(section: Section) -> Any:
    def make(message: str, severity: str = "error") -> Diagnostic:
        return Diagnostic(section.file, section.line, section.col, message, severity)
    return make


def _load_profile(section: Section, profile: Any, known: dict[str, Any],
                  diagnostics: list[Diagnostic]) -> Any:
    for entry in section.entries:
        if entry.key == "type":
            continue
        if entry.key == "template":
            base = known.get(entry.value.strip())
            if base is None:
                diagnostics.append(entry.diag(
                    f"template '{entry.value}' is not a {_kind(profile)} profile defined "
                    "above"))
                continue
            name = profile.name
            profile = _copy(base)
            profile.name = name
            continue
        notes: list[str] = []
        error = apply_option(profile, entry.key, entry.value, notes)
        if error is not None:
            diagnostics.append(entry.diag(error, on_value=not error.startswith("unknown")))
        for note in notes:
            diagnostics.append(entry.diag(note, on_value=False, severity="warning"))
    return profile


def _kind(profile: Any) -> str:
    return "user" if isinstance(profile, UserProfile) else "bridge"


def _load_menu(section: Section, cfg: ConfBridgeConfig,
               diagnostics: list[Diagnostic]) -> Menu:
    menu = Menu(name=section.name)
    for entry in section.entries:
        if entry.key == "type":
            continue
        if entry.key == "template":
            base = cfg.menus.get(entry.value.strip())
            if base is None:
                diagnostics.append(entry.diag(f"template '{entry.value}' is not a menu "
                                              "defined above"))
            else:
                menu.entries.update(base.entries)
            continue
        dtmf = _menu_key(entry)
        if dtmf is None:
            diagnostics.append(entry.diag(
                f"'{entry.key}' is not a DTMF sequence (digits 0-9, *, #, A-D)",
                on_value=False))
            continue
        actions, error = parse_actions(entry.value)
        if error is not None:
            diagnostics.append(entry.diag(error))
            continue
        for action in actions:
            if action.name in UNSUPPORTED_ACTIONS:
                diagnostics.append(entry.diag(f"menu action '{action.name}' does nothing in "
                                              "this PBX", severity="warning"))
        menu.entries[dtmf] = tuple(actions)
    return menu


def _menu_key(entry: Entry) -> str | None:
    # conffile lowercases keys (A-D come back as a-d); `\#1` is Asterisk's escape
    # for a sequence starting with '#'.
    key = entry.key.replace("\\#", "#").upper()
    return key if DTMF_SEQUENCE.match(key) else None


def load_confbridge(config_dir: Path, dialplan: Any,
                    diagnostics: list[Diagnostic]) -> ConfBridgeConfig:
    """confbridge.conf of the config folder (the defaults alone when there is none),
    and the ConfBridge() calls of the dialplan checked against it."""
    path = Path(config_dir) / "confbridge.conf"
    cfg = load_confbridge_conf(path, diagnostics) if path.exists() else ConfBridgeConfig()
    if dialplan is not None:
        diagnostics.extend(check_dialplan(cfg, dialplan))
    return cfg


def check_dialplan(cfg: ConfBridgeConfig, dialplan: Any) -> list[Diagnostic]:
    """ConfBridge(room,bridge,user,menu) naming a profile or menu nobody defines: the
    call would fail there (Asterisk loads it: an error `pbx run` tolerates)."""
    out = []
    kinds = (("bridge profile", cfg.bridges), ("user profile", cfg.users), ("menu", cfg.menus))
    for context in dialplan.contexts.values():
        for extension in context.extensions.values():
            for step in extension.steps.values():
                if step.app.lower() != "confbridge":
                    continue
                args = re.split(r"(?<!\\),", step.args)
                offset = len(args[0]) + 1
                for (what, known), arg in zip(kinds, args[1:4], strict=False):
                    name = arg.strip()
                    if name and "${" not in name and "$[" not in name and name not in known:
                        pos = step.app_pos
                        out.append(Diagnostic(
                            pos.file, pos.line, pos.col + len(step.app) + 1 + offset,
                            f"ConfBridge: no {what} '{name}' in confbridge.conf",
                            loadable=True))
                    offset += len(arg) + 1
    return out
