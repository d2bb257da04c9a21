"""voicemail.conf: the seed example, the options, file:line:col diagnostics."""

from __future__ import annotations

from pathlib import Path

from tests.unit.voicemail.conftest import SEED, load_conf
from voicemail.config import DEFAULT_DATE_FORMAT, split_mailbox


def test_seed_example_loads_with_format_warnings(tmp_path: Path) -> None:
    config, diags = load_conf(tmp_path, SEED)
    assert [d for d in diags if d.severity == "error"] == []
    warnings = [str(d) for d in diags]
    path = str(tmp_path / "voicemail.conf")
    assert warnings == [
        f"{path}:2:8: warning: format=wav49 is not supported: messages are recorded as WAV",
        f"{path}:2:14: warning: format=gsm is not supported: messages are recorded as WAV",
    ]
    g = config.general
    assert g.formats == ["wav49", "gsm"] and g.record_format == "wav"
    assert g.serveremail == "Asterisk" and g.attach is True
    assert g.maxsecs == 300  # maxmessage is the old name of maxsecs
    assert g.mailcmd == "/usr/sbin/ssmtp -t"
    assert g.emaildateformat == DEFAULT_DATE_FORMAT
    mb = config.find("123@default")
    assert mb is not None
    assert (mb.pin, mb.fullname, mb.email, mb.attach, mb.maxsecs) == \
        ("1234", "User1", "user@example.com", True, 300)
    assert config.find("123") is mb  # context defaults to "default"
    assert config.find("999") is None


def test_wav_among_the_formats_is_no_warning(tmp_path: Path) -> None:
    """Asterisk's usual wav49|gsm|wav (basic-pbx): the messages are in a format
    asked for, so nothing to report; wav49|gsm alone is (see above)."""
    _config, diags = load_conf(tmp_path, "[general]\nformat = wav49|gsm|wav\n[default]\n"
                                         "1 => 4826,A\n")
    assert diags == []


def test_all_general_options(tmp_path: Path) -> None:
    text = r"""[general]
format=wav
serveremail=vm@example.com
fromstring=Voicemail ${VM_MAILBOX}
attach=no
maxsecs=120
minsecs=2
maxsilence=5
silencethreshold=300
maxmsg=50
maxlogins=4
emailsubject=New message ${VM_MSGNUM} for ${VM_NAME}
emailbody=Hello ${VM_NAME},\n\tYou have a ${VM_DUR} message from ${VM_CALLERID}.\n
emaildateformat=%d/%m/%Y %H:%M
delete=yes
pbxskip=yes
review=yes   ; accepted, not acted on

[zonemessages]
eastern=America/New_York|'vm-received' Q 'digits/at' IMp

[sales]
200 => 4242,Sales Team,sales@example.com,,attach=yes|delete=no|maxmsg=10
"""
    config, diags = load_conf(tmp_path, text)
    assert diags == []
    g = config.general
    assert g.fromstring == "Voicemail ${VM_MAILBOX}"
    assert (g.attach, g.maxsecs, g.minsecs, g.maxsilence, g.silencethreshold, g.maxmsg,
            g.maxlogins, g.delete, g.pbxskip) == (False, 120, 2, 5, 300, 50, 4, True, True)
    assert g.emailbody == "Hello ${VM_NAME},\n\tYou have a ${VM_DUR} message from ${VM_CALLERID}.\n"
    assert g.emaildateformat == "%d/%m/%Y %H:%M"
    mb = config.find("200@sales")
    assert mb is not None
    assert (mb.attach, mb.delete, mb.maxmsg, mb.maxsecs, mb.minsecs) == (True, False, 10, 120, 2)
    assert config.find("200") is None  # not in [default]


def test_old_names_minmessage(tmp_path: Path) -> None:
    config, diags = load_conf(tmp_path, "[general]\nminmessage=3\nmaxmessage=60\n")
    assert diags == []
    assert (config.general.minsecs, config.general.maxsecs) == (3, 60)


def test_bad_lines_have_positions(tmp_path: Path) -> None:
    text = """[general]
maxmsg=lots
attach=maybe
format=wav|mp9
frobnicate=1

[default]
123 => 1234,User1,user@example.com
123 => 9999,Again,again@example.com
124 =>
125 => ,NoPin,x@example.com
126 => 1,Bad Mail,not-an-address
127 => 1,Opt,o@example.com,,attach=perhaps|bogus
"""
    _config, diags = load_conf(tmp_path, text)
    got = [(d.line, d.col, d.severity, d.message) for d in diags]
    assert got == [
        (2, 8, "error", "maxmsg: expected a whole number >= 0, got 'lots'"),
        (3, 8, "error", "attach: expected yes or no, got 'maybe'"),
        (4, 12, "error", "format=mp9 is not a known audio format"),
        (5, 1, "warning", "unknown voicemail.conf option 'frobnicate' (ignored)"),
        (9, 1, "error", "mailbox 123@default defined twice (first at "
                        f"{tmp_path / 'voicemail.conf'}:8)"),
        (10, 7, "error", "mailbox 124: expected 'pin,Full Name,email[,pager[,options]]'"),
        (11, 8, "error", "mailbox 125: the PIN is empty"),
        (12, 19, "error", "mailbox 126: 'not-an-address' is not an email address"),
        (13, 29, "error", "attach: expected yes or no, got 'perhaps'"),
        (13, 44, "error", "mailbox 127: option 'bogus' is not key=value"),
    ]


def test_split_mailbox() -> None:
    assert split_mailbox("123@sales") == ("123", "sales")
    assert split_mailbox(" 123 ") == ("123", "default")
    assert split_mailbox("123", "ctx") == ("123", "ctx")


ALIASES = """\
[general]
{general}
[default]
1234 => 4242,Example Mailbox,root@localhost
[myaliases]
1234@devices => 1234@default
6200@devices => 4200@default
"""


def test_aliases_context(tmp_path: Path) -> None:
    config, diags = load_conf(tmp_path, ALIASES.format(general="aliasescontext=myaliases"))
    path = tmp_path / "voicemail.conf"
    # The alias to a mailbox that does not exist: Asterisk loads it, `pbx check` says so.
    assert [(str(d), d.loadable) for d in diags] == [
        (f"{path}:7:17: alias 6200@devices names mailbox 4200@default, which voicemail.conf "
         "does not define", True)]
    mb = config.find("1234@devices")
    assert mb is not None and mb.key == "1234@default"
    assert config.find("1234", "devices") is mb
    assert config.find("6200@devices") is None


def test_alias_line_without_aliasescontext_is_loadable(tmp_path: Path) -> None:
    # Asterisk's sample voicemail.conf has [myaliases] with aliasescontext commented out.
    config, diags = load_conf(tmp_path, ALIASES.format(general=";aliasescontext=myaliases"))
    path = tmp_path / "voicemail.conf"
    assert [(str(d), d.loadable) for d in diags] == [
        (f"{path}:6:1: '1234@devices => 1234@default' is an alias line, but aliasescontext= "
         "is not set in [general]: the line is ignored (set aliasescontext=myaliases to use "
         "it)", True),
        (f"{path}:7:1: '6200@devices => 4200@default' is an alias line, but aliasescontext= "
         "is not set in [general]: the line is ignored (set aliasescontext=myaliases to use "
         "it)", True)]
    assert config.find("1234@devices") is None and config.find("1234") is not None
