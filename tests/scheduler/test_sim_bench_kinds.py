"""The in-process simulated bench takes its instruments from the kind registry: each role of
a simulated slot is filled by a registered kind that serves that role."""

from __future__ import annotations

import pytest

from scheduler.sim.bench import SLOT, kind_for


@pytest.mark.parametrize("role", list(SLOT))
def test_each_role_of_a_simulated_slot_is_a_kind_with_that_role(role) -> None:
    kind = kind_for(role)
    assert kind.role == role
    assert set(SLOT[role][1]) <= set(kind.config.model_fields)


def test_sim_run_faults_are_the_potentiostat_kinds() -> None:
    from scheduler.cli.sim_run_cmd import parse_faults
    from simulators.errors import SimulatorError

    names = list(kind_for("potentiostat").faults)
    specs = parse_faults([f"{name}@3" for name in names])
    assert [(s.kind, s.after) for s in specs] == [(name, 3) for name in names]
    with pytest.raises(SimulatorError) as caught:
        parse_faults(["melt@3"])
    assert ", ".join(names) in str(caught.value)
