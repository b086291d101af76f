"""Variable-temperature EIS from the library, end to end on the gao2025 preset: an ESPEC
chamber steps 25 → 65 °C in 10 K steps with soaks, the EmStat4 measures a PEIS spectrum at
each, every spectrum is stored with its temperature, and the Arrhenius fit of the fitted Rct
values recovers the preset's activation energy — the analysis sees only the stored data."""

from __future__ import annotations

import itertools

import pytest
from preset_cells import preset_cell

import protocols
from protocols.analysis.arrhenius import arrhenius
from protocols.analysis.eis import fit_spectrum
from scheduler.session import run_protocol
from scheduler.sim.bench import simulated_slot
from simulators.cell import load_preset
from storage import open_store

PRESET = "gao2025-dfncm-llzo"


async def vt_eis_activation_energy(tmp_path, overrides: dict | None) -> tuple[float, list]:
    store = open_store(f"sqlite:///{tmp_path}/vt-eis.db")
    protocol = protocols.load(protocols.LIBRARY / "gao2025" / "vt-eis.yaml")
    async with simulated_slot(PRESET, time_scale=5e4, overrides=overrides) as slot:
        params = slot.params
        cell = preset_cell("gao2025 DFNCM/LLZO", params)
        run_id, result = await run_protocol(
            store, protocol, cell, slot.driver, environment=slot.environment
        )
    assert result.status == "completed", result.message
    spectra = store.spectra(run_id)
    temperatures = [s.temperature_degC for s in spectra]
    assert temperatures == pytest.approx([25, 35, 45, 55, 65, 25], abs=0.5)
    fits = [fit_spectrum(s.frequency_Hz, s.z_real_ohm, s.z_imag_ohm) for s in spectra]
    rct = [f.Rct_ohm for f in fits]
    assert all(b < a for a, b in itertools.pairwise(rct[:5]))  # Rct falls as T rises
    assert rct[5] == pytest.approx(rct[0], rel=0.03)  # back at 25 °C: reversible
    fit = arrhenius(temperatures[:5], rct[:5], form="rct")
    return fit.Ea_kJ_mol, rct


@pytest.mark.slow
async def test_vt_eis_recovers_the_preset_activation_energy(tmp_path) -> None:
    truth = load_preset(PRESET).Ea_ct_kJ_mol
    ea, _ = await vt_eis_activation_energy(tmp_path, None)
    assert ea == pytest.approx(truth, rel=0.05)


@pytest.mark.slow
async def test_vt_eis_follows_an_overridden_activation_energy(tmp_path) -> None:
    ea, _ = await vt_eis_activation_energy(tmp_path, {"Ea_ct_kJ_mol": 45.0})
    assert ea == pytest.approx(45.0, rel=0.05)
    assert abs(ea - load_preset(PRESET).Ea_ct_kJ_mol) > 10.0
