"""The field-SMU bench, served once for a module of tests of the field's own 2450 drivers."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from field_smu import BENCH
from served_bench import ServedBench, served


@pytest.fixture(scope="module")
def field_smu_bench() -> Iterator[ServedBench]:
    with served(BENCH) as running:
        yield running
