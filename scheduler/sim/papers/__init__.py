"""Each paper's reported numbers, reproduced through the whole stack on its presets.

A paper is a list of procedures (one module per paper). Each runs a library protocol (or a
short derivative of one, built from the library file's own parameters) on a preset cell: the
real EmStat4 driver talks MethodSCRIPT over TCP to the simulator, a chamber and press join over
their own wire protocols when the procedure sets temperature or pressure, every sample goes to
the store, and the analysis reads the run back from there. Each `Expectation` takes one number
out of the analysis report and compares it with the paper's.

Run lengths are chosen for a demo: one cycle per rate in a rate ladder, a GITT train of a
dozen pulses at mid SOC, but 100-cycle retention over 100 cycles (with a coarser logging
interval instead). The numbers each paper reports, and those no preset or procedure can
produce yet with the reason, are data: protocols/library/<paper>/reported.toml.
"""

from scheduler.sim.papers.core import (
    Expectation,
    PaperResult,
    Procedure,
    ProcedureRun,
    not_reproduced,
)
from scheduler.sim.papers.derive import gitt_at_mid_soc
from scheduler.sim.papers.run import (
    PAPERS,
    cell_extra,
    procedures,
    run_paper,
    run_procedure,
)

__all__ = [
    "PAPERS",
    "Expectation",
    "PaperResult",
    "Procedure",
    "ProcedureRun",
    "cell_extra",
    "gitt_at_mid_soc",
    "not_reproduced",
    "procedures",
    "run_paper",
    "run_procedure",
]
