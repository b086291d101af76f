"""Instrument kinds are known in one place (DESIGN.md 3, "Instrument kinds: one registry"):
no module outside scheduler/kinds/ tells kinds apart by `isinstance(config, XConfig)` or by
comparing with a kind's name, and every registration is complete, with fault names its
simulator accepts."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest

from scheduler import kinds
from scheduler.kinds import KINDS, ROLES, Capabilities, InstrumentSettings, SimContext
from simulators.errors import SimulatorError

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("drivers", "protocols", "scheduler", "storage", "simulators")
REGISTRY = ROOT / "scheduler" / "kinds"
NAMES = set(KINDS)


def _names_a_config(node: ast.AST) -> bool:
    """`XConfig`, `mod.XConfig`, or a tuple / union of them."""
    if isinstance(node, ast.Name):
        return node.id.endswith("Config")
    if isinstance(node, ast.Attribute):
        return node.attr.endswith("Config")
    if isinstance(node, ast.Tuple):
        return any(_names_a_config(e) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _names_a_config(node.left) or _names_a_config(node.right)
    return False


def _kind_literal(node: ast.AST) -> bool:
    """A kind's name as a string, or a tuple / list / set holding one."""
    if isinstance(node, ast.Constant):
        return node.value in NAMES
    if isinstance(node, ast.Tuple | ast.List | ast.Set):
        return any(_kind_literal(e) for e in node.elts)
    return False


def dispatches_on_kind(tree: ast.AST) -> list[int]:
    """Lines that tell instrument kinds apart by isinstance or by name."""
    lines = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id == "isinstance"
            and len(node.args) == 2
            and _names_a_config(node.args[1])
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.Compare) and any(
            _kind_literal(side) for side in (node.left, *node.comparators)
        ):
            lines.append(node.lineno)
        elif isinstance(node, ast.match_case) and _kind_literal(
            getattr(node.pattern, "value", None) or ast.Constant(None)
        ):
            lines.append(node.pattern.lineno)
    return lines


def test_nothing_outside_the_registry_dispatches_on_a_kind() -> None:
    found = []
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            if REGISTRY in path.parents:
                continue
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            found += [f"{path.relative_to(ROOT)}:{line}" for line in dispatches_on_kind(tree)]
    assert not found, "kind dispatch outside scheduler/kinds/:\n" + "\n".join(found)


@pytest.mark.parametrize(
    "source",
    [
        "if isinstance(config, EmStat4Config): pass",
        "ok = isinstance(c, bench.EspecConfig | WatlowF4TConfig)",
        "if config.kind == 'espec': pass",
        "if kind in ('espec', 'watlow-f4t'): pass",
        "match kind:\n    case 'pressure-rig':\n        pass",
    ],
)
def test_the_checker_sees_each_way_of_dispatching(source: str) -> None:
    assert dispatches_on_kind(ast.parse(source))


# -- the registrations are complete --------------------------------------------------------------
EXAMPLES = {
    "emstat4": {"endpoint": "tcp://127.0.0.1:1"},
    "keithley2450": {"endpoint": "TCPIP0::127.0.0.1::1::SOCKET"},
    "espec": {"endpoint": "tcp://127.0.0.1:1"},
    "watlow-f4t": {"endpoint": "127.0.0.1:1"},
    "neware": {"endpoint": "tcp://127.0.0.1:1"},
    "pressure-rig": {
        "controller": "tcp://127.0.0.1:1",
        "gauge": "tcp://127.0.0.1:2",
        "piston_area_mm2": 1963.5,
    },
}


def test_every_kind_has_an_example_here() -> None:
    assert set(EXAMPLES) == set(KINDS)


def _config(name: str) -> InstrumentSettings:
    return KINDS[name].config.model_validate({"kind": name, **EXAMPLES[name]})


def _simulated(name: str):
    from simulators.cell import load_preset, make_cell
    from simulators.clock import SimClock

    kind, config = KINDS[name], _config(name)
    context = SimContext(name, 1, SimClock(1000.0), seed=1)
    if kind.plant is not None:
        context = SimContext(name, 1, context.clock, seed=1, plant=kind.plant(config, context))
    if kind.role == "potentiostat":
        cell = make_cell(load_preset("gao2025-dfncm-llzo"), seed=1)
        context = SimContext(name, 1, context.clock, seed=1, cell=cell)
    return kind.simulator(config, context)


@pytest.mark.parametrize("name", list(KINDS))
async def test_each_registration_declares_everything(name: str) -> None:
    kind = KINDS[name]
    assert kind.kind == name and kinds.get(name) is kind
    assert issubclass(kind.config, InstrumentSettings)
    assert kind.label and kind.role in ROLES
    assert isinstance(kind.capabilities, Capabilities)
    assert kind.faults and all(isinstance(text, str) and text for text in kind.faults.values())
    assert set(kind.endpoints) <= set(kind.config.model_fields)
    for factory in (kind.driver, kind.simulator):
        assert callable(factory)
    assert inspect.iscoroutinefunction(kind.probe)
    assert (kind.plant is not None) == (kind.role in ("chamber", "rig"))
    config = _config(name)
    assert kinds.kind_of(config) is kind
    assert kind.driver(config, name, None, 0) is not None  # unopened: no connection yet
    if kind.role == "potentiostat":
        caps = kind.capabilities
        assert caps.techniques and caps.current_range_A and caps.voltage_range_V
        assert ("eis" in caps.techniques) == (caps.eis_frequency_Hz is not None)


@pytest.mark.parametrize("name", list(KINDS))
async def test_each_fault_name_is_accepted_by_the_kinds_simulator(name: str) -> None:
    made = _simulated(name)
    assert set(made.endpoints) == set(KINDS[name].endpoints)
    for fault in KINDS[name].faults:
        made.simulator.inject(fault)
        made.simulator.clear()
    with pytest.raises(SimulatorError, match="has no fault 'meltdown'"):
        made.simulator.inject("meltdown")
    state = made.simulator.state()
    assert isinstance(state, dict) and state["connections"] == 0
    for server in made.endpoints.values():
        await server.stop()
