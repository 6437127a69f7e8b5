from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.sdk.fakes import FakeNetwork


@pytest.fixture
def fake() -> Iterator[FakeNetwork]:
    network = FakeNetwork()
    yield network
    network.close()
