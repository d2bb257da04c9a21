"""confbridge.conf: profiles, menus, defaults, templates, and file:line:col errors."""

from __future__ import annotations

from pathlib import Path

from pbx.conference.config import (
    ConfBridgeConfig,
    MenuAction,
    check_dialplan,
    load_confbridge_conf,
    parse_actions,
)
from pbx.diagnostics import Diagnostic

REPO = Path(__file__).resolve().parents[3]


def load(tmp_path: Path, text: str) -> tuple[ConfBridgeConfig, list[Diagnostic]]:
    path = tmp_path / "confbridge.conf"
    path.write_text(text)
    diags: list[Diagnostic] = []
    return load_confbridge_conf(path, diags), diags


def test_asterisks_basic_pbx_file_has_no_sections_and_gets_the_defaults(tmp_path: Path) -> None:
    cfg, diags = load(tmp_path, "; All conferences use default settings. This config must be "
                                "present to load the confbridge application\n")
    assert diags == []
    user, bridge, menu = cfg.user(), cfg.bridge(), cfg.menu()
    assert user is not None and bridge is not None and menu is not None
    assert not user.admin and not user.quiet and user.announce_only_user
    assert user.hear_own_join_sound and user.answer_channel
    assert bridge.max_members == 0 and not bridge.record_conference
    assert bridge.sound("only_person") == "conf-onlyperson"
    assert menu.entries == {}


def test_profiles_and_menu_as_asterisks_sample(tmp_path: Path) -> None:
    cfg, diags = load(tmp_path, """\
[general]

[admin_user]
type=user
admin=yes
marked=yes
pin=4242
music_on_hold_when_empty=yes
announce_user_count_all=3

[waiter](admin_user)
admin=no
wait_marked=yes
end_marked=yes

[big]
type=bridge
max_members=20
record_conference=yes
sound_only_person=my-only-prompt
internal_sample_rate=16000

[sample_user_menu]
type=menu
*=playback_and_continue(conf-usermenu)
*1=toggle_mute
1=toggle_mute
4=decrease_listening_volume
8=leave_conference
\\#5=admin_kick_last, playback(beep&goodbye)
b=no_op
9=dialplan_exec(internal,600,1)
""")
    assert [d for d in diags if d.severity == "error"] == []
    admin = cfg.user("admin_user")
    assert admin is not None and admin.admin and admin.marked and admin.pin == "4242"
    assert admin.announce_user_count_all and admin.announce_user_count_all_after == 3
    waiter = cfg.user("waiter")
    assert waiter is not None and not waiter.admin and waiter.marked  # from the template
    assert waiter.wait_marked and waiter.end_marked and waiter.pin == "4242"
    big = cfg.bridge("big")
    assert big is not None and big.max_members == 20 and big.record_conference
    assert big.sound("only_person") == "my-only-prompt"
    assert big.sound("kicked") == "conf-kicked" and big.internal_sample_rate == 16000
    menu = cfg.menu("sample_user_menu")
    assert menu is not None
    assert menu.entries["*"] == (MenuAction("playback_and_continue", "conf-usermenu"),)
    assert menu.entries["#5"] == (MenuAction("admin_kick_last"),
                                  MenuAction("playback", "beep&goodbye"))
    assert menu.entries["B"] == (MenuAction("no_op"),)  # A-D keep their case
    assert menu.entries["9"] == (MenuAction("dialplan_exec", "internal,600,1"),)
    # dialplan_exec is accepted with a warning: it does nothing here.
    assert any("dialplan_exec" in d.message and d.severity == "warning" for d in diags)


def test_copies_are_independent(tmp_path: Path) -> None:
    cfg, _ = load(tmp_path, "[b]\ntype=bridge\nsound_join=x\n")
    one = cfg.bridge("b")
    assert one is not None
    one.sounds["join"] = "changed"
    one.max_members = 3
    again = cfg.bridge("b")
    assert again is not None and again.sounds["join"] == "x" and again.max_members == 0


def test_errors_name_file_line_and_column(tmp_path: Path) -> None:
    _, diags = load(tmp_path, """\
[u]
type=user
admin=maybe
bogus=1
timeout=-3

[b]
type=bridge
max_members=lots
sound_nonsense=x
internal_sample_rate=4000

[m]
type=menu
1=toggle_mutt
2=playback
x9=toggle_mute

[what]
type=room

[notype]
admin=yes
""")
    errors = [str(d) for d in diags if d.severity == "error"]
    f = str(tmp_path / "confbridge.conf")
    assert f"{f}:3:7: admin: 'maybe' is not yes or no" in errors
    assert f"{f}:4:1: unknown user profile option 'bogus'" in errors
    assert f"{f}:5:9: timeout: '-3' is not a whole number >= 0" in errors
    assert f"{f}:9:13: max_members: 'lots' is not a whole number >= 0" in errors
    assert f"{f}:10:1: unknown sound 'sound_nonsense'" in errors
    assert any(e.startswith(f"{f}:11:") and "internal_sample_rate" in e for e in errors)
    assert f"{f}:15:3: unknown menu action 'toggle_mutt'" in errors
    assert f"{f}:16:3: playback needs its argument in parentheses: playback(...)" in errors
    assert any(e.startswith(f"{f}:17:1:") and "not a DTMF sequence" in e for e in errors)
    assert f"{f}:20:6: [what] needs type=user, type=bridge or type=menu, not 'room'" in errors
    assert any(e.startswith(f"{f}:22:1:") and "[notype] needs type=" in e for e in errors)
    assert len(errors) == 11


def test_options_without_effect_are_warnings(tmp_path: Path) -> None:
    _, diags = load(tmp_path, "[u]\ntype=user\ndenoise=yes\n[b]\ntype=bridge\n"
                              "video_mode=follow_talker\ninternal_sample_rate=48000\n")
    assert all(d.severity == "warning" for d in diags) and len(diags) == 3
    assert "no effect" in diags[0].message and "16000 used" in diags[2].message


def test_template_key_must_name_a_profile_above(tmp_path: Path) -> None:
    cfg, diags = load(tmp_path, """\
[base]
type=user
quiet=yes
[child]
type=user
template=base
admin=yes
[orphan]
type=user
template=later
""")
    child = cfg.user("child")
    assert child is not None and child.quiet and child.admin and child.name == "child"
    assert [str(d).split(": ", 1)[1] for d in diags] == [
        "template 'later' is not a user profile defined above"]


def test_parse_actions_keeps_commas_inside_parentheses() -> None:
    actions, err = parse_actions("dialplan_exec(ctx,100,1), toggle_mute")
    assert err is None
    assert actions == [MenuAction("dialplan_exec", "ctx,100,1"), MenuAction("toggle_mute")]
    assert parse_actions("")[1] == "no action given"
    assert parse_actions("toggle_mute(x)")[1] == "toggle_mute takes no argument"


def test_dialplan_confbridge_calls_checked_against_profiles(tmp_path: Path) -> None:
    from dialplan.parser import parse_dialplan

    ext = tmp_path / "extensions.conf"
    ext.write_text("[internal]\nexten => 1,1,ConfBridge(7000,big,nobody,${MENU})\n"
                   "exten => 2,1,ConfBridge(7000,default_bridge,,sample)\n")
    dialplan, problems = parse_dialplan(ext)
    assert problems == []
    cfg, _ = load(tmp_path, "[big]\ntype=bridge\n")
    diags = check_dialplan(cfg, dialplan)
    assert [str(d) for d in diags] == [
        f"{ext}:2:34: ConfBridge: no user profile 'nobody' in confbridge.conf",
        f"{ext}:3:46: ConfBridge: no menu 'sample' in confbridge.conf"]
    assert all(d.loadable for d in diags)


def test_shipped_sample_loads_cleanly() -> None:
    diags: list[Diagnostic] = []
    cfg = load_confbridge_conf(REPO / "etc" / "confbridge.conf", diags)
    assert [d for d in diags if d.severity == "error"] == []
    assert cfg.menu("sample_user_menu") is not None and cfg.menu("sample_admin_menu") is not None


def test_every_default_prompt_is_shipped() -> None:
    """A fresh checkout plays every conference prompt (binaural: no such mixing here)."""
    import wave

    from pbx.conference.config import SOUNDS

    names = [n for k, n in SOUNDS.items() if not k.startswith("binaural")]
    for name in [*names, "conf-usermenu", "conf-adminmenu", "vm-rec-name", "beep"]:
        path = REPO / "sounds" / "en" / f"{name}.wav"
        assert path.is_file(), f"missing {path}: run sounds/make_sounds.sh"
        with wave.open(str(path)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 8000)
