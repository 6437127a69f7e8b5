from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.unit.client.batch_fakes import BatchNetwork


@pytest.fixture
def net() -> Iterator[BatchNetwork]:
    network = BatchNetwork()
    yield network
    network.close()
