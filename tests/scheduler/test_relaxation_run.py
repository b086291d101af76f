"""A protocol's relaxation ends run as the display says, on the instrument or on the host.

The same protocol — a pulse, a rest until |dV/dt| < 1 mV/h (at most 10 h), then a pulse train
whose relaxations end the same way — runs through the runner and the real EmStat4 driver over
TCP against its simulator. Once with the limit on the instrument (MethodSCRIPT), once with an
instrument that reports it cannot evaluate |dV/dt|, so the runner watches it and stops the rest
itself; the train then cannot run there and is refused with one sentence.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

import protocols
from drivers.potentiostat import BASIC_LIMITS
from protocols.display import describe_limit, describe_step
from protocols.relaxation import drift_window_s
from scheduler.binding import CellInfo, bind
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_emstat4
from storage import open_store

PRESET = "gao2025-dfncm-llzo"
THRESHOLD_V_S = 1e-3 / 3600
MAX_REST_S = 10 * 3600.0
CELL = CellInfo("relax", active_mass_g=0.0154, specific_capacity_mAh_g=200.0)


def protocol_text(train: bool) -> str:
    steps = """
  - cc: {rate: 0.5C, direction: discharge, duration: 5 min, record: {dt: 30 s}}
  - rest: {duration: 10 h, until: [{dV_dt: "< 1 mV/h", after: 1 min}], record: {dt: 10 s}}
"""
    if train:
        steps += """
  - pulse_train: {rate: 0.5C, direction: discharge, pulse: 5 min, relax: 10 h,
                  relax_until_dV_dt: 1 mV/h, n_pulses: 3, record: {dt: 10 s}}
"""
    return f"""
name: relax-check
c_rate_basis: 200 mA h/g
safety: {{voltage_min: 2.8 V, voltage_max: 4.4 V}}
steps:{steps}"""


class WithoutDrift:
    """The real driver, but reporting that it cannot evaluate |dV/dt| (as a cycler that
    cannot would): the runner must then watch the rest itself."""

    def __init__(self, driver: Any) -> None:
        self._driver = driver

    async def capabilities(self) -> Any:
        caps = await self._driver.capabilities()
        return dataclasses.replace(caps, limit_quantities=BASIC_LIMITS)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._driver, name)


async def run(tmp_path, name: str, text: str, *, on_device: bool) -> Any:
    store = open_store(f"sqlite:///{tmp_path}/{name}.db")
    async with simulated_emstat4(PRESET, overrides={"initial_soc": 0.6}) as channel:
        driver = channel.driver if on_device else WithoutDrift(channel.driver)
        _, result = await run_protocol(store, protocols.loads(text), CELL, driver)
    return result


def test_the_display_states_the_block_length_and_the_maximum() -> None:
    plan = bind(protocols.loads(protocol_text(True)), CELL).plan
    rest, train = plan.steps[1], plan.steps[2]
    window = drift_window_s(THRESHOLD_V_S, 10.0)
    assert window == 600.0
    drift = next(lim for lim in rest.limits if lim.quantity == "dV_dt")
    assert describe_limit(drift, rest.record.dt_s) == (
        "|dV/dt| < 1 mV/h over 10 min blocks (after 1 min)"
    )
    assert "rest until |dV/dt| < 1 mV/h over 10 min blocks, at most 10 h" in describe_step(train)


@pytest.mark.parametrize("on_device", [True, False], ids=["instrument", "host"])
async def test_the_rest_ends_on_its_drift_limit(tmp_path, on_device: bool) -> None:
    result = await run(tmp_path, f"rest-{on_device}", protocol_text(False), on_device=on_device)
    assert result.status == "completed", result.message
    rest = result.steps[1]
    assert rest.fired is not None and rest.fired.quantity == "dV_dt"
    assert "dV_dt < 1 mV/h" in rest.end_reason
    duration = rest.ended_s - rest.started_s
    window = drift_window_s(THRESHOLD_V_S, 10.0)
    assert 60.0 + 2 * window <= duration < MAX_REST_S / 4


async def test_the_trains_relaxations_end_on_the_instrument(tmp_path) -> None:
    result = await run(tmp_path, "train", protocol_text(True), on_device=True)
    assert result.status == "completed", result.message
    train = result.steps[2]
    assert train.end_reason.startswith("completed")
    lasted = train.ended_s - train.started_s
    assert 3 * (300.0 + 2 * 600.0) <= lasted < 3 * (300.0 + MAX_REST_S / 4)


async def test_a_train_that_needs_the_instrument_is_refused_on_one_that_cannot(tmp_path) -> None:
    result = await run(tmp_path, "refused", protocol_text(True), on_device=False)
    assert result.status != "completed"
    assert "cannot evaluate" in result.message
