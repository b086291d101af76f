"""`cellbench protocol export --to neware`: a step file BTS can load, read back by the
simulator's own step-file reader, and one sentence for what the cycler cannot run."""

from __future__ import annotations

import json
import re

import protocols as P
from simulators.neware import parse_step_file

LIB = P.LIBRARY


def test_export_writes_a_step_file_the_cycler_reads(cli, tmp_path):
    cell = tmp_path / "cell.yaml"
    cell.write_text("name: c\nactive_mass_mg: 10\narea_cm2: 0.785\nspecific_capacity_mAh_g: 200\n")
    out = tmp_path / "rate.xml"
    rate = str(LIB / "gao2025" / "rate.yaml")
    result = cli("protocol", "export", rate, "--to", "neware", "--cell", str(cell), "-o", str(out))
    assert result.code == 0, result.err
    file = parse_step_file(out.read_text(encoding="utf-8"))
    loops = [s for s in file.steps.values() if s.step_type == 5]
    assert [s.cycle_count for s in loops] == [5] * 7  # one cycle step per rate of the ladder
    charges = sorted({round(s.current_A * 1e3, 6) for s in file.steps.values() if s.step_type == 1})
    assert charges == [0.2, 0.4, 1.0, 2.0, 4.0, 6.0]  # mA at 0.1C … 3C of 10 mg × 200 mA/g
    assert "temperature <= 60 degC" in result.out
    printed = cli("protocol", "export", rate, "--to", "neware", "--cell", str(cell), "--json")
    # The same step file, but for the date it was written (to the second) in its header.
    undated = [
        re.sub(r'date="\d{14}"', 'date=""', text)
        for text in (json.loads(printed.out)["content"], out.read_text(encoding="utf-8"))
    ]
    assert undated[0] == undated[1] and 'date=""' in undated[0]


def test_export_refuses_in_one_sentence(cli, tmp_path):
    cell = tmp_path / "cell.yaml"
    cell.write_text("name: c\nactive_mass_mg: 10\narea_cm2: 0.785\nspecific_capacity_mAh_g: 200\n")
    no_cell = cli("protocol", "export", str(LIB / "gao2025" / "rate.yaml"), "--to", "neware")
    assert no_cell.code == 1 and "needs a cell with a capacity basis" in no_cell.err
    eis = cli(
        "protocol",
        "export",
        str(LIB / "gao2025" / "vt-eis.yaml"),
        "--to",
        "neware",
        "--cell",
        str(cell),
    )
    assert eis.code == 1 and "EIS cannot run on a Neware BTS channel" in eis.err
    assert "Traceback" not in eis.err and len(eis.err.strip().splitlines()) <= 2


def test_check_against_the_example_bench_names_the_cycler_channels_that_fit(cli):
    bench = str(LIB.parents[1] / "examples" / "sim-bench.toml")
    cycling = cli(
        "protocol", "check", str(LIB / "gao2025" / "cycling-0.5C.yaml"), "--bench", bench, "--json"
    )
    assert cycling.code == 0, cycling.err
    assert {"N1", "N2"} <= set(json.loads(cycling.out)["fits"])
    gitt = cli("protocol", "check", str(LIB / "gao2025" / "gitt.yaml"), "--bench", bench, "--json")
    assert gitt.code == 0, gitt.err
    assert not {"N1", "N2"} & set(json.loads(gitt.out)["fits"])  # its pulses end on dV/dt
