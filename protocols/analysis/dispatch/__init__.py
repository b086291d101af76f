"""Run the analyses a protocol names (or those the data calls for) on one run's data.

`analyze_run` is pure: it takes the run's sample columns, spectra and step records, the cell
and the protocol's metadata, and never touches a store. Each analysis becomes one `Outcome`
with the full result (`result.as_dict()`), a short `summary` of its headline numbers, and
notes saying which conventions were used. An analysis that cannot run on this data (no
spectra for an EIS fit, no diffusion length for GITT) is skipped with one sentence saying why.

Where the inputs live:

- `cell` is a mapping with the stored cell's fields (`name`, `active_mass_g`, `area_cm2`,
  `loading_mg_cm2`, `specific_capacity_mAh_g` — the 1C basis —, `nominal_capacity_mAh`) and
  its `extra` mapping. The GITT diffusion length L = V/S lives in
  ``cell["extra"]["diffusion_length_um"]``; without it, L is the active loading over the
  material density, ``loading_mg_cm2 / density_g_cm3`` (electrode-level geometry, S the
  geometric area), with ``extra["density_g_cm3"]`` defaulting to NCM811's 4.75 g/cm³. The
  usable capacity for the SOC axis is ``extra["capacity_mAh_g"]`` (else the 1C basis).
  An electrolyte's thickness for σ = L/(R·A) is ``extra["electrolyte_thickness_um"]`` or the
  protocol metadata's ``thickness_um``. The cycle summary's volumetric energy density divides
  the first discharge energy by the area times ``extra["thickness_um"]`` (the cathode layer)
  plus ``extra["stack_separator_um"]`` and ``extra["stack_anode_um"]`` when recorded.
- `protocol_meta` carries the protocol's `name`, its `metadata` mapping (e.g. an EIS
  `circuit`), and `one_c_A` (the 1C current the run used, when known).
- `steps` are the run's step records as mappings (`step_count`, `step_index`, `kind`,
  `label`, `cycle`, `end_reason`, optionally `cycle_type` from the bound protocol).
- `spectra` are mappings with `frequency_Hz`, `z_real_ohm`, `z_imag_ohm` (negative for a
  capacitive cell), `temperature_degC` and `step_count`.
"""

from protocols.analysis.dispatch.context import RunContext
from protocols.analysis.dispatch.cycling import diffusion_length_cm
from protocols.analysis.dispatch.outcome import ALIASES, KNOWN, Outcome, Report
from protocols.analysis.dispatch.run import ANALYSES, analyze_run, infer_analyses

__all__ = [
    "ALIASES",
    "ANALYSES",
    "KNOWN",
    "Outcome",
    "Report",
    "RunContext",
    "analyze_run",
    "diffusion_length_cm",
    "infer_analyses",
]
