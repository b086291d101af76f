"""Fixtures for bench tests: a `cellbench sim --bench` process shared by a module."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from simbench_process import EXAMPLES, TEST_TIME_SCALE, SimProcess, port_zero, start_sim, stop_sim


@pytest.fixture(scope="module")
def sim_bench(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SimProcess]:
    """examples/sim-bench.toml, served by a separate `cellbench sim` process."""
    text = port_zero((EXAMPLES / "sim-bench.toml").read_text(), TEST_TIME_SCALE)
    sim = start_sim(text, tmp_path_factory.mktemp("sim-bench"))
    yield sim
    stop_sim(sim)
