"""The library's kim2025 EIS (7 MHz to 10 mHz, measured on another instrument in the paper) on
an EmStat4 slot: `protocol check --bench` and `queue submit` refuse it in one sentence naming
the instrument's documented range, and accept the same procedure with its upper frequency
set in range (`--set f_start=200 kHz`)."""

from __future__ import annotations

from pathlib import Path

from cli_output import cli_error, cli_json

import protocols
from scheduler.cli import main

KIM_EIS = protocols.LIBRARY / "kim2025" / "eis-after-formation.yaml"
EMSTAT4_RANGE = "measures only from 200 kHz to 10 µHz"
BENCH = """
[bench]
name = "lab"

[instruments.pstat]
kind = "emstat4"
endpoint = "tcp://127.0.0.1:47901"

[instruments.oven]
kind = "watlow-f4t"
endpoint = "127.0.0.1:47902"

[instruments.press]
kind = "pressure-rig"
controller = "tcp://127.0.0.1:47903"
gauge = "tcp://127.0.0.1:47904"
piston_area_mm2 = 1963.5
friction_N = 15.0

[[slots]]
name = "E1"
potentiostat = "pstat"
chamber = "oven"
rig = "press"
cell_area_mm2 = 78.5
"""


def test_protocol_check_on_a_bench_refuses_7_mhz_on_an_emstat4(tmp_path, capsys) -> None:
    bench = tmp_path / "lab.toml"
    bench.write_text(BENCH)
    line = cli_error(capsys, "protocol", "check", str(KIM_EIS), "--bench", str(bench))
    assert "fits no slot of bench lab" in line
    assert "measures impedance from 7 MHz to 10 mHz but slot E1's PalmSens EmStat4" in line
    assert EMSTAT4_RANGE in line
    data = cli_json(
        capsys, "protocol", "check", str(KIM_EIS), "--bench", str(bench), "--set", "f_start=200 kHz"
    )
    assert data["fits"] == ["E1"]


def test_queue_submit_refuses_7_mhz_on_an_emstat4_slot_and_takes_200_khz(
    tmp_path: Path, capsys
) -> None:
    bench = tmp_path / "lab.toml"
    bench.write_text(BENCH)
    db = f"sqlite:///{tmp_path / 'lab.db'}"
    cell = ("--mass", "23mg", "--area", "0.785cm2", "--specific-capacity", "200", "--db", db)
    main(["cell", "add", "k1", *cell])
    capsys.readouterr()
    submit = ("queue", "submit", str(KIM_EIS), "--cell", "k1", "--bench", str(bench), "--db", db)
    line = cli_error(capsys, *submit, "--slot", "E1")
    assert "cannot run on slot E1" in line and EMSTAT4_RANGE in line
    job = cli_json(capsys, *submit, "--slot", "E1", "--set", "f_start=200 kHz")
    assert job["state"] == "queued" and job["slot"] == "E1"
