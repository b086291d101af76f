"""Steps that hold a current, a voltage or a power: cc, cv, cccv, cp and pulse trains."""

from __future__ import annotations

from typing import Any

from protocols import schema as S
from protocols import steps as P
from protocols import units as U
from protocols.compile.quantities import CURRENTS
from protocols.compile.report import Where
from protocols.compile.safety import check_current, check_in_window
from protocols.compile.state import Compilation, Proto


def direction(c: Compilation, b: Any, w: Where, kind: str) -> str | None:
    if b.direction is None:
        c.fail(
            w.at("direction"),
            f"a {kind} step needs 'direction: charge' or 'direction: discharge'",
        )
        return None
    return str(b.direction)


def setpoint_current(
    c: Compilation, b: S.CurrentSetpoint, w: Where, kind: str
) -> tuple[float, float | None, str] | None:
    """(signed amperes, signed C-rate if known, text) of a current or rate setpoint."""
    if b.current is not None and b.rate is not None:
        c.fail(w, "give either 'current' or 'rate', not both")
        return None
    if b.current is None and b.rate is None:
        c.fail(
            w,
            f"a {kind} step needs 'current' (A, mA/cm², mA/g or a C-rate) or 'rate' (e.g. 0.5C)",
        )
        return None
    key = "rate" if b.rate is not None else "current"
    kinds = (U.C_RATE,) if key == "rate" else CURRENTS
    v = c.units.q(getattr(b, key), kinds, w.at(key))
    if v is None:
        return None
    if v.value <= 0:
        c.fail(
            w.at(key), f"'{v.text}' must be a positive magnitude; the sign comes from 'direction'"
        )
        return None
    sense = direction(c, b, w, kind)
    if sense is None:
        return None
    sign = 1.0 if sense == "charge" else -1.0
    amps = c.units.amps(v, w.at(key))
    c_rate = c.units.c_rate_of(v)
    return sign * amps, (sign * c_rate if c_rate is not None else None), v.text


def cc(c: Compilation, b: S.CCBody, w: Where) -> Proto | None:
    sp = setpoint_current(c, b, w, "cc")
    if sp is None:
        return None
    amps, c_rate, text = sp
    check_current(c, amps, c_rate, w)
    fields = {"current_A": amps, "c_rate": c_rate, "_setpoint_text": text}
    return Proto(P.ConstantCurrent, fields, [], w, "cc", str(b.direction))


def cv(c: Compilation, b: S.CVBody, w: Where) -> Proto | None:
    v = c.units.q(b.voltage, (U.VOLTAGE,), w.at("voltage"), reference=True)
    if v is None:
        return None
    limit_A = None
    if b.current_limit is not None:
        i = c.units.q(b.current_limit, CURRENTS, w.at("current_limit"), positive=True)
        if i is not None:
            limit_A = c.units.amps(i, w.at("current_limit"))
    volts = c.units.cell_v(v)
    check_in_window(c, "voltage", volts, f"the held voltage {v.text}", w.at("voltage"))
    fields = {"voltage_V": volts, "current_limit_A": limit_A, "_setpoint_text": v.text}
    return Proto(P.ConstantVoltage, fields, [], w, "cv")


def cccv(c: Compilation, b: S.CCCVBody, w: Where) -> Proto | None:
    sp = setpoint_current(c, b, w, "cccv")
    v = c.units.q(b.voltage, (U.VOLTAGE,), w.at("voltage"), reference=True)
    if sp is None or v is None:
        return None
    amps, c_rate, text = sp
    volts = c.units.cell_v(v)
    check_current(c, amps, c_rate, w)
    check_in_window(c, "voltage", volts, f"the CV voltage {v.text}", w.at("voltage"))
    fields = {
        "current_A": amps,
        "voltage_V": volts,
        "c_rate": c_rate,
        "_setpoint_text": f"{text} to {v.text}",
    }
    return Proto(P.ConstantCurrentConstantVoltage, fields, [], w, "cccv", str(b.direction))


def cp(c: Compilation, b: S.CPBody, w: Where) -> Proto | None:
    v = c.units.q(b.power, (U.POWER,), w.at("power"), positive=True)
    sense = direction(c, b, w, "cp")
    if v is None or sense is None:
        return None
    sign = 1.0 if sense == "charge" else -1.0
    fields = {"power_W": sign * v.value, "_setpoint_text": f"{sense} {v.text}"}
    return Proto(P.ConstantPower, fields, [], w, "cp", sense)


def pulse_train(c: Compilation, b: S.PulseTrainBody, w: Where) -> Proto | None:
    sp = setpoint_current(c, b, w, "pulse_train")
    pulse = c.units.q(b.pulse, (U.TIME,), w.at("pulse"), positive=True)
    relax = c.units.q(b.relax, (U.TIME,), w.at("relax"), positive=True)
    dvdt = None
    if b.relax_until_dV_dt is not None:
        d = c.units.q(b.relax_until_dV_dt, (U.DVDT,), w.at("relax_until_dV_dt"), positive=True)
        dvdt = d.value if d else None
    if sp is None or pulse is None or relax is None:
        return None
    amps, c_rate, text = sp
    check_current(c, amps, c_rate, w)
    fields = {
        "pulse_current_A": amps,
        "pulse_s": pulse.value,
        "relax_s": relax.value,
        "n_pulses": b.n_pulses,
        "relax_dV_dt_V_s": dvdt,
        "c_rate": c_rate,
        "_setpoint_text": f"{text}, {b.n_pulses} × ({pulse.text} + {relax.text} rest)",
    }
    return Proto(P.PulseTrain, fields, [], w, "pulse_train", str(b.direction))
