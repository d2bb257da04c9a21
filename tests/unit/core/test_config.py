"""sip.conf, pbx.yaml and the .conf reader: values, templates, file:line:col errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from pbx.conffile import read_conf, strip_comment
from pbx.config import load_settings, load_sip_conf, parse_callerid, parse_listen

SEED = """\
[TEST]
type=friend
context=internal
host=dynamic

[ZhangSan]
type=friend
context=internal
host=dynamic
mailbox=123@default
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def test_seed_sip_conf_loads_as_written(tmp_path: Path) -> None:
    diags: list = []
    sip = load_sip_conf(write(tmp_path, "sip.conf", SEED), diags)
    assert [d for d in diags if d.severity == "error"] == []
    assert set(sip.peers) == {"TEST", "ZhangSan"}
    zhang = sip.peers["ZhangSan"]
    assert (zhang.type, zhang.context, zhang.dynamic, zhang.mailbox) == \
        ("friend", "internal", True, "123@default")


def test_templates_general_and_callerid(tmp_path: Path) -> None:
    text = """\
[general]
context=public
allowguest=yes
minexpiry=30
maxexpiry=600

[phone](!)
type=friend
host=dynamic
context=internal
qualify=yes

[6001](phone)
secret=s3cret ; comment
callerid="Alice Smith" <6001>

[6002](phone)
context=sales
"""
    diags: list = []
    sip = load_sip_conf(write(tmp_path, "sip.conf", text), diags)
    assert "phone" not in sip.peers  # a template is not a peer
    alice, bob = sip.peers["6001"], sip.peers["6002"]
    assert alice.secret == "s3cret" and alice.qualify and alice.context == "internal"
    assert (alice.callerid.name, alice.callerid.num) == ("Alice Smith", "6001")
    assert bob.context == "sales"  # own value wins over the template's
    assert sip.general.allowguest and sip.general.context == "public"
    assert (sip.general.minexpiry, sip.general.maxexpiry) == (30, 600)


def test_sip_conf_errors_have_file_line_col(tmp_path: Path) -> None:
    text = "[general]\nminexpiry=abc\n\n[a]\ntype=phone\nhost=dynamic\n[b](nosuch)\nport=99999\n"
    path = write(tmp_path, "sip.conf", text)
    diags: list = []
    load_sip_conf(path, diags)
    errors = [str(d) for d in diags if d.severity == "error"]
    assert f"{path}:2:11: minexpiry must be a whole number, got 'abc'" in errors
    assert f"{path}:5:6: type must be friend, peer or user, got 'phone'" in errors
    assert any(e.startswith(f"{path}:7:1:") and "nosuch" in e for e in errors)
    assert any(e.startswith(f"{path}:8:6:") and "out of range" in e for e in errors)


def test_include_and_cycle(tmp_path: Path) -> None:
    write(tmp_path, "peers.conf", "[6003]\ntype=friend\nsecret=x\n")
    write(tmp_path, "loop.conf", '#include "loop.conf"\n')
    main = write(tmp_path, "sip.conf", '[general]\n#include "peers.conf"\n#include loop.conf\n')
    diags: list = []
    conf = read_conf(main, diags)
    assert conf.section("6003") is not None
    assert any("cycle" in d.message for d in diags)


def test_strip_comment_keeps_escaped_semicolon() -> None:
    assert strip_comment(r"a=b\;c ; real comment") == "a=b;c "


@pytest.mark.parametrize(("text", "num", "name"), [
    ('"Bob" <6002>', "6002", "Bob"), ("Bob <6002>", "6002", "Bob"),
    ("<6002>", "6002", ""), ("6002", "6002", ""), ("Reception", "", "Reception"),
])
def test_parse_callerid(text: str, num: str, name: str) -> None:
    cid = parse_callerid(text)
    assert (cid.num, cid.name) == (num, name)


def test_parse_listen_ipv6_and_errors() -> None:
    spec = parse_listen("udp:[::1]:5070")
    assert (spec.transport, spec.host, spec.port) == ("udp", "::1", 5070)
    assert str(spec) == "udp:[::1]:5070"
    with pytest.raises(ValueError, match="transport:host:port"):
        parse_listen("127.0.0.1:5060")


def test_pbx_yaml_values_and_errors(tmp_path: Path) -> None:
    write(tmp_path, "pbx.yaml", """\
sip:
  listen: ["udp:127.0.0.1:5999"]
  realm: office
rtp: {ports: [20000, 20100]}
storage: {dir: data}
smtp: {host: mail.local, port: 2525}
""")
    diags: list = []
    s = load_settings(tmp_path, diags)
    assert diags == []
    assert s.listen[0].port == 5999 and s.realm == "office"
    assert s.rtp_ports == (20000, 20100)
    assert s.storage_dir == tmp_path / "data"
    assert (s.smtp.host, s.smtp.port) == ("mail.local", 2525)

    write(tmp_path, "pbx.yaml",
          "sip:\n  listen: [\"udp:nowhere\"]\nrtp:\n  ports: [5, 1]\nbogus: 1\n")
    diags = []
    load_settings(tmp_path, diags)
    text = [str(d) for d in diags]
    assert any(t.startswith(f"{tmp_path}/pbx.yaml:2:12: sip.listen") for t in text)
    assert any(t.startswith(f"{tmp_path}/pbx.yaml:4:10: rtp.ports") for t in text)
    assert any(t.startswith(f"{tmp_path}/pbx.yaml:5:1: unknown section 'bogus'") for t in text)


def test_yaml_syntax_error_position(tmp_path: Path) -> None:
    write(tmp_path, "pbx.yaml", "sip:\n  realm: [unclosed\n")
    diags: list = []
    load_settings(tmp_path, diags)
    assert diags and diags[0].file.endswith("pbx.yaml") and diags[0].line >= 2


def test_log_file_key(tmp_path: Path) -> None:
    write(tmp_path, "pbx.yaml", "log:\n  file: var/log/pbx.log\n")
    diags: list = []
    s = load_settings(tmp_path, diags)
    assert diags == [] and s.log_file == tmp_path / "var/log/pbx.log"
    assert not (tmp_path / "var").exists()  # checking creates nothing
    (tmp_path / "adir").mkdir()
    (tmp_path / "afile").write_text("")
    for value, problem in (("42", "log.file must be str, got 42"),
                           ("adir", f"log.file: {tmp_path}/adir is a directory, not a file"),
                           ("afile/x.log", f"log.file: {tmp_path}/afile is not a directory"),
                           ('""', "log.file: must name a file")):
        write(tmp_path, "pbx.yaml", f"log:\n  file: {value}\n")
        diags = []
        s = load_settings(tmp_path, diags)
        assert len(diags) == 1, diags
        assert str(diags[0]).startswith(f"{tmp_path}/pbx.yaml:2:9: {problem}"), diags
        assert s.log_file is None
    write(tmp_path, "pbx.yaml", "log:\n  level: debug\n")
    diags = []
    load_settings(tmp_path, diags)
    assert str(diags[0]) == f"{tmp_path}/pbx.yaml:2:3: unknown key 'log.level' (known: file)"


def test_log_file_gets_the_log(tmp_path: Path) -> None:
    import logging

    from pbx.logging_setup import add_log_file, setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(3)
        add_log_file(tmp_path / "log" / "pbx.log")
        logging.getLogger("dialplan.exec").info("Executing [1@test:1] NoOp(\"x\", \"\")")
        logging.getLogger("pbx.calls").warning("a warning")
        for h in root.handlers:
            h.flush()
        text = (tmp_path / "log" / "pbx.log").read_text()
        assert 'INFO dialplan.exec: Executing [1@test:1] NoOp("x", "")' in text
        assert "WARNING pbx.calls: a warning" in text
    finally:
        for h in root.handlers:
            if h not in saved[0]:
                h.close()
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


@pytest.mark.parametrize(("verbose", "shown"), [(0, False), (2, False), (3, True)])
def test_executing_lines_only_from_vvv(verbose: int, shown: bool) -> None:
    import logging

    from pbx.logging_setup import setup_logging

    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        setup_logging(verbose)
        assert logging.getLogger("dialplan.exec").isEnabledFor(logging.INFO) is shown
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        logging.getLogger("dialplan.exec").setLevel(logging.NOTSET)
