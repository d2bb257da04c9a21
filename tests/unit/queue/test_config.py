"""queues.conf: Asterisk's defaults and spellings, templates and #include, members,
problems as file:line:col; the AstDB form of dynamic members; Asterisk's own
basic-pbx queues.conf."""

from __future__ import annotations

from pathlib import Path

from pbx.config import load_config
from pbx.diagnostics import ConfigError
from pbx.queue.config import load_queues_conf
from pbx.queue.members import MemberSpec, decode_members, encode_members, parse_member

BASIC_PBX = Path(__file__).resolve().parents[2] / "fixtures" / "basic-pbx"


def load(tmp: Path, text: str, name: str = "queues.conf"):
    path = tmp / name
    path.write_text(text)
    diags: list = []
    return load_queues_conf(path, diags), diags


def test_defaults_are_asterisks(tmp_path: Path) -> None:
    conf, diags = load(tmp_path, "[q]\nmember => PJSIP/1101\n")
    assert diags == []
    q = conf.queues["q"]
    assert (q.strategy, q.timeout, q.retry, q.wrapuptime, q.maxlen, q.weight) == \
        ("ringall", 15, 5, 0, 0, 0)
    assert q.ringinuse and q.autofill is None and not conf.general.autofill
    assert (q.announce_position, q.announce_holdtime, q.min_announce_frequency) == \
        ("yes", "yes", 15)
    assert q.periodic_announce == ["queue-periodic-announce"]
    assert not q.joinempty and not q.leavewhenempty
    assert not conf.general.persistentmembers
    assert [m.interface for m in q.members] == ["PJSIP/1101"]


def test_templates_include_and_options(tmp_path: Path) -> None:
    (tmp_path / "members.conf").write_text("member => SIP/6001,1,\"Bob Jones\"\n")
    conf, diags = load(tmp_path, """\
[general]
persistentmembers=yes
autofill=yes

[base](!)
strategy=rrmemory
timeout=20
musicclass=office
joinempty=paused,inuse
leavewhenempty=strict

[sales](base)
#include members.conf
member => PJSIP/1101,0,Maria,PJSIP/1101,no,10,yes
periodic-announce=queue-periodic-announce|custom-pls-hold
announce-holdtime=once
announce-position=limit
""")
    assert [str(d) for d in diags] == []
    assert conf.general.persistentmembers and conf.general.autofill
    q = conf.queues["sales"]
    assert "base" not in conf.queues
    assert (q.strategy, q.timeout, q.musicclass) == ("rrmemory", 20, "office")
    assert q.joinempty.conditions == {"paused", "inuse"}
    assert q.leavewhenempty.conditions == {"penalty", "paused", "invalid", "unavailable"}
    assert q.leavewhenempty.legacy_strict
    assert q.periodic_announce == ["queue-periodic-announce", "custom-pls-hold"]
    assert (q.announce_holdtime, q.announce_position) == ("once", "limit")
    bob, maria = q.members
    assert (bob.interface, bob.penalty, bob.name) == ("SIP/6001", 1, "Bob Jones")
    assert (maria.name, maria.ringinuse, maria.wrapuptime, maria.paused) == \
        ("Maria", False, 10, True)


def test_problems_point_at_file_line_col(tmp_path: Path) -> None:
    _, diags = load(tmp_path, """\
[q]
strategy=fastest
timeout=abc
member => PJSIP/1101,high
frobnicate=1
monitor-format=wav
joinempty=paused,sometimes
member => PJSIP/1101
""")
    text = [str(d) for d in sorted(diags, key=lambda d: d.line)]
    path = str(tmp_path / "queues.conf")
    assert f"{path}:2:10: 'fastest' isn't a valid strategy" in text[0]
    assert text[1].startswith(f"{path}:3:9: timeout: 'abc' is not a whole number")
    assert text[2].startswith(f"{path}:4:22: member PJSIP/1101: penalty 'high'")
    assert text[3].startswith(f"{path}:5:1: warning: unknown option 'frobnicate'")
    assert text[4].startswith(f"{path}:6:1: warning: 'monitor-format' is accepted but")
    assert text[5].startswith(f"{path}:7:11: joinempty: unknown condition 'sometimes'")
    assert text[6].startswith(f"{path}:8:11: warning: member PJSIP/1101 is already in queue")
    # Errors Asterisk loads anyway: `pbx run` warns, `pbx check` refuses.
    assert [d.loadable for d in diags if d.severity == "error"] == [True] * 4


def test_member_lines_and_persistent_form() -> None:
    spec, problems = parse_member("SIP/6001, 3, Alice Smith, Custom:alice, yes, 15, no")
    assert problems == [] and spec is not None
    assert (spec.penalty, spec.name, spec.state_interface, spec.ringinuse, spec.wrapuptime) \
        == (3, "Alice Smith", "Custom:alice", True, 15)
    assert parse_member("")[0] is None
    members = [MemberSpec("PJSIP/1101", 2, "Maria", paused=True, reason="lunch", dynamic=True),
               MemberSpec("SIP/6001", dynamic=True)]
    value = encode_members(members)
    # app_queue.c dump_queue_members: interface;penalty;paused;name;state_interface;reason;wrapup
    assert value == "PJSIP/1101;2;1;Maria;PJSIP/1101;lunch;0|SIP/6001;0;0;SIP/6001;SIP/6001;;0"
    back, problems = decode_members(value)
    assert problems == []
    assert [(m.interface, m.penalty, m.paused, m.membername, m.reason) for m in back] == \
        [("PJSIP/1101", 2, True, "Maria", "lunch"), ("SIP/6001", 0, False, "SIP/6001", "")]
    # What an older Asterisk wrote (fewer fields) is read too; garbage is reported.
    old, problems = decode_members("SIP/7001;1;0;Old|broken")
    assert [m.interface for m in old] == ["SIP/7001"] and len(problems) == 1


def test_asterisk_basic_pbx_queues_and_dialplan_check_clean(tmp_path: Path) -> None:
    """Asterisk's configs/basic-pbx queues.conf (verbatim) with the two Queue() calls
    of its extensions.conf: no error; the members name pjsip endpoints."""
    (tmp_path / "queues.conf").write_text((BASIC_PBX / "queues.conf").read_text())
    endpoints = "".join(f"[{n}]\ntype=endpoint\ncontext=Long-Distance\n"
                        for n in ("1101", "1102", "1105", "1109", "1112", "1115"))
    (tmp_path / "pjsip.conf").write_text(endpoints)
    (tmp_path / "extensions.conf").write_text("""\
[Long-Distance]
exten = 2565551200,1,Verbose(1, "User ${CALLERID(num)} dialed the sales queue.")
 same = n,Answer()
 same = n,Queue(sales,,,,300)
exten = 2565551250,1,Answer()
 same = n,Queue(customer_advocate,,,,1200)
 same = n,Queue(nonesuch)
""")
    config = load_config(tmp_path)
    assert sorted(config.queues.queues) == ["customer_advocate", "sales"]
    sales = config.queues.queues["sales"]
    assert sales.strategy == "ringall"
    assert [m.interface for m in sales.members] == ["PJSIP/1109", "PJSIP/1105", "PJSIP/1112"]
    warnings = [str(w) for w in config.warnings]
    assert any("Queue(nonesuch): no queue 'nonesuch'" in w for w in warnings), warnings
    assert not [w for w in warnings if "member" in w], warnings


def test_a_member_naming_no_peer_is_a_warning_and_bad_values_fail_check(tmp_path: Path) -> \
        None:
    (tmp_path / "sip.conf").write_text("[6001]\ntype=friend\nhost=dynamic\nsecret=x\ncontext=c\n")
    (tmp_path / "extensions.conf").write_text("[c]\nexten => 1,1,Queue(q)\n")
    (tmp_path / "queues.conf").write_text("[q]\nmember => SIP/6001\nmember => PJSIP/9999\n")
    config = load_config(tmp_path)
    assert [str(w).split(": ", 1)[1] for w in config.warnings] == \
        ["warning: member PJSIP/9999: no endpoint '9999' in sip.conf or pjsip.conf"]
    (tmp_path / "queues.conf").write_text("[q]\ntimeout=soon\n")
    try:
        load_config(tmp_path)
    except ConfigError as exc:
        assert "queues.conf:2:9: timeout: 'soon' is not a whole number" in str(exc)
    else:
        raise AssertionError("pbx check must refuse timeout=soon")
    assert load_config(tmp_path, strict=False).queues.queues["q"].timeout == 15


def test_local_members_and_music_classes_are_checked(tmp_path: Path) -> None:
    """A Local member whose extension the dialplan lacks (INVALID: never rung) and a
    musicclass musiconhold.conf lacks (default plays) are warnings; good ones are not."""
    (tmp_path / "sip.conf").write_text("[6001]\ntype=friend\nhost=dynamic\nsecret=x\ncontext=c\n")
    (tmp_path / "extensions.conf").write_text(
        "[c]\nexten => 1,1,Queue(q)\n[from-queue]\nexten => _60XX,1,Dial(SIP/${EXTEN})\n")
    (tmp_path / "queues.conf").write_text(
        "[q]\nmusicclass=jazz\nmember => Local/6001@from-queue/n\n"
        "member => Local/7001@from-queue/n\nmember => Local/6001\n"
        "[r]\nmusicclass=default\n")
    config = load_config(tmp_path)
    assert [str(w).split(": ", 1)[1] for w in config.warnings] == [
        "warning: [q] musicclass=jazz: no such class in musiconhold.conf (default plays "
        "instead)",
        "warning: member Local/7001@from-queue/n: no extension 7001 in context [from-queue] "
        "of extensions.conf",
        "warning: member Local/6001: a Local member needs exten@context"]


def test_the_sample_queues_load() -> None:
    repo = Path(__file__).resolve().parents[3]
    for folder in ("etc", "etc/pjsip"):
        config = load_config(repo / folder)
        assert sorted(config.queues.queues) == ["sales", "support"]
        sales = config.queues.queues["sales"]
        assert (sales.strategy, sales.maxlen, sales.wrapuptime, sales.ringinuse) == \
            ("rrmemory", 20, 10, False)
        assert [(m.interface, m.name) for m in sales.members] == [("SIP/6002", "Bob")]
        assert config.queues.general.persistentmembers
        assert not [w for w in config.warnings if "queue" in w.message.lower()]
