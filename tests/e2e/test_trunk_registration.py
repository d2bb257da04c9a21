"""The PBX registers to a real provider (Debian's kamailio, tests/e2e/provider/): sip.conf
`register =>` and pjsip.conf `type=registration`; 401 and 407, MD5 and SHA-256, with and
without qop; a wrong password is Rejected; a restart registers again; a clean shutdown
unregisters (the provider's location table is empty afterwards)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, free_port, make_config
from tests.e2e.provider import Provider, start_provider

pytestmark = pytest.mark.e2e

PEERS = """\
[general]
context=default
allowguest=no
{register}

[provider]
type=peer
host=127.0.0.1
port={port}
context=from-provider
fromuser=office
fromdomain=pbx.test
defaultuser=office
remotesecret=pwoffice
insecure=port,invite
"""

PJSIP = """\
[provider-auth]
type=auth
auth_type=userpass
username=office
password={password}
realm=pbx.test

[provider]
type=registration
server_uri=sip:127.0.0.1:{port}
client_uri=sip:office@pbx.test
contact_user=5000
outbound_auth=provider-auth
expiration=120
retry_interval=20
endpoint=provider

[provider]
type=endpoint
context=from-provider
outbound_auth=provider-auth
aors=provider
from_user=office
from_domain=pbx.test

[provider]
type=aor
contact=sip:127.0.0.1:{port}

[provider]
type=identify
endpoint=provider
match=127.0.0.1
"""

DIALPLAN = """\
[default]
[internal]
exten => 999,1,Answer()
 same => n,Hangup()
[from-provider]
exten => 5000,1,Answer()
 same => n,Hangup()
"""


@pytest.fixture
def tmp_dirs(tmp_path: Path) -> tuple[Path, Path]:
    conf = tmp_path / "etc"
    conf.mkdir()
    return conf, tmp_path


@pytest.fixture
def cleanup() -> Iterator[list]:
    things: list = []
    yield things
    for thing in reversed(things):
        thing.stop()


def registry(pbx: PbxProcess) -> dict[str, dict]:
    return {row["name"]: row for row in pbx.mgmt("/registry")["registrations"]}


def wait_state(pbx: PbxProcess, name: str, state: str, timeout: float = 10.0) -> dict:
    deadline = time.monotonic() + timeout
    row: dict = {}
    while time.monotonic() < deadline:
        try:
            row = registry(pbx).get(name, {})
        except OSError as exc:
            # The PBX answers OPTIONS (what start() waits for) a moment before its
            # management endpoint listens: wait for it while the process lives.
            code = pbx.proc.poll() if pbx.proc else None
            if code is None and time.monotonic() < deadline:
                time.sleep(0.05)
                continue
            raise AssertionError(f"management endpoint: {exc} (pbx exit code {code}):\n"
                                 f"{pbx.log()[-4000:]}") from exc
        if row.get("state") == state:
            return row
        time.sleep(0.05)
    raise AssertionError(f"registration {name} is {row} after {timeout}s, not {state}:\n"
                         f"{pbx.log()[-3000:]}")


def wait_contacts(provider: Provider, user: str, count: int, timeout: float = 5.0) -> list:
    deadline = time.monotonic() + timeout
    contacts = provider.contacts(user)
    while time.monotonic() < deadline and len(contacts) != count:
        time.sleep(0.05)
        contacts = provider.contacts(user)
    return contacts


def sip_conf_pbx(conf: Path, provider: Provider, secret: str = "pwoffice") -> PbxProcess:
    line = f"register => office:{secret}@127.0.0.1:{provider.port}/5000~120"
    return make_config(conf, sip_conf=PEERS.format(register=line, port=provider.port),
                       extensions=DIALPLAN)


def pjsip_conf_pbx(conf: Path, provider: Provider, secret: str = "pwoffice") -> PbxProcess:
    pbx = make_config(conf, sip_conf="[general]\ncontext=default\n", extensions=DIALPLAN)
    (conf / "pjsip.conf").write_text(PJSIP.format(port=provider.port, password=secret))
    return pbx


def test_register_401_md5_restart_and_clean_shutdown(tmp_dirs, cleanup) -> None:
    conf, tmp = tmp_dirs
    provider = start_provider(tmp)
    cleanup.append(provider)
    pbx = sip_conf_pbx(conf, provider)
    cleanup.append(pbx)
    name = f"office@127.0.0.1:{provider.port}"
    check = pbx.cli("check")
    assert check.returncode == 0 and "1 registration" in check.stdout, check.stderr

    pbx.start()
    row = wait_state(pbx, name, "Registered")
    assert row["granted"] == 120 and 100 <= row["expires_in"] <= 120
    assert row["last_error"] is None
    contacts = wait_contacts(provider, "office", 1)
    assert len(contacts) == 1 and f"sip:5000@127.0.0.1:{pbx.sip_port}" in contacts[0]
    shown = pbx.cli("registry")
    assert shown.returncode == 0, shown.stderr
    assert name in shown.stdout and "Registered" in shown.stdout
    assert "1 SIP registration, 1 registered" in shown.stdout

    took = pbx.stop()
    assert took < 2.0, f"shutdown took {took:.2f}s"
    assert wait_contacts(provider, "office", 0) == [], "clean shutdown did not unregister"

    pbx.start()  # a restart registers again
    wait_state(pbx, name, "Registered")
    assert len(wait_contacts(provider, "office", 1)) == 1
    pbx.stop()
    assert wait_contacts(provider, "office", 0) == []


def test_wrong_password_is_rejected(tmp_dirs, cleanup) -> None:
    conf, tmp = tmp_dirs
    provider = start_provider(tmp)
    cleanup.append(provider)
    pbx = sip_conf_pbx(conf, provider, secret="not-the-password")
    cleanup.append(pbx)
    pbx.start()
    row = wait_state(pbx, f"office@127.0.0.1:{provider.port}", "Rejected")
    assert "refused the credentials" in row["last_error"] and row["permanent"]
    assert provider.contacts("office") == []
    shown = pbx.cli("registry")
    assert "Rejected" in shown.stdout and "refused the credentials" in shown.stdout


@pytest.mark.parametrize("defines,expect", [
    (("PROXY_407", "WITH_QOP"), ["SIP/2.0 407", "Proxy-Authorization: Digest", "qop=auth"]),
    (("WITH_QOP",), ["SIP/2.0 401", "Authorization: Digest", "qop=auth", "algorithm=MD5"]),
    (("WITH_SHA256",), ["SIP/2.0 401", "algorithm=SHA-256"]),
    (("PROXY_407", "WITH_SHA256", "WITH_QOP"), ["SIP/2.0 407", "algorithm=SHA-256",
                                                "qop=auth"]),
])
def test_pjsip_registration_answers_401_407_md5_sha256_qop(tmp_dirs, cleanup, defines,
                                                            expect) -> None:
    conf, tmp = tmp_dirs
    provider = start_provider(tmp, *defines)
    cleanup.append(provider)
    pbx = pjsip_conf_pbx(conf, provider)
    cleanup.append(pbx)
    check = pbx.cli("check")
    assert check.returncode == 0, check.stdout + check.stderr
    pbx.start("--sip-trace")
    row = wait_state(pbx, "provider", "Registered")
    assert row["tech"] == "PJSIP" and row["username"] == "sip:office@pbx.test"
    contacts = wait_contacts(provider, "office", 1)
    assert len(contacts) == 1 and "sip:5000@127.0.0.1" in contacts[0]
    log = pbx.log()
    for text in expect:
        assert text in log, f"{text!r} not in the SIP trace"
    pbx.stop()
    assert wait_contacts(provider, "office", 0) == []


def test_pjsip_wrong_password_is_rejected_and_reload_fixes_it(tmp_dirs, cleanup) -> None:
    conf, tmp = tmp_dirs
    provider = start_provider(tmp, "PROXY_407")
    cleanup.append(provider)
    pbx = pjsip_conf_pbx(conf, provider, secret="wrong")
    cleanup.append(pbx)
    pbx.start()
    wait_state(pbx, "provider", "Rejected")
    (conf / "pjsip.conf").write_text(PJSIP.format(port=provider.port, password="pwoffice"))
    reloaded = pbx.cli("reload")
    assert reloaded.returncode == 0, reloaded.stdout + reloaded.stderr
    wait_state(pbx, "provider", "Registered")
    assert len(wait_contacts(provider, "office", 1)) == 1


def test_provider_that_comes_up_late_is_registered(tmp_dirs, cleanup) -> None:
    conf, tmp = tmp_dirs
    provider = Provider(tmp / "kamailio", free_port())
    cleanup.append(provider)
    pbx = make_config(conf, sip_conf="[general]\n", extensions=DIALPLAN)
    (conf / "pjsip.conf").write_text(PJSIP.format(port=provider.port, password="pwoffice"))
    cleanup.append(pbx)
    pbx.start()
    wait_state(pbx, "provider", "Request Sent", timeout=5)
    assert provider.contacts("office") == []
    provider.start()
    # the REGISTER's retransmissions (timer E) reach it once it listens
    row = wait_state(pbx, "provider", "Registered", timeout=40)
    assert row["retries"] == 0 and row["last_error"] is None


def test_register_over_tcp(tmp_dirs, cleanup) -> None:
    conf, tmp = tmp_dirs
    provider = start_provider(tmp, "WITH_QOP")
    cleanup.append(provider)
    line = f"register => tcp://office:pwoffice@127.0.0.1:{provider.port}/5000~120"
    pbx = make_config(conf, sip_conf=PEERS.format(register=line, port=provider.port),
                      extensions=DIALPLAN)
    cleanup.append(pbx)
    pbx.start()
    row = wait_state(pbx, f"office@127.0.0.1:{provider.port}", "Registered")
    assert row["contact"].endswith(";transport=tcp")
    contacts = wait_contacts(provider, "office", 1)
    assert len(contacts) == 1 and "transport=tcp" in contacts[0]
    pbx.stop()
    assert wait_contacts(provider, "office", 0) == []
