"""Both event loops for media tests: a module opts in with
`from tests.unit.media.loops import event_loop_policy`."""

from __future__ import annotations

import asyncio

import pytest


@pytest.fixture(params=["asyncio", "uvloop"], scope="module")
def event_loop_policy(request: pytest.FixtureRequest) -> asyncio.AbstractEventLoopPolicy:
    # Overriding event_loop_policy is deprecated in pytest-asyncio 1.x (warning
    # filtered in pyproject); it is still the simplest way to run on both loops.
    if request.param == "uvloop":
        import uvloop

        return uvloop.EventLoopPolicy()
    return asyncio.DefaultEventLoopPolicy()
