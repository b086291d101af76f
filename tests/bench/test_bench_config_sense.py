"""Configuration that means what it says: an in-memory database refused for anything stored,
hard limits with units and checked against the instrument's ranges and physical sense, and
submission refusing a slot whose cell rests at its hard limit. Each mistake is one sentence
and a non-zero exit."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from simbench_process import EXAMPLES, cellbench

from scheduler import queue
from scheduler.bench import Bench, BenchError
from scheduler.errors import SchedulerError

SMALL = (EXAMPLES / "sim-bench-small.toml").read_text()
FULL = (EXAMPLES / "sim-bench.toml").read_text()
LIBRARY = Path(__file__).resolve().parents[2] / "protocols" / "library"
CELL = ["--mass", "20.4mg", "--specific-capacity", "200"]


def _with(text: str, key: str, value: str, *, slot: str | None = None) -> str:
    """The bench text with `key` of the slot's limits (the first, or `slot`'s) set to `value`."""
    start = text.index(f'name = "{slot}"') if slot else 0
    head, tail = text[:start], text[start:]
    return head + re.sub(rf"(?m)^{key} = .*$", f"{key} = {value}", tail, count=1)


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("abs_current_max_A", "20", "20 A is more than pstat1 (PalmSens EmStat4) can source"),
        ("voltage_max_V", "4400", "4400 V is outside the -10–10 V that pstat1"),
        ("temperature_max_degC", "343.15", 'if it was meant in kelvin, write "343.15 K"'),
        ("temperature_max_degC", '"20 kg"', "'20 kg' is a mass, but this field needs"),
    ],
)
def test_a_unit_slip_in_a_hard_limit_is_one_sentence_and_exit_1(
    tmp_path: Path, key: str, value: str, says: str
) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(_with(SMALL, key, value))
    result = cellbench("bench", "check", str(bench), "--no-connect")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert f"slots[0].limits.{key}: " in result.stderr and says in result.stderr, result.stderr


def test_a_stack_pressure_in_pascals_is_refused(tmp_path: Path) -> None:
    with pytest.raises(BenchError, match=r"slots\[5\].limits.pressure_max_MPa: 3e\+07 MPa"):
        Bench.from_text(_with(FULL, "pressure_max_MPa", "30e6", slot="A6"))
    bench = tmp_path / "bench.toml"
    bench.write_text(_with(FULL, "pressure_max_MPa", "30e6", slot="A6"))
    result = cellbench("bench", "check", str(bench), "--no-connect")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert 'if it was meant in pascals, write "3e+07 Pa"' in result.stderr, result.stderr


def test_hard_limits_written_with_units_mean_the_same_as_numbers() -> None:
    text = _with(_with(SMALL, "abs_current_max_A", '"20 mA"'), "voltage_max_V", '"4400 mV"')
    text = _with(text, "temperature_max_degC", '"343.15 K"')
    limits = Bench.from_text(text).slots[0].limits
    assert limits == Bench.from_text(SMALL).slots[0].limits


def test_an_in_memory_database_is_refused_for_anything_stored(tmp_path: Path) -> None:
    for db in ("sqlite://", "sqlite:///:memory:"):
        added = cellbench("cell", "add", "c1", *CELL, "--db", db)
        assert added.returncode == 1 and "Traceback" not in added.stderr
        assert "is an in-memory SQLite database" in added.stderr, added.stderr
    daemon = cellbench(
        "daemon", "--bench", str(EXAMPLES / "sim-bench-small.toml"), "--db", "sqlite://"
    )
    assert daemon.returncode == 1 and "is an in-memory SQLite database" in daemon.stderr


def test_submission_refuses_a_slot_whose_cell_rests_at_its_hard_limit(store) -> None:
    # The discharged kim2025 cell rests at 2.50 V: under a 2.5 V hard limit, noise trips it.
    bench = Bench.from_text(_with(FULL, "voltage_min_V", "2.5", slot="A6"))
    store.add_cell("k1", active_mass_g=0.0204, area_cm2=0.785, specific_capacity_mAh_g=200)
    protocol = LIBRARY / "kim2025" / "cycling-0.2C.yaml"
    with pytest.raises(SchedulerError, match=r"slot A6's cell rests at 2\.50\d* V, at or below"):
        queue.submit(
            store, bench, protocol_path_or_text=protocol, cell_name="k1", slot="A6", by="t"
        )
    # The example bench's A6 is set so that it runs it.
    example = Bench.from_text(FULL)
    job = queue.submit(
        store, example, protocol_path_or_text=protocol, cell_name="k1", slot="A6", by="t"
    )
    assert store.get_job(job).state == "queued"


# The library protocols the example bench offers: those for its NCM811 half cells (A1-A5 dry
# film, A6 the kim2025 solid-state cell under its press). The rest need an impedance analyser
# beyond the EmStat4's 200 kHz, or blocking and symmetric cells, which it does not hold.
OFFERED = {
    "A1": [
        "demo/gao2025-short",
        "gao2025/cv",
        "gao2025/cycling-0.5C",
        "gao2025/cycling-1C",
        "gao2025/formation",
        "gao2025/gitt",
        "gao2025/loading",
        "gao2025/pouch-cycling",
        "gao2025/rate",
        "gao2025/rate-full-charge",
        "ye2025/cv",
        "ye2025/cycling-0.5C",
        "ye2025/cycling-1C",
        "ye2025/gitt",
        "ye2025/rate",
    ],
    "A6": [
        "kim2025/cycling-0.2C",
        "kim2025/formation",
        "kim2025/liquid-reference",
        "kim2025/rate",
    ],
}


def test_the_example_bench_takes_every_library_protocol_it_offers(store) -> None:
    bench = Bench.from_text(FULL)
    store.add_cell("c1", active_mass_g=0.0204, area_cm2=0.785, specific_capacity_mAh_g=200)
    for slot, names in OFFERED.items():
        for name in names:
            path = LIBRARY / f"{name}.yaml"
            job = queue.submit(
                store, bench, protocol_path_or_text=path, cell_name="c1", slot=slot, by="t"
            )
            assert store.get_job(job).state == "queued", name


def test_the_cli_refuses_that_job_in_one_sentence(tmp_path: Path) -> None:
    bench = tmp_path / "bench.toml"
    bench.write_text(_with(FULL, "voltage_min_V", "2.5", slot="A6"))
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    assert cellbench("cell", "add", "k1", *CELL, "--db", db).returncode == 0
    protocol = str(LIBRARY / "kim2025" / "cycling-0.2C.yaml")
    args = ("--cell", "k1", "--bench", str(bench), "--slot", "A6", "--db", db)
    result = cellbench("queue", "submit", protocol, *args)
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "slot A6's cell rests at 2.50" in result.stderr
