"""The soak the chamber driver tests share: 30 → 60 °C through the Environment, and its band."""

from __future__ import annotations

from typing import Any

from scheduler.environment import Environment, EnvironmentSettings

TOLERANCE_K = 0.5
STABLE_FOR_S = 300.0
POLL_S = 20.0


async def soak_to_60(chamber_bench: Any, chamber: Any) -> tuple[float, float]:
    """Set 60 °C and wait until it is stable: (when the soak began, how long it took)."""
    clock = chamber_bench.clock
    env = Environment(chamber, None, clock, settings=EnvironmentSettings(poll_s=POLL_S))
    began = clock.now()
    took = await env.set_temperature(
        60.0, tolerance_K=TOLERANCE_K, stable_for_s=STABLE_FOR_S, timeout_s=4 * 3600
    )
    return began, took
