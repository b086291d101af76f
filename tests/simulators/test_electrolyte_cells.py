"""The electrolyte-only cells: blocking (SS|SE|SS), Li-blocking (SS|SE|Li) and Li|SE|Li.

Every expected number is worked out here from the preset's own parameters (σ, L, A, t+, the
onset) with the textbook relation it must obey — σ = L/(R·A), the Bruce–Vincent steady state
I_ss = ΔV/(R_int + R_b/t+), a Tafel law — and compared with what the model produces in the
time domain, in its impedance, and through the EmStat4 driver and simulator over TCP.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import yaml

from drivers.potentiostat import Sample, StepCommand, StepEnd, StepLimit
from protocols.analysis.techniques import bruce_vincent, lsv_onset
from scheduler.sim.bench import simulated_emstat4
from simulators.cell import (
    PRESET_DIR,
    BlockingCell,
    BlockingCellParameters,
    Cell,
    LiBlockingCell,
    SymmetricLiCell,
    SymmetricLiCellParameters,
    cell_kind,
    load_preset,
    make_cell,
)
from simulators.errors import SimulatorError

GAS_CONSTANT = 8.314462618
PRESETS = {
    "ye2025-grse-li-li": ("symmetric-li", SymmetricLiCell, "004_d17fbeefd56eebcb"),
    "ye2025-grse-ss-li": ("li-blocking", LiBlockingCell, "004_d17fbeefd56eebcb"),
    "kim2025-lpscl-pellet": ("blocking", BlockingCell, "003_2e775070d964df08"),
}


def sigma_S_cm(params, degC: float) -> float:
    """σ(T) from the preset's σ at T_ref and its activation energy."""
    t, ref = degC + 273.15, params.T_ref_degC + 273.15
    return (
        params.sigma_mS_cm
        * 1e-3
        * math.exp(-params.Ea_sigma_kJ_mol * 1e3 / GAS_CONSTANT * (1 / t - 1 / ref))
    )


def steady_interface(params: SymmetricLiCellParameters) -> SymmetricLiCellParameters:
    """The Li|SE|Li preset with an interface that does not evolve during a short hold."""
    return params.with_overrides(
        {"asr_rise_ohm_cm2": 0.0, "asr_final_ohm_cm2": params.asr_initial_ohm_cm2}
    )


def hold(cell: SymmetricLiCell, delta_V: float, seconds: int, dt: float = 1.0) -> np.ndarray:
    """A potentiostatic hold as the EmStat4 simulator runs it: solve, step, sample."""
    currents = [cell.current_at_voltage(delta_V)]
    for _ in range(int(seconds / dt)):
        cell.step(dt, cell.current_at_voltage(delta_V))
        currents.append(cell.current_at_voltage(delta_V))
    return np.asarray(currents)


# --- presets, kinds and the factory ------------------------------------------------------------
@pytest.mark.parametrize("name", list(PRESETS))
def test_preset_loads_into_its_kind_and_cell(name: str) -> None:
    kind, model, seed = PRESETS[name]
    params = load_preset(name)
    assert params.name == name and params.kind == kind and cell_kind(params) == kind
    assert isinstance(make_cell(params), model)
    text = (PRESET_DIR / f"{name}.yaml").read_text(encoding="utf-8")
    header = "".join(line for line in text.splitlines(keepends=True) if line.startswith("#"))
    assert seed in header and "Target" in header and "Assumptions" in header
    for row in params.describe():
        assert row["meaning"], row["name"]
        if isinstance(row["value"], float):
            assert row["unit"], row["name"]


def test_ncm_presets_still_make_the_half_cell() -> None:
    params = load_preset("ye2025-ncm-pvdf")
    assert cell_kind(params) == "ncm-half-cell"
    assert isinstance(make_cell(params, soc=0.5), Cell)


def test_electrolyte_presets_share_the_electrolyte_they_claim() -> None:
    ncm = load_preset("ye2025-ncm-pvdf")
    li_li, ss_li = load_preset("ye2025-grse-li-li"), load_preset("ye2025-grse-ss-li")
    for grse in (li_li, ss_li):
        # the NCM cell's series resistance is the same GRSE layer: L/(σA) at 30 °C
        assert grse.bulk_resistance_ohm == pytest.approx(ncm.Rs_ohm, rel=0.01)
        assert grse.Ea_sigma_kJ_mol == pytest.approx(ncm.Ea_Rs_kJ_mol)
        assert grse.thickness_um == 52.5 and grse.area_cm2 == ncm.area_cm2
    pellet = load_preset("kim2025-lpscl-pellet")
    # 100 mg of LPSCl at 1.64 g/cm³ in a 10 mm mould
    assert pellet.thickness_um == pytest.approx(0.100 / (1.64 * math.pi * 0.5**2) * 1e4, rel=0.01)
    # Nernst–Einstein for an ideal 1 mol/L binary salt: D = 2 t+ (1 − t+) σRT / (F² c)
    d = 2 * 0.39 * 0.61 * 0.61e-3 * GAS_CONSTANT * 303.15 / (96485.33**2 * 1e-3)
    assert li_li.salt_D_cm2_s == pytest.approx(d, rel=0.01)


def test_overrides_are_validated_and_the_kind_is_fixed() -> None:
    params = load_preset("ye2025-grse-li-li")
    assert params.with_overrides({"t_plus": 0.6}).t_plus == 0.6
    assert params.t_plus == 0.39
    with pytest.raises(SimulatorError, match=r"unknown cell parameter 't_plu'.*t_plus"):
        params.with_overrides({"t_plu": 0.6})
    with pytest.raises(SimulatorError, match="t_plus"):
        params.with_overrides({"t_plus": 1.5})
    with pytest.raises(SimulatorError, match="kind cannot be overridden"):
        params.with_overrides({"kind": "blocking"})
    with pytest.raises(SimulatorError, match="no state of charge"):
        make_cell(params, soc=0.5)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("kind: capacitor\narea_cm2: 1\n", "unknown cell kind 'capacitor'"),
        ("kind: blocking\narea_cm2: 1\n", "required blocking cell parameter"),
        ("kind: blocking\nbogus: 1\n", "unknown blocking cell parameter 'bogus'"),
    ],
)
def test_bad_electrolyte_presets_give_one_sentence(tmp_path, content: str, message: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(SimulatorError, match=message) as info:
        load_preset(path)
    assert "bad.yaml" in str(info.value) and "\n" not in str(info.value)


def test_user_preset_of_a_kind_by_path(tmp_path) -> None:
    data = yaml.safe_load((PRESET_DIR / "kim2025-lpscl-pellet.yaml").read_text(encoding="utf-8"))
    data["sigma_mS_cm"] = 1.0
    path = tmp_path / "my-pellet.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    params = load_preset(path)
    assert isinstance(params, BlockingCellParameters) and params.name == "my-pellet"


# --- blocking cell: σ from the high-frequency intercept -----------------------------------------
@pytest.mark.parametrize("degC", [30.0, 60.0, -10.0])
def test_blocking_intercept_gives_sigma(degC: float) -> None:
    params = load_preset("kim2025-lpscl-pellet")
    cell = make_cell(params, temperature_degC=degC)
    f = np.geomspace(7e6, 0.01, 90)
    z = cell.impedance(f)
    assert np.all(z.imag < 0)
    # the intercept: the minimum of −Im between the bulk arc and the blocking spike
    intercept = z.real[np.argmin(-z.imag)]
    sigma = params.thickness_um * 1e-4 / (intercept * params.area_cm2)
    assert sigma == pytest.approx(sigma_S_cm(params, degC), rel=0.01)
    # at low frequency the blocking electrodes' CPE: phase −α·90°
    phase = math.degrees(math.atan2(z.imag[-1], z.real[-1] - intercept))
    assert phase == pytest.approx(-90 * params.blocking_alpha, abs=3.0)


def test_blocking_cell_passes_only_its_electronic_leak_at_dc() -> None:
    params = load_preset("kim2025-lpscl-pellet")
    cell = make_cell(params)
    leak = params.thickness_um * 1e-4 / (params.sigma_e_S_cm * params.area_cm2)
    assert cell.current_at_voltage(0.1) == pytest.approx(0.1 / leak, rel=1e-9)
    assert cell.voltage(cell.current_at_voltage(0.1)) == pytest.approx(0.1)
    assert cell.rest(60.0) == pytest.approx(0.0, abs=1e-12)


def test_contact_resistance_follows_stack_pressure() -> None:
    params = load_preset("kim2025-lpscl-pellet").with_overrides(
        {"R_contact_ohm": 5.0, "P_ref_MPa": 15.0, "contact_P0_MPa": 2.0, "contact_exponent": 1.5}
    )
    cell = make_cell(params, pressure_MPa=15.0)
    f = np.array([1e6])
    at_ref = cell.impedance(f)[0].real
    cell.set_pressure(2.0)
    loose = cell.impedance(f)[0].real
    assert loose - at_ref == pytest.approx(5.0 * ((17 / 4) ** 1.5 - 1.0), rel=0.01)
    assert cell.truth()["pressure_MPa"] == 2.0


# --- Li | SE | Li: Bruce–Vincent -----------------------------------------------------------------
@pytest.mark.parametrize("t_plus", [0.2, 0.39, 0.6, 0.85])
def test_steady_current_of_a_hold_gives_t_plus(t_plus: float) -> None:
    params = steady_interface(load_preset("ye2025-grse-li-li")).with_overrides({"t_plus": t_plus})
    cell = make_cell(params)
    truth = cell.truth()
    # 2 mV keeps the Butler–Volmer interfaces linear to 0.05 %
    r_b, r_int, dv = truth["bulk_resistance_ohm"], truth["interface_ohm"], 0.002
    currents = hold(cell, dv, seconds=int(20 * truth["diffusion_time_s"]))
    # I0 = ΔV/(R_b + R_int) the instant the step starts, I_ss = ΔV/(R_int + R_b/t+) at the end
    assert currents[0] == pytest.approx(dv / (r_b + r_int), rel=1e-3)
    assert currents[-1] == pytest.approx(dv / (r_int + r_b / t_plus), rel=1e-3)
    result = bruce_vincent(
        delta_V=dv, I0_A=currents[0], Iss_A=currents[-1], R0_ohm=r_int, Rss_ohm=r_int
    )
    assert result.t_plus == pytest.approx(t_plus, rel=0.005)


def test_polarisation_approaches_steady_state_with_the_diffusion_time() -> None:
    params = steady_interface(load_preset("ye2025-grse-li-li"))
    cell = make_cell(params)
    truth = cell.truth()
    tau = (params.thickness_um * 1e-4) ** 2 / (math.pi**2 * truth["salt_D_cm2_s"])
    assert truth["diffusion_time_s"] == pytest.approx(tau)
    currents = hold(cell, 0.01, seconds=int(12 * tau), dt=0.5)
    excess = currents - currents[-1]
    t = np.arange(currents.size) * 0.5
    late = (t > 3 * tau) & (t < 7 * tau)
    slope = np.polyfit(t[late], np.log(excess[late]), 1)[0]
    # the slowest mode (weight 8/π²) decays with τ, hastened by the potentiostat's feedback
    # through the series resistance: τ_eff = τ / (1 + (8/π²)·R_d/(R_b + R_int))
    r_s, r_int, r_d = (
        truth["bulk_resistance_ohm"],
        truth["interface_ohm"],
        truth["diffusion_resistance_ohm"],
    )
    tau_eff = tau / (1 + 8 / math.pi**2 * r_d / (r_s + r_int))
    assert -1 / slope == pytest.approx(tau_eff, rel=0.02)


def test_impedance_dc_limit_matches_the_time_domain_steady_state() -> None:
    params = load_preset("ye2025-grse-li-li")
    cell = make_cell(params)
    truth = cell.truth()
    z = cell.impedance(np.array([1e6, 1e-7]))  # above the interface arc, below the bulk one
    assert z[0].real == pytest.approx(truth["bulk_resistance_ohm"], rel=1e-3)
    # ΔV/I_ss: R_int + R_b/t+ = R_b + R_int + R_b(1 − t+)/t+
    expected = truth["interface_ohm"] + truth["bulk_resistance_ohm"] / params.t_plus
    assert z[1].real == pytest.approx(expected, rel=1e-4)
    f = np.geomspace(1e6, 1e-4, 200)
    assert np.all(cell.impedance(f).imag < 0)


def test_interphase_rises_then_settles_with_the_charge_passed() -> None:
    params = load_preset("ye2025-grse-li-li")
    cell = make_cell(params)
    asr = [cell.interface_asr(q) for q in np.linspace(0.0, 50.0, 501)]
    assert asr[0] == pytest.approx(params.asr_initial_ohm_cm2)
    assert max(asr) > params.asr_initial_ohm_cm2 + 0.4 * params.asr_rise_ohm_cm2
    assert asr[-1] == pytest.approx(params.asr_final_ohm_cm2, rel=1e-3)
    # at the library's 0.1 mA/cm² the overpotential settles within 10 % after ~100 h
    assert cell.settling_time_h(0.1) == pytest.approx(100.0, rel=0.05)


def test_galvanostatic_cycling_overpotential_and_a_filament_short() -> None:
    params = load_preset("ye2025-grse-li-li").with_overrides({"short_after_mAh_cm2": 0.5})
    cell = make_cell(params)
    current = 0.1e-3 * params.area_cm2
    plateau = []
    for _ in range(4):  # 1 h each way, 0.1 mAh/cm² per half cycle
        for sign in (1, -1):
            volts = [cell.step(60.0, sign * current) for _ in range(60)]
            plateau.append(abs(np.mean(volts[15:45])))
    truth = cell.truth()
    assert cell.fault == "short"  # and no current has passed since
    assert truth["charge_passed_mAh_cm2"] == pytest.approx(0.5, abs=0.002)
    assert plateau[-1] < 0.01 * plateau[0]
    fresh = make_cell(load_preset("ye2025-grse-li-li"))
    r = fresh.truth()
    ohmic = current * (
        r["bulk_resistance_ohm"] + r["interface_ohm"] + r["diffusion_resistance_ohm"]
    )
    assert plateau[0] == pytest.approx(ohmic, rel=0.1)


def test_faults_and_the_open_circuit_rails() -> None:
    cell = make_cell(load_preset("ye2025-grse-li-li"))
    cell.open()
    assert cell.step(1.0, 1e-4) == pytest.approx(cell.params.rail_V)
    assert cell.current_at_voltage(0.01) == 0.0
    cell.short()
    assert abs(cell.voltage(1e-4)) < 1e-5
    z = cell.impedance(np.array([1.0]))
    assert z[0] == pytest.approx(cell.params.short_ohm)
    cell.reset_faults()
    assert cell.fault is None and cell.soc is None
    with pytest.raises(SimulatorError, match="finite"):
        cell.step(math.inf, 0.0)
    with pytest.raises(SimulatorError, match="frequencies"):
        cell.impedance(np.array([0.0]))


# --- SS | SE | Li: the oxidation onset --------------------------------------------------------
def test_linear_sweep_finds_the_oxidation_onset() -> None:
    params = load_preset("ye2025-grse-ss-li")
    cell = make_cell(params)
    assert cell.rest(60.0) == pytest.approx(params.ocv_V, abs=1e-6)
    volts = np.arange(params.ocv_V, 5.0, 0.0005)
    currents = []
    for v in volts:
        i = cell.current_at_voltage(v)
        assert cell.voltage(i) == pytest.approx(v, abs=1e-9)  # an exact inverse
        cell.step(5.0, i)
        currents.append(i)
    currents = np.asarray(currents)
    onset = lsv_onset(volts, currents, area_cm2=params.area_cm2, threshold_mA_cm2=0.01)
    # the background leak adds ~0.3 µA/cm²: the onset is a hair below the Tafel law's own
    assert onset.onset_V == pytest.approx(params.oxidation_onset_V, abs=0.005)
    # the Tafel slope, on the steel's own potential (without the bulk and Li-counter drops)
    # and without the background leak
    truth = cell.truth()
    steel = volts - currents * (truth["bulk_resistance_ohm"] + truth["li_interface_ohm"])
    oxidation = currents - (steel - params.ocv_V) / truth["leak_resistance_ohm"]
    high = (volts > 4.6) & (volts < 4.9)
    decades_per_V = np.polyfit(steel[high], np.log10(oxidation[high]), 1)[0]
    assert 1000 / decades_per_V == pytest.approx(params.oxidation_tafel_mV_dec, rel=0.02)
    assert cell.truth()["oxidation_charge_C"] > 0


def test_oxidation_onset_moves_down_when_warmer() -> None:
    params = load_preset("ye2025-grse-ss-li")
    cell = make_cell(params, temperature_degC=60.0)
    shift = (
        params.oxidation_tafel_mV_dec
        * 1e-3
        * math.log10(
            math.exp(-params.Ea_oxidation_kJ_mol * 1e3 / GAS_CONSTANT * (1 / 333.15 - 1 / 303.15))
        )
    )
    assert cell.truth()["oxidation_onset_V"] == pytest.approx(params.oxidation_onset_V - shift)
    truth = cell.truth()
    e = truth["oxidation_onset_V"]
    # at that steel potential: the onset current density plus the background leak
    current = params.oxidation_onset_mA_cm2 * 1e-3 * params.area_cm2
    current += (e - params.ocv_V) / truth["leak_resistance_ohm"]
    drop = current * (truth["bulk_resistance_ohm"] + truth["li_interface_ohm"])
    assert cell.voltage(current) == pytest.approx(e + drop, abs=1e-6)


def test_li_plates_on_the_steel_below_zero_volts() -> None:
    cell = make_cell(load_preset("ye2025-grse-ss-li"))
    assert cell.current_at_voltage(-0.1) < -1e-5
    assert cell.voltage(-1e-3) < 0.0


# --- through the wire: the EmStat4 driver sweeps from the measured OCV -----------------------
async def test_lsv_from_ocv_with_a_current_limit_over_tcp() -> None:
    params = load_preset("ye2025-grse-ss-li")
    async with simulated_emstat4("ye2025-grse-ss-li") as channel:
        command = StepCommand(
            "sweep",
            duration_s=1e6,
            sweep_vertices_V=(0.0, 6.0),
            scan_rate_V_s=5e-3,
            sample_interval_s=1.0,
            sweep_from_ocv=True,
            limits=(StepLimit("current", ">=", 1e-4, "current >= 0.1 mA"),),
        )
        items = [item async for item in channel.driver.run(command)]
    samples = [s for s in items if isinstance(s, Sample)]
    end = items[-1]
    assert isinstance(end, StepEnd) and end.reason == "limit" and end.limit.value == 1e-4
    assert samples[0].voltage_V == pytest.approx(params.ocv_V, abs=1e-3)  # not from 0 V
    assert samples[-1].current_A >= 1e-4 > samples[-2].current_A
    assert samples[-1].voltage_V < 5.0


# --- the CLI lists and describes every preset, of every kind ----------------------------------
def test_cli_lists_and_describes_electrolyte_presets() -> None:
    from typer.testing import CliRunner

    from scheduler.cli import app, sim_cmd  # noqa: F401  (registers `sim`)

    runner = CliRunner()
    listed = runner.invoke(app, ["sim", "presets", "--json"])
    assert listed.exit_code == 0, listed.output
    kinds = {row["name"]: row["kind"] for row in json.loads(listed.output)}
    assert {name: kinds[name] for name in PRESETS} == {n: k for n, (k, _, _) in PRESETS.items()}
    assert kinds["ye2025-ncm-pvdf"] == "ncm-half-cell"
    shown = runner.invoke(app, ["sim", "presets", "ye2025-grse-li-li", "--json"])
    assert shown.exit_code == 0, shown.output
    data = json.loads(shown.output)
    rows = {row["name"]: row for row in data["parameters"]}
    assert rows["t_plus"]["value"] == 0.39 and rows["salt_D_cm2_s"]["unit"] == "cm²/s"
    params = load_preset("ye2025-grse-li-li")
    assert data["derived"]["diffusion_resistance_ohm"] == pytest.approx(
        params.bulk_resistance_ohm * (1 - 0.39) / 0.39
    )
    text = runner.invoke(app, ["sim", "presets", "kim2025-lpscl-pellet"], terminal_width=200)
    assert text.exit_code == 0 and "bulk_resistance_ohm = 44.4" in text.output


async def test_cyclic_sweep_from_ocv_returns_to_ocv_and_a_limit_ends_every_segment() -> None:
    params = load_preset("ye2025-grse-ss-li")
    common = {
        "duration_s": 1e6,
        "scan_rate_V_s": 5e-3,
        "sample_interval_s": 2.0,
        "sweep_from_ocv": True,
        "limits": (StepLimit("current", ">=", 1e-4, "current >= 0.1 mA"),),
    }
    async with simulated_emstat4("ye2025-grse-ss-li") as channel:
        cv = StepCommand("sweep", sweep_vertices_V=(0.0, 4.0, 3.5, 0.0), **common)
        items = [item async for item in channel.driver.run(cv)]
        volts = [s.voltage_V for s in items if isinstance(s, Sample)]
        assert items[-1].reason == "completed"
        assert volts[0] == pytest.approx(params.ocv_V, abs=1e-3)
        assert max(volts) == pytest.approx(4.0, abs=0.011) and min(volts) < 3.52
        assert volts[-1] == pytest.approx(params.ocv_V, abs=0.011)  # back to the OCV
        # a limit fired in the first segment ends the sweep: no return from 6 V
        beyond = StepCommand("sweep", sweep_vertices_V=(0.0, 6.0, 3.0, 0.0), **common)
        items = [item async for item in channel.driver.run(beyond)]
        volts = [s.voltage_V for s in items if isinstance(s, Sample)]
        assert items[-1].reason == "limit"
        assert volts == sorted(volts) and volts[-1] < 5.0
