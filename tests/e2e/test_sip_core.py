"""The SIP core against the running PBX: registration with SIPp, baresip and a raw
client; unregister; parallel; TCP; IPv6; restart keeping bindings; OPTIONS; 405/501."""

from __future__ import annotations

import socket
import subprocess
import time
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, make_config, options_ok, require_tool
from tests.e2e.sipclient import SipClient
from tests.e2e.sipp import SCENARIOS, run_sipp, sipp_errors

pytestmark = pytest.mark.e2e


def peers(pbx: PbxProcess) -> dict[str, list[dict]]:
    return {p["name"]: p["contacts"] for p in pbx.mgmt("/peers")["peers"]}


def wait_for(predicate, timeout: float = 5.0, step: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(step)
    return predicate()


def sipp_ok(result: subprocess.CompletedProcess, tmp: Path) -> None:
    assert result.returncode == 0, f"SIPp failed ({result.returncode}): {sipp_errors(tmp)}"


def test_sipp_register_ok_wrong_password_unknown_user_unregister(pbx: PbxProcess,
                                                                  tmp_path: Path) -> None:
    r = run_sipp(SCENARIOS / "reg_ok.xml", "127.0.0.1", pbx.sip_port, tmp=tmp_path,
                 service="6001", user="6001", password="6001pass")
    sipp_ok(r, tmp_path)
    assert len(peers(pbx)["6001"]) == 1
    # wrong password and unknown user: 401 then 403, exactly alike
    for user, password in (("6001", "nope"), ("nosuch", "nope")):
        r = run_sipp(SCENARIOS / "reg_forbidden.xml", "127.0.0.1", pbx.sip_port, tmp=tmp_path,
                     service=user, user=user, password=password)
        sipp_ok(r, tmp_path)
    assert len(peers(pbx)["6001"]) == 1  # the failed attempts changed nothing
    r = run_sipp(SCENARIOS / "unregister.xml", "127.0.0.1", pbx.sip_port, tmp=tmp_path,
                 service="6001", user="6001", password="6001pass")
    sipp_ok(r, tmp_path)
    assert peers(pbx)["6001"] == []


def test_unknown_user_gets_the_same_answers_as_a_wrong_password(pbx: PbxProcess) -> None:
    answers = []
    for user, password in (("6001", "wrong"), ("ghost", "wrong")):
        client = SipClient("127.0.0.1", pbx.sip_port, user, password)
        first, final = client.register()
        client.close()
        assert first.status == 401 and final is not None
        challenge = first.headers.get_all("WWW-Authenticate")
        shape = [c.split("nonce=")[0] + c.split("nonce=")[1].split(",", 1)[1] for c in challenge]
        answers.append((shape, final.status, final.reason))
    assert answers[0] == answers[1]
    assert answers[0][1] == 403


def test_parallel_registrations_over_udp(pbx_config: PbxProcess, tmp_path: Path) -> None:
    sip_conf = (pbx_config.config_dir / "sip.conf").read_text()
    sip_conf += "".join(f"\n[bench{i:04d}]\ntype=friend\nhost=dynamic\ncontext=internal\n"
                        f"secret=pwbench{i:04d}\n" for i in range(10))
    (pbx_config.config_dir / "sip.conf").write_text(sip_conf)
    users = tmp_path / "users.csv"
    users.write_text("SEQUENTIAL\n" + "".join(
        f"bench{i:04d};[authentication username=bench{i:04d} password=pwbench{i:04d}]\n"
        for i in range(10)))
    pbx = pbx_config.start()
    try:
        r = run_sipp(SCENARIOS / "reg_csv.xml", "127.0.0.1", pbx.sip_port, tmp=tmp_path,
                     calls=10, rate=100, limit=10, extra=["-inf", str(users)])
        sipp_ok(r, tmp_path)
        registered = peers(pbx)
        assert all(len(registered[f"bench{i:04d}"]) == 1 for i in range(10))
    finally:
        pbx.stop()


def test_register_over_tcp(pbx: PbxProcess, tmp_path: Path) -> None:
    r = run_sipp(SCENARIOS / "reg_ok.xml", "127.0.0.1", pbx.sip_port, tmp=tmp_path,
                 service="6002", user="6002", password="6002pass", transport="t1")
    sipp_ok(r, tmp_path)
    contacts = peers(pbx)["6002"]
    assert len(contacts) == 1 and contacts[0]["transport"] == "tcp"


def test_expiry_rules_and_several_contacts(pbx: PbxProcess) -> None:
    client = SipClient("127.0.0.1", pbx.sip_port, "6001", "6001pass")
    try:
        _, final = client.register(expires=10)  # below minexpiry=60
        assert final is not None and final.status == 423
        assert final.headers.get("Min-Expires") == "60"
        _, final = client.register(expires=99999, contacts=[
            "<sip:6001@127.0.0.1:40001>", "<sip:6001@127.0.0.1:40002>;expires=120"])
        assert final is not None and final.status == 200
        expiries = sorted(int(c.params["expires"]) for c in final.contacts)
        assert expiries == [120, 3600]  # 99999 clamped to maxexpiry
        _, final = client.register(expires=None, contacts=["*"], extra=[("Expires", "0")])
        assert final is not None and final.status == 200 and final.contacts == []
    finally:
        client.close()


def test_sha256_digest_when_configured(tmp_path: Path) -> None:
    cfg = make_config(tmp_path)
    yaml = (cfg.config_dir / "pbx.yaml").read_text().replace(
        "  user_agent: PBX-test\n", "  user_agent: PBX-test\n  digest_algorithms: [SHA-256, MD5]\n")
    (cfg.config_dir / "pbx.yaml").write_text(yaml)
    cfg.start()
    try:
        client = SipClient("127.0.0.1", cfg.sip_port, "6001", "6001pass")
        first, final = client.register(algorithm="SHA-256")
        client.close()
        algorithms = [v.split("algorithm=")[1].split(",")[0]
                      for v in first.headers.get_all("WWW-Authenticate")]
        assert algorithms == ["SHA-256", "MD5"]
        assert final is not None and final.status == 200
    finally:
        cfg.stop()


def test_restart_keeps_bindings_and_shuts_down_fast(pbx_config: PbxProcess) -> None:
    pbx = pbx_config.start()
    client = SipClient("127.0.0.1", pbx.sip_port, "6002", "6002pass")
    _, final = client.register()
    client.close()
    assert final is not None and final.status == 200
    took = pbx.stop()
    assert took < 2.0, f"shutdown took {took:.2f}s"
    pbx.start()
    try:
        contacts = peers(pbx)["6002"]
        assert len(contacts) == 1 and contacts[0]["expires"] > 3500
    finally:
        pbx.stop()


def test_baresip_registers(pbx: PbxProcess, tmp_path: Path) -> None:
    baresip = require_tool("baresip")
    conf = tmp_path / "baresip"
    conf.mkdir()
    port = _free_udp_port()
    (conf / "config").write_text(
        f"sip_listen\t127.0.0.1:{port}\nnet_interface\t127.0.0.1\naudio_player\taufile,"
        f"{tmp_path}/out.wav\naudio_source\tausine,440\nmodule_path\t/usr/lib/baresip/modules\n"
        "module\tg711.so\nmodule\taufile.so\nmodule\tausine.so\nmodule\taccount.so\n")
    (conf / "accounts").write_text(
        f"<sip:6001@127.0.0.1:{pbx.sip_port};transport=udp>;auth_pass=6001pass;regint=120\n")
    proc = subprocess.Popen([baresip, "-f", str(conf), "-t", "8"], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        assert wait_for(lambda: len(peers(pbx)["6001"]) == 1, timeout=6), pbx.log()[-2000:]
        assert "baresip" in peers(pbx)["6001"][0]["user_agent"].lower()
    finally:
        proc.terminate()
        proc.wait(5)


def test_options_and_methods(pbx: PbxProcess) -> None:
    client = SipClient("127.0.0.1", pbx.sip_port, "probe")
    try:
        ok = client.send(client.request("OPTIONS"))
        assert ok.status == 200
        for header in ("Allow", "Accept", "Supported"):
            assert ok.headers.get(header), header
        assert "INVITE" in ok.headers.get("Allow") and "REGISTER" in ok.headers.get("Allow")
        publish = client.send(client.request("PUBLISH"))
        assert publish.status == 405 and "INVITE" in (publish.headers.get("Allow") or "")
        unknown = client.send(client.request("FROBNICATE"))
        assert unknown.status == 501
    finally:
        client.close()


def test_ipv6_listen(tmp_path: Path) -> None:
    cfg = make_config(tmp_path, host="::1")
    cfg.start()
    try:
        assert options_ok("::1", cfg.sip_port)
        client = SipClient("::1", cfg.sip_port, "6001", "6001pass")
        _, final = client.register()
        client.close()
        assert final is not None and final.status == 200
        assert "[::1]" in str(final.contacts[0].uri)
    finally:
        cfg.stop()


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]
