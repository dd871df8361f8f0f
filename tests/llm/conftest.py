from __future__ import annotations

from collections.abc import AsyncIterator

import anthropic
import pytest
import pytest_asyncio

from conversations.llm.simulator import Simulator
from tests.llm.support import make_client


@pytest.fixture
def sim() -> Simulator:
    return Simulator()


@pytest_asyncio.fixture
async def client(sim: Simulator) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with make_client(sim) as sdk_client:
        yield sdk_client
