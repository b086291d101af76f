"""The papers' procedures: every library file checks, and its expansion matches the paper."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

import protocols as P
from protocols.estimate import estimate
from protocols.steps import (
    AdvanceCycle,
    ConstantCurrent,
    ConstantVoltage,
    Impedance,
    PulseTrain,
    SetPressure,
    SetTemperature,
    Sweep,
)
from simulators.cell import load_preset

LIB = P.LIBRARY
PAPERS = ("gao2025", "kim2025", "ye2025")
FILES = sorted(f for paper in PAPERS for f in (LIB / paper).glob("*.yaml"))
CELL = P.CapacityBasis.from_specific(0.010, 200.0, area_cm2=0.785)  # 10 mg: 1C = 2 mA
ONE_C = 2e-3


def plan_of(paper: str, name: str, **overrides):
    return P.load(LIB / paper / f"{name}.yaml").bind(CELL, overrides=overrides or None)


def ccs(plan, sign: int):
    return [s for s in plan.steps if isinstance(s, ConstantCurrent) and s.current_A * sign > 0]


def window(plan) -> tuple[float, float]:
    """(lowest discharge cut-off, highest charge cut-off) over all CC steps."""
    lows = [lim.value for s in ccs(plan, -1) for lim in s.limits if lim.quantity == "voltage"]
    highs = [lim.value for s in ccs(plan, +1) for lim in s.limits if lim.quantity == "voltage"]
    return min(lows), max(highs)


def ladder(plan, sign: int = -1) -> list[float]:
    """C-rates of each loop body in program order (one entry per rate block)."""
    out = []
    for span in plan.loops:
        rates = {
            round(abs(s.c_rate), 4)
            for s in plan.steps[span.start : span.end + 1]
            if isinstance(s, ConstantCurrent) and s.current_A * sign > 0
        }
        out.extend(sorted(rates))
    return out


def aging_cycles(plan, cycle_type: str = "aging") -> int:
    """Cycles in loops whose body is `cycle_type`."""
    total = 0
    for span in plan.loops:
        if plan.steps[span.start].cycle_type == cycle_type:
            n = sum(isinstance(s, AdvanceCycle) for s in plan.steps[span.start : span.end + 1])
            total += n * (span.count or 0)
    return total


def eis_steps(plan):
    return [s for s in plan.steps if isinstance(s, Impedance)]


def test_every_paper_has_its_folder_and_files():
    names = {f"{f.parent.name}/{f.stem}" for f in FILES}
    for required in (
        "gao2025/rate",
        "gao2025/cycling-0.5C",
        "gao2025/cycling-1C",
        "gao2025/loading",
        "gao2025/formation",
        "gao2025/gitt",
        "gao2025/vt-eis",
        "gao2025/cv",
        "gao2025/eis-after-cycling",
        "kim2025/formation",
        "kim2025/cycling-0.2C",
        "kim2025/rate",
        "kim2025/eis-after-formation",
        "kim2025/eis-after-cycling",
        "kim2025/dc-polarisation",
        "ye2025/li-li-symmetric",
        "ye2025/transference-number",
        "ye2025/conductivity-vs-temperature",
        "ye2025/window-lsv",
        "ye2025/gitt",
    ):
        assert required in names


@pytest.mark.parametrize("path", FILES, ids=[f"{f.parent.name}/{f.stem}" for f in FILES])
def test_library_file_checks_and_cites_its_paper(path: Path, cli, tmp_path):
    text = path.read_text(encoding="utf-8")
    header = text.split("\nname:", 1)[0]
    assert path.parent.name in header and "seed" in header and "Reproduces" in header
    cell = tmp_path / "cell.yaml"
    cell.write_text("name: c\nactive_mass_mg: 10\narea_cm2: 0.785\nspecific_capacity_mAh_g: 200\n")
    result = cli("protocol", "check", str(path), "--cell", str(cell))
    assert result.code == 0, result.err
    assert "is valid" in " ".join(result.out.split())
    json_result = cli("protocol", "check", str(path), "--json")
    assert json_result.code == 0, json_result.err


# -- gao2025 -----------------------------------------------------------------------------------


def test_gao2025_rate():
    plan = plan_of("gao2025", "rate")
    assert ladder(plan) == [0.1, 0.2, 0.5, 1.0, 2.0, 3.0, 0.1]
    assert [s.count for s in plan.loops] == [5] * 7
    assert window(plan) == (pytest.approx(3.0), pytest.approx(4.3))
    assert max(abs(s.current_A) for s in ccs(plan, -1)) == pytest.approx(3 * ONE_C)


@pytest.mark.parametrize(("name", "rate"), [("cycling-0.5C", 0.5), ("cycling-1C", 1.0)])
def test_gao2025_cycling(name, rate):
    plan = plan_of("gao2025", name)
    assert aging_cycles(plan) == 100
    aging = [s for s in ccs(plan, -1) if s.cycle_type == "aging"]
    assert {abs(s.c_rate) for s in aging} == {rate}
    assert window(plan) == (pytest.approx(3.0), pytest.approx(4.3))


def test_gao2025_loading_and_pouch_and_formation():
    loading = plan_of("gao2025", "loading")
    assert aging_cycles(loading) == 20 and {abs(s.c_rate) for s in ccs(loading, -1)} == {0.1}
    pouch = plan_of("gao2025", "pouch-cycling")
    assert aging_cycles(pouch) == 50
    assert pouch.basis.one_c_A == pytest.approx(7.1e-3 * 0.785)  # 7.1 mAh/cm² × area
    first = plan_of("gao2025", "formation")
    assert [abs(s.c_rate) for s in ccs(first, 1) + ccs(first, -1)] == [0.1, 0.1]
    assert window(first) == (pytest.approx(3.0), pytest.approx(4.3))
    fast = plan_of("gao2025", "formation", rate="1C")
    assert [abs(s.c_rate) for s in ccs(fast, 1)] == [1.0]


def test_gao2025_gitt_pulses_are_short_against_L2_over_D():
    plan = plan_of("gao2025", "gitt")
    trains = [s for s in plan.steps if isinstance(s, PulseTrain)]
    assert len(trains) == 2 and trains[0].pulse_current_A > 0 > trains[1].pulse_current_A
    # The diffusion length and D the preset states (one convention for preset, protocol and
    # analysis: L = V/S per geometric area).
    preset = load_preset("gao2025-dfncm-llzo")
    L_cm, D = preset.diffusion_length_um * 1e-4, preset.D_cm2_s
    for t in trains:
        assert abs(t.c_rate) == pytest.approx(0.5) and abs(t.pulse_current_A) == pytest.approx(
            0.5 * ONE_C
        )
        assert t.pulse_s == 20 and t.relax_s == 8 * 3600  # the most a relaxation lasts
        assert t.relax_dV_dt_V_s == pytest.approx(1e-4 / 3600)  # what ends it
        assert t.pulse_s < 0.05 * L_cm**2 / D  # τ ≪ L²/D ≈ 1000 s
        # room for a material several times slower to relax (L²/D ≈ 6500 s at D = 2.2e-9)
        assert t.relax_s > 4 * L_cm**2 / 2.2e-9
        assert t.n_pulses * t.pulse_s * abs(t.c_rate) / 3600 >= 1.0  # can cross the whole window
    assert [lim.value for lim in trains[0].limits] == [pytest.approx(4.3)]
    assert [lim.value for lim in trains[1].limits] == [pytest.approx(3.0)]


def test_gao2025_vt_eis():
    plan = plan_of("gao2025", "vt-eis")
    temps = [s.target_degC for s in plan.steps if isinstance(s, SetTemperature)]
    assert temps == [25, 35, 45, 55, 65, 25]
    spectra = eis_steps(plan)
    assert len(spectra) == 6
    for s in spectra:
        assert (s.f_start_Hz, s.f_end_Hz, s.amplitude, s.dc_bias) == (
            1e6,
            0.1,
            pytest.approx(0.01),
            None,
        )
        assert s.mode == "potentiostatic"
    soaks = [s for s in plan.steps if isinstance(s, SetTemperature)]
    assert all(s.soak_s == 7200 and s.stable_for_s == 1800 and s.tolerance_K == 0.5 for s in soaks)
    res = estimate(plan).resources
    assert res.eis and res.chamber and not res.pressure_rig


def test_gao2025_cv_and_eis_after_cycling():
    cv = plan_of("gao2025", "cv")
    (sweep,) = [s for s in cv.steps if isinstance(s, Sweep)]
    assert sweep.scan_rate_V_s == pytest.approx(1e-4) and sweep.vertices_V == pytest.approx(
        (4.3, 3.0)
    )
    assert sweep.start_at_ocv and sweep.n_cycles == 3
    after = plan_of("gao2025", "eis-after-cycling")
    spectra = eis_steps(after)
    assert len(spectra) == 2
    (span,) = after.loops
    assert span.count == 100 and spectra[0].index < span.start and spectra[1].index > span.end


# -- kim2025 -----------------------------------------------------------------------------------


def kim_env(plan):
    pressures = [s.target_Pa for s in plan.steps if isinstance(s, SetPressure)]
    temps = [s.target_degC for s in plan.steps if isinstance(s, SetTemperature)]
    return pressures, temps


def test_kim2025_formation():
    plan = plan_of("kim2025", "formation")
    assert kim_env(plan) == ([15e6], [60])
    assert [abs(s.c_rate) for s in ccs(plan, 1) + ccs(plan, -1)] == [0.05, 0.05]
    assert window(plan) == (pytest.approx(2.5), pytest.approx(4.25))
    assert plan.basis.one_c_A == pytest.approx(ONE_C)  # 1C = 200 mA/g × 10 mg
    res = estimate(plan).resources
    assert res.chamber and res.pressure_rig and res.pressures_Pa == [15e6]


def test_kim2025_cycling_and_rate():
    plan = plan_of("kim2025", "cycling-0.2C")
    assert kim_env(plan) == ([15e6], [60])
    assert aging_cycles(plan) == 50
    assert {abs(s.c_rate) for s in ccs(plan, -1) if s.cycle_type == "aging"} == {0.2}
    assert {abs(s.c_rate) for s in ccs(plan, -1) if s.cycle_type == "formation"} == {0.05}
    assert window(plan) == (pytest.approx(2.5), pytest.approx(4.25))
    cold = plan_of("kim2025", "cycling-0.2C", temperature="30 degC")
    assert kim_env(cold) == ([15e6], [30])
    rate = plan_of("kim2025", "rate")
    steps = ladder(rate)
    assert steps[0] == 0.1 and max(steps) == 0.5 and steps == [*sorted(steps[:-1]), 0.1]
    assert window(rate) == (pytest.approx(2.5), pytest.approx(4.25))


def test_kim2025_eis_7MHz_to_10mHz_20mV_after_first_charge_and_50th_cycle():
    for name in ("eis-after-formation", "eis-after-cycling"):
        plan = plan_of("kim2025", name)
        spectra = eis_steps(plan)
        for s in spectra:
            assert (s.f_start_Hz, s.f_end_Hz) == (7e6, 0.01) and s.amplitude == pytest.approx(0.02)
        first = spectra[0]
        previous_cc = [s for s in plan.steps[: first.index] if isinstance(s, ConstantCurrent)][-1]
        assert previous_cc.current_A > 0  # right after the first charge
    after = plan_of("kim2025", "eis-after-cycling")
    (span,) = after.loops
    assert span.count == 50 and eis_steps(after)[-1].index > span.end
    assert estimate(after).resources.eis_f_max_Hz == 7e6


def test_kim2025_dc_polarisation_and_reference_cells():
    dc = plan_of("kim2025", "dc-polarisation")
    holds = [s.voltage_V for s in dc.steps if isinstance(s, ConstantVoltage)]
    assert holds == pytest.approx([0.01, 0.02, 0.03, 0.04, 0.05])
    assert kim_env(dc) == ([15e6], [30])
    liquid = plan_of("kim2025", "liquid-reference")
    assert {abs(s.c_rate) for s in ccs(liquid, -1)} == {0.1}
    assert window(liquid) == (pytest.approx(2.5), pytest.approx(4.25))
    assert kim_env(liquid) == ([], [])
    se = plan_of("kim2025", "se-conductivity")
    assert kim_env(se)[1] == [30]


# -- ye2025 ------------------------------------------------------------------------------------


def test_ye2025_conductivity_vs_temperature():
    plan = plan_of("ye2025", "conductivity-vs-temperature")
    temps = [s.target_degC for s in plan.steps if isinstance(s, SetTemperature)]
    assert temps[0] == 30 and temps[-1] == 80 and temps == sorted(temps)
    assert len(eis_steps(plan)) == len(temps)


def test_ye2025_bruce_vincent_order():
    plan = plan_of("ye2025", "transference-number")
    kinds = [s.kind for s in plan.steps]
    assert kinds == ["Rest", "Impedance", "ConstantVoltage", "Impedance"]
    hold = plan.steps[2]
    assert hold.voltage_V == pytest.approx(0.01)
    assert {lim.quantity for lim in hold.limits} == {"step_time", "dI_dt"}


def test_ye2025_window_li_li_cycling_rate():
    lsv = plan_of("ye2025", "window-lsv")
    (sweep,) = [s for s in lsv.steps if isinstance(s, Sweep)]
    assert (
        sweep.end_V > 4.62 and not sweep.vertices_V and sweep.scan_rate_V_s == pytest.approx(1e-4)
    )
    sym = plan_of("ye2025", "li-li-symmetric")
    (span,) = sym.loops
    half = [s for s in sym.steps if isinstance(s, ConstantCurrent)]
    assert [s.current_A for s in half] == pytest.approx([0.1e-3 * 0.785, -0.1e-3 * 0.785])
    hours = (
        span.count
        * sum(lim.value for s in half for lim in s.limits if lim.quantity == "step_time")
        / 3600
    )
    assert hours == pytest.approx(1000)
    for name, rate in (("cycling-0.5C", 0.5), ("cycling-1C", 1.0)):
        plan = plan_of("ye2025", name)
        assert aging_cycles(plan) == 100
        assert {abs(s.c_rate) for s in ccs(plan, -1) if s.cycle_type == "aging"} == {rate}
    rate = plan_of("ye2025", "rate")
    assert max(ladder(rate)) == 2.0
    assert len(eis_steps(plan_of("ye2025", "eis"))) == 1
    assert [s.scan_rate_V_s for s in plan_of("ye2025", "cv").steps if isinstance(s, Sweep)] == [
        pytest.approx(1e-4)
    ]
    gitt = [s for s in plan_of("ye2025", "gitt").steps if isinstance(s, PulseTrain)]
    assert gitt and all(s.pulse_s == 20 for s in gitt)


def test_duration_estimates_are_finite_where_bounded():
    est = estimate(plan_of("gao2025", "vt-eis"))
    assert math.isfinite(est.typical_s) and est.max_s is not None
    # six spectra of 1 MHz → 0.1 Hz, each at least Σ 1/f over 71 points
    assert est.typical_s > 6 * (2 * 3600)  # six soaks of 2 h at least
