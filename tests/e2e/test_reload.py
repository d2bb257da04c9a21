"""`pbx reload`: a bad configuration changes nothing and says why; a good one applies."""

from __future__ import annotations

import pytest

from tests.e2e.harness import PbxProcess
from tests.e2e.test_sip_core import peers

pytestmark = pytest.mark.e2e


def test_failed_reload_changes_nothing_then_good_reload_applies(pbx: PbxProcess) -> None:
    sip = pbx.config_dir / "sip.conf"
    ext = pbx.config_dir / "extensions.conf"
    good_ext = ext.read_text()
    sip.write_text(sip.read_text() + "\n[7001]\ntype=friend\nhost=dynamic\ncontext=internal\n"
                   "secret=x7001\n")
    ext.write_text(good_ext + "\n[oops\n")
    result = pbx.cli("reload")
    assert result.returncode == 1
    assert f"{ext}:" in result.stderr and "nothing was changed" in result.stderr
    assert "7001" not in peers(pbx)

    ext.write_text(good_ext)
    result = pbx.cli("reload")
    assert result.returncode == 0, result.stderr
    assert "7001" in peers(pbx)
    rows = pbx.cli("peers")
    assert rows.returncode == 0 and "7001" in rows.stdout
