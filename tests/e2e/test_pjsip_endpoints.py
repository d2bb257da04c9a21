"""pjsip.conf endpoints against the running PBX: SIPp registers with the auth section's
username and password; max_contacts=1 with remove_existing; a wrong password is refused;
the sample etc/pjsip/ passes `pbx check`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.harness import REPO, PbxProcess, make_config
from tests.e2e.sipp import SCENARIOS, run_sipp, sipp_errors

pytestmark = pytest.mark.e2e

PJSIP = """\
[phone](!)
type=endpoint
context=internal
disallow=all
allow=ulaw

[7001](phone)
auth=7001-auth
aors=7001

[7001-auth]
type=auth
auth_type=userpass
username=carol
password=7001pass

[7001]
type=aor
max_contacts=1
remove_existing={remove}
"""


def peers(pbx: PbxProcess) -> dict[str, list[dict]]:
    return {p["name"]: p["contacts"] for p in pbx.mgmt("/peers")["peers"]}


def pjsip_pbx(tmp: Path, remove: str) -> PbxProcess:
    pbx = make_config(tmp, sip_conf="[general]\ncontext=default\n")
    (tmp / "pjsip.conf").write_text(PJSIP.format(remove=remove))
    return pbx


def sipp(pbx: PbxProcess, tmp: Path, scenario: str, user: str, password: str,
         device: str = "a") -> None:
    """Register as aor 7001 from `device` (a Contact of its own: another phone)."""
    text = (SCENARIOS / scenario).read_text()
    text = text.replace("Contact: <sip:[service]@", "Contact: <sip:[service]-[device]@")
    assert "[device]" in text
    result = run_sipp(text, "127.0.0.1", pbx.sip_port, tmp=tmp, service="7001", user=user,
                      password=password, keys={"device": device})
    assert result.returncode == 0, f"SIPp failed: {sipp_errors(tmp)}"


def test_sipp_registers_a_pjsip_endpoint_and_remove_existing(tmp_path: Path) -> None:
    pbx = pjsip_pbx(tmp_path, "yes").start()
    try:
        sipp(pbx, tmp_path, "reg_ok.xml", "carol", "7001pass")
        first = peers(pbx)["7001"]
        assert len(first) == 1
        # the aor name is not the digest username: 7001/7001pass is refused (401, 403)
        sipp(pbx, tmp_path, "reg_forbidden.xml", "7001", "7001pass")
        sipp(pbx, tmp_path, "reg_forbidden.xml", "carol", "wrong")
        assert peers(pbx)["7001"] == first
        # another device: max_contacts=1, remove_existing=yes
        sipp(pbx, tmp_path, "reg_ok.xml", "carol", "7001pass", device="b")
        second = peers(pbx)["7001"]
        assert len(second) == 1 and second[0]["contact"] != first[0]["contact"]
    finally:
        pbx.stop()


def test_second_contact_refused_without_remove_existing(tmp_path: Path) -> None:
    pbx = pjsip_pbx(tmp_path, "no").start()
    try:
        sipp(pbx, tmp_path, "reg_ok.xml", "carol", "7001pass")
        first = peers(pbx)["7001"]
        sipp(pbx, tmp_path, "reg_forbidden.xml", "carol", "7001pass", device="b")  # 401, 403
        assert peers(pbx)["7001"] == first
    finally:
        pbx.stop()


def test_sample_etc_pjsip_passes_pbx_check() -> None:
    result = subprocess.run([sys.executable, "-m", "pbx.cli", "check", "--config-dir",
                             str(REPO / "etc/pjsip")], capture_output=True, text=True,
                            cwd=REPO, timeout=60)
    assert result.returncode == 0, result.stderr
    assert "configuration OK: 5 peers" in result.stdout
