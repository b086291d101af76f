"""Stopping a run from outside (the safety supervisor, an operator's pause or cancel):
the running on-device step is aborted, the cell is left off, the run ends with the status
asked for, and a paused run resumes at the interrupted step with continuous counters."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from shared_protocols import charge_then_rest

import protocols
from scheduler.binding import CellInfo, bind
from scheduler.daemon.journal import resume_point
from scheduler.runner import Runner
from scheduler.sim.bench import simulated_emstat4
from storage import open_store

PROTOCOL = charge_then_rest("interrupt-me", then_discharge=True)


async def test_pause_then_resume_continues_with_continuous_counters(tmp_path) -> None:
    store = open_store(f"sqlite:///{tmp_path}/r.db")
    protocol = protocols.loads(PROTOCOL)
    async with simulated_emstat4("gao2025-dfncm-llzo", time_scale=3e4) as channel:
        params = channel.params
        cell = CellInfo("c", active_mass_g=params.active_mass_g, specific_capacity_mAh_g=200.0)
        binding = bind(protocol, cell)
        plan = binding.plan
        run_id = store.start_run(cell_id=None, protocol_id=None, slot="s")
        runner = Runner(plan, channel.driver, store, run_id, one_c_A=binding.one_c_A)
        half_hour = asyncio.Event()

        def watch(event: str, state) -> None:
            if state.step_time_s >= 1800:  # half an hour into the first charge
                half_hour.set()

        runner.progress = watch
        task = asyncio.create_task(runner.run())
        await asyncio.wait_for(half_hour.wait(), 30)
        await runner.interrupt("paused", "operator pause")
        assert not channel.simulator.machine.cell_on  # the instrument stopped driving the cell
        result = await task
        assert result.status == "paused"
        assert store.get_run(run_id).status == "paused"
        before = store.read_samples(run_id)

        point = resume_point(store, run_id, can_attach=False)
        assert point.interrupted_step_count == 1 and not point.attach
        resumed = Runner(plan, channel.driver, store, run_id, one_c_A=binding.one_c_A)
        final = await resumed.run(point)
    assert final.status == "completed"
    after = store.read_samples(run_id)
    records = after["record_index"]
    assert np.all(np.diff(records) == 1)  # one continuous record sequence, nothing repeated
    assert len(after["test_time_s"]) > len(before["test_time_s"])
    assert np.all(np.diff(after["test_time_s"]) >= 0)  # test time never runs backwards
    # Unix time keeps the first process's anchor: test time + the same start, before and after
    anchor = after["unix_time_s"] - after["test_time_s"]
    first_anchor = before["unix_time_s"][0] - before["test_time_s"][0]
    assert point.unix_anchor_s == pytest.approx(first_anchor, abs=1e-3)
    assert np.ptp(anchor) < 1e-3
    assert np.all(np.diff(after["charge_capacity_Ah"]) >= -1e-12)  # cumulative, continuous
    steps = store.steps(run_id)
    assert [s.step_count for s in steps] == [1, 2, 3, 4]  # the interrupted charge ran again
    assert steps[0].end_reason == "interrupted (paused): operator pause"
    assert steps[1].kind == "ConstantCurrent" and steps[1].end_reason.startswith("limit")
