from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.harness import PbxProcess, make_config


@pytest.fixture
def pbx_config(tmp_path: Path) -> PbxProcess:
    """A config dir on free ports, not started (tests may edit it first)."""
    return make_config(tmp_path)


@pytest.fixture
def pbx(pbx_config: PbxProcess) -> Iterator[PbxProcess]:
    """The real PBX, started with `pbx run` on free loopback ports."""
    pbx_config.start()
    try:
        yield pbx_config
    finally:
        pbx_config.stop()
