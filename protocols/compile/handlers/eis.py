"""Impedance spectroscopy: potentiostatic (PEIS) or galvanostatic (GEIS)."""

from __future__ import annotations

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.quantities import CURRENTS
from protocols.compile.report import Where
from protocols.compile.state import Compilation, Proto

F_MIN_HZ, F_MAX_HZ = 1e-5, 1e7  # what impedance analysers cover
AMPLITUDE_MAX_V = 0.1  # beyond this a PEIS is not small-signal
_AT_OCV = ("ocv", "ocp", "open circuit")


def eis(c: Compilation, b: S.EISBody, w: Where) -> Proto | None:
    mode = "galvanostatic" if b.mode.lower() in ("galvanostatic", "geis") else "potentiostatic"
    f1 = c.units.q(b.f_start, (U.FREQUENCY,), w.at("f_start"), positive=True)
    f2 = c.units.q(b.f_end, (U.FREQUENCY,), w.at("f_end"), positive=True)
    ok = _frequencies_ok(c, f1, f2, w)
    amplitude, amplitude_ok = _amplitude(c, b, w, mode)
    bias, bias_ok = _bias(c, b, w, mode)
    if f1 is None or f2 is None or amplitude is None or not (ok and amplitude_ok and bias_ok):
        return None
    text = f"{'PEIS' if mode == 'potentiostatic' else 'GEIS'} {f1.text} → {f2.text}, {b.amplitude}"
    fields = {
        "mode": mode,
        "f_start_Hz": f1.value,
        "f_end_Hz": f2.value,
        "points_per_decade": b.points_per_decade,
        "amplitude": amplitude,
        "dc_bias": bias,
        "averages": b.averages,
        "_setpoint_text": text,
    }
    return Proto(P.Impedance, fields, [], w, "eis")


def _frequencies_ok(c: Compilation, f1: U.Value | None, f2: U.Value | None, w: Where) -> bool:
    ok = True
    for f, key in ((f1, "f_start"), (f2, "f_end")):
        if f is not None and not (F_MIN_HZ <= f.value <= F_MAX_HZ):
            c.fail(
                w.at(key),
                f"'{f.text}' is outside 10 µHz–10 MHz, the range impedance analysers cover",
            )
            ok = False
    if f1 is not None and f2 is not None and f1.value == f2.value:
        c.fail(w.at("f_end"), "f_start and f_end must differ")
        ok = False
    return ok


def _amplitude(c: Compilation, b: S.EISBody, w: Where, mode: str) -> tuple[float | None, bool]:
    """(amplitude in V or A, whether it is acceptable)."""
    if mode != "potentiostatic":
        i = c.units.q(b.amplitude, CURRENTS, w.at("amplitude"), positive=True)
        return (c.units.amps(i, w.at("amplitude")) if i is not None else None), True
    a = c.units.q(b.amplitude, (U.VOLTAGE,), w.at("amplitude"), positive=True)
    if a is None:
        return None, True
    if a.value > AMPLITUDE_MAX_V:
        c.fail(
            w.at("amplitude"),
            f"an EIS amplitude of {a.text} is not small-signal; use 5–20 mV (at most 100 mV)",
        )
        return a.value, False
    return a.value, True


def _bias(c: Compilation, b: S.EISBody, w: Where, mode: str) -> tuple[float | None, bool]:
    """(DC bias as a cell voltage or a current, None at open circuit; whether it was read)."""
    if isinstance(b.dc_bias, str) and b.dc_bias.strip().lower() in _AT_OCV:
        return None, True
    if mode == "potentiostatic":
        d = c.units.q(b.dc_bias, (U.VOLTAGE,), w.at("dc_bias"), reference=True)
        return (c.units.cell_v(d) if d else None), d is not None
    d = c.units.q(b.dc_bias, (U.CURRENT, U.C_RATE), w.at("dc_bias"))
    return (c.units.amps(d, w.at("dc_bias")) if d else None), d is not None
