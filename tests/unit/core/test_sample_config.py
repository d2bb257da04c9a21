"""The sample configurations load, with and without their commented trunk examples."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from pbx.config import load_config

REPO = Path(__file__).resolve().parents[3]


@pytest.mark.parametrize("folder,conf,techs", [("etc", "sip.conf", {"SIP"}),
                                               ("etc/pjsip", "pjsip.conf", {"PJSIP"})])
def test_sample_loads_and_its_trunk_example_too(tmp_path: Path, folder: str, conf: str,
                                                techs: set[str]) -> None:
    config = load_config(REPO / folder)
    assert set(config.sip.peers) == {"6001", "6002", "6003", "TEST", "ZhangSan"}
    office = config.sip.peers["6003"]
    assert (office.call_group, office.pickup_group) == ("1", "1")
    assert office.message_context == "messages"
    assert config.features.pickupexten == "*8"
    assert {p.tech for p in config.sip.peers.values()} == techs
    assert config.sip.registrations == {}
    # Uncomment the example (`;key=...` lines; prose comments start with "; ").
    sample = tmp_path / folder
    shutil.copytree(REPO / folder, sample, symlinks=False,
                    ignore=shutil.ignore_patterns("var"))
    text = (sample / conf).read_text()
    (sample / conf).write_text(re.sub(r"(?m)^;(?=[^ ;])", "", text))
    config = load_config(sample)
    provider = config.sip.peers["provider"]
    assert provider.outbound_auth is not None
    assert provider.outbound_auth.username == "2565550100"
    assert provider.context == "incoming_calls"
    (registration,) = config.sip.registrations.values()
    assert registration.client_uri == "sip:2565550100@sip.provider.example"
    assert registration.contact_user == "2565550100"
    assert not [e for e in config.warnings if "provider" in e.message]
