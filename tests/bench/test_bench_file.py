"""Bench files: the examples load, and every kind of mistake is named with its file, key
path and what would be valid, all at once, without a traceback from the CLI."""

from __future__ import annotations

import tomllib

import pytest
import tomli_w
from hypothesis import given, settings
from hypothesis import strategies as st
from simbench_process import EXAMPLES, cellbench

from scheduler import kinds
from scheduler.bench import Bench, BenchError, with_free_ports
from scheduler.errors import SchedulerError
from scheduler.instruments import slot_capabilities

GOOD = """
[bench]
name = "rig-1"

[instruments.pstat1]
kind = "emstat4"
endpoint = "tcp://127.0.0.1:7101"

[instruments.smu]
kind = "keithley2450"
endpoint = "TCPIP0::127.0.0.1::5025::SOCKET"

[instruments.chamberA]
kind = "espec"
endpoint = "/dev/ttyUSB0"

[instruments.f4t]
kind = "watlow-f4t"
endpoint = "127.0.0.1:502"

[instruments.press1]
kind = "pressure-rig"
controller = "tcp://127.0.0.1:7301"
gauge = "serial:///dev/ttyUSB1"
piston_area_mm2 = 1963.5

[[slots]]
name = "A1"
potentiostat = "pstat1"
chamber = "chamberA"
rig = "press1"
cell_area_mm2 = 78.5
[slots.limits]
voltage_min_V = 2.0
voltage_max_V = 4.6

[[slots]]
name = "B1"
potentiostat = "smu"
chamber = "f4t"
"""


def problems_of(text: str) -> list[tuple[str, str]]:
    with pytest.raises(BenchError) as caught:
        Bench.from_text(text, source="bad.toml")
    return caught.value.problems


def test_the_examples_load_with_their_slots_and_instruments() -> None:
    bench = Bench.load(EXAMPLES / "sim-bench.toml")
    assert [s.name for s in bench.slots] == [f"A{i}" for i in range(1, 7)] + ["N1", "N2"]
    assert {s.chamber for s in bench.slots[:3]} == {"chamberA"}
    assert {s.chamber for s in bench.slots[3:6]} == {"chamberB"}
    assert {s.potentiostat for s in bench.slots[6:]} == {"bts1"}  # two channels of one cycler
    assert [s.name for s in bench.slots if s.rig] == ["A6"]
    assert bench.simulation is not None
    assert bench.simulation.cells["A6"].preset.startswith("kim2025")
    assert "[[slots]]" in bench.source_text
    small = Bench.load(EXAMPLES / "sim-bench-small.toml")
    assert len(small.slots) == 1


def test_a_good_bench_gives_each_slot_what_it_can_do() -> None:
    bench = Bench.from_text(GOOD)
    a1, b1 = slot_capabilities(bench, "A1"), slot_capabilities(bench, "B1")
    assert "eis" in a1.potentiostat.techniques and a1.potentiostat.on_device_limits
    assert "eis" not in b1.potentiostat.techniques and not b1.potentiostat.on_device_limits
    assert a1.chamber_ramps and not b1.chamber_ramps  # ESPEC ramps itself, the F4T does not
    assert a1.rig == "press1" and a1.cell_area_mm2 == 78.5
    # The values are the drivers' own, not retyped.
    from drivers.potentiostats.emstat4.scripts import MAX_CURRENT_A

    assert kinds.get("emstat4").capabilities.current_range_A == MAX_CURRENT_A
    with pytest.raises(SchedulerError, match="no slot 'Z9'; its slots are A1, B1"):
        bench.slot("Z9")


BAD = [
    (
        GOOD.replace('kind = "espec"', 'kind = "oven"'),
        "instruments.chamberA.kind",
        "'oven' is not an instrument kind; valid kinds: emstat4, keithley2450, espec",
    ),
    (
        GOOD.replace('rig = "press1"', 'rig = "press9"'),
        "slots[0].rig",
        "no instrument is named 'press9'; the rigs in this bench are press1",
    ),
    (
        GOOD.replace('chamber = "f4t"', 'chamber = "pstat1"'),
        "slots[1].chamber",
        "'pstat1' is of kind emstat4, not a chamber",
    ),
    (
        GOOD.replace('name = "B1"', 'name = "A1"'),
        "slots[1].name",
        "slot 'A1' is already slots[0]",
    ),
    (
        GOOD.replace('potentiostat = "smu"', 'potentiostat = "pstat1"'),
        "slots[1].channel",
        "pstat1 channel 0 is already used by slots[0]",
    ),
    (
        GOOD.replace("cell_area_mm2 = 78.5\n", ""),
        "slots[0].cell_area_mm2",
        "is required with rig 'press1'",
    ),
    (
        GOOD.replace("voltage_min_V = 2.0", "voltage_min_V = 4.8"),
        "slots[0].limits",
        "voltage_min_V (4.8) must be below voltage_max_V (4.6)",
    ),
    (
        GOOD.replace(
            "voltage_max_V = 4.6",
            "voltage_max_V = 4.6\ntemperature_min_degC = 60\ntemperature_max_degC = 40",
        ),
        "slots[0].limits",
        "temperature_min_degC (60) must be below temperature_max_degC (40)",
    ),
    (
        GOOD.replace('"tcp://127.0.0.1:7101"', '"tcp://127.0.0.1"'),
        "instruments.pstat1.endpoint",
        "needs a host and a port",
    ),
    (
        GOOD.replace('"TCPIP0::127.0.0.1::5025::SOCKET"', '"COM3"'),
        "instruments.smu.endpoint",
        "'COM3' is not a VISA resource such as TCPIP0::",
    ),
    (
        GOOD.replace('"/dev/ttyUSB0"', '"http://chamber"'),
        "instruments.chamberA.endpoint",
        "is not tcp://host:port, socket://host:port, serial:///dev/… or a path",
    ),
    (
        GOOD.replace('endpoint = "tcp://127.0.0.1:7101"', 'endpiont = "tcp://127.0.0.1:7101"'),
        "instruments.pstat1.endpiont",
        "is not a known key (did you mean 'endpoint'?); valid keys here: kind, endpoint",
    ),
    (
        GOOD.replace("voltage_max_V = 4.6", "voltage_max_V = 4.6\ncurrent_max = 1"),
        "slots[0].limits.current_max",
        "valid keys here: voltage_min_V, voltage_max_V, abs_current_max_A",
    ),
    (
        GOOD.replace('potentiostat = "smu"', 'potentiostat = "smu"\nchannel = 1'),
        "slots[1].channel",
        "a Keithley 2450 has one channel (0), not 1",
    ),
    (
        GOOD.replace('"tcp://127.0.0.1:7101"', '"tcp://127.0.0.1:0"'),
        "instruments.pstat1.endpoint",
        "port 0 ('pick a free port') is only for `cellbench sim --bench`",
    ),
    (
        GOOD + '\n[simulation]\ntime_scale = inf\n[simulation.cells]\nZ9 = { preset = "x" }\n',
        "simulation.time_scale",
        "time_scale must be finite",
    ),
    (
        GOOD + '\n[telemetry]\nbroker = "mqtt://127.0.0.1"\ncontrol = true\n',
        "telemetry",
        "control = true needs a username",
    ),
]


@pytest.mark.parametrize(("text", "path", "message"), BAD, ids=[b[1] for b in BAD])
def test_each_mistake_names_its_key_path_and_what_is_valid(text, path, message) -> None:
    problems = problems_of(text)
    assert any(p == path and message in m for p, m in problems), problems


def test_every_problem_is_reported_at_once_one_per_line() -> None:
    text = GOOD
    for good, bad in [
        ('kind = "espec"', 'kind = "oven"'),
        ('rig = "press1"', 'rig = "press9"'),
        ('name = "B1"', 'name = "A1"'),
        ("voltage_min_V = 2.0", "voltage_min_V = 4.8"),
        ('"tcp://127.0.0.1:7101"', '"tcp://127.0.0.1"'),
    ]:
        text = text.replace(good, bad)
    with pytest.raises(BenchError) as caught:
        Bench.from_text(text, source="bad.toml")
    lines = str(caught.value).splitlines()
    assert lines[0] == "bench file bad.toml has 5 problems:"
    paths = [
        "instruments.chamberA.kind",
        "slots[0].rig",
        "slots[1].name",
        "slots[0].limits",
        "instruments.pstat1.endpoint",
    ]
    assert sorted(line.split(": ")[1] for line in lines[1:]) == sorted(paths)
    assert all(line.startswith("bad.toml: ") for line in lines[1:])


def test_the_cli_reports_the_problems_without_a_traceback(tmp_path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text(GOOD.replace('rig = "press1"', 'rig = "press9"').replace('"oven"', "1"))
    bad.write_text(bad.read_text().replace('kind = "espec"', 'kind = "oven"'))
    result = cellbench("bench", "check", str(bad))
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    lines = result.stderr.splitlines()
    assert lines[0] == f"error: bench file {bad} has 2 problems:"
    assert any("instruments.chamberA.kind: 'oven' is not an instrument kind" in x for x in lines)
    assert any("slots[0].rig: no instrument is named 'press9'" in x for x in lines)
    broken = tmp_path / "broken.toml"
    broken.write_text("[bench\nname = 1")
    result = cellbench("bench", "check", str(broken))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "is not valid TOML" in result.stderr and "line 1" in result.stderr
    missing = cellbench("bench", "check", str(tmp_path / "nope.toml"))
    assert missing.returncode == 1 and "does not exist" in missing.stderr


def test_check_without_connecting_and_with_nothing_listening(tmp_path) -> None:
    offline = cellbench("bench", "check", str(EXAMPLES / "sim-bench-small.toml"), "--no-connect")
    assert offline.returncode == 0 and "is valid" in offline.stdout
    # Nothing listens on these free ports: each instrument gets its one-sentence error.
    bench = tmp_path / "bench.toml"
    bench.write_text(with_free_ports((EXAMPLES / "sim-bench-small.toml").read_text()))
    result = cellbench("bench", "check", str(bench), "--timeout", "2")
    assert result.returncode == 1 and "Traceback" not in result.stderr
    assert "2 of 2 instruments did not answer: pstat1, chamber1" in result.stderr
    assert "cannot connect to pstat1 at tcp://127.0.0.1:" in result.stdout.replace("\n", "")


def test_free_ports_keep_everything_else_and_round_trip() -> None:
    text = (EXAMPLES / "sim-bench.toml").read_text()
    moved = with_free_ports(text)
    before, after = tomllib.loads(text), tomllib.loads(moved)
    ports = [after["instruments"][n].get("endpoint") for n in after["instruments"]]
    assert len(set(ports)) == len(ports)  # every instrument on its own port
    assert (
        after["slots"] == before["slots"]
        and after["simulation"]["cells"] == (before["simulation"]["cells"])
    )
    assert after["simulation"]["control"] != before["simulation"]["control"]
    assert tomllib.loads(tomli_w.dumps(before)) == before
    Bench.from_text(moved)


SCALARS = st.one_of(
    st.integers(-5, 100000),
    st.floats(allow_nan=False, allow_infinity=False),
    st.booleans(),
    st.sampled_from(["", "pstat1", "chamberA", "press1", "tcp://127.0.0.1:1", "/dev/x", "A1"]),
)
KEYS = st.sampled_from(
    [
        "kind",
        "endpoint",
        "name",
        "potentiostat",
        "chamber",
        "rig",
        "channel",
        "limits",
        "cell_area_mm2",
        "controller",
        "gauge",
        "piston_area_mm2",
        "voltage_min_V",
        "bogus",
    ]
)
VALUES = st.recursive(SCALARS, lambda inner: st.dictionaries(KEYS, inner, max_size=4), max_leaves=8)


@settings(max_examples=150, deadline=None)
@given(
    instruments=st.dictionaries(st.sampled_from(["pstat1", "chamberA", "press1", "x y"]), VALUES),
    slots=st.lists(st.dictionaries(KEYS, VALUES, max_size=6), max_size=3),
)
def test_any_malformed_bench_is_a_bench_error_never_a_crash(instruments, slots) -> None:
    raw = {"bench": {"name": "fuzz"}, "instruments": instruments, "slots": slots}
    try:
        bench = Bench.from_text(tomli_w.dumps(raw), source="fuzz.toml")
    except BenchError as exc:
        assert exc.problems and all(line.strip() for line in str(exc).splitlines())
    else:
        assert bench.slots  # whatever passes is a complete bench
