"""ESPEC P-300 / SCP-220 chamber controller simulator (ASCII, `\\r\\n`, `OK:` / `NA:` replies).

Implements the soak subset of reference/instruments.md 2.1: `TYPE?`, `ROM?`, `MODE?`, `MON?`,
`TEMP?`, `TEMP, S<sp>[ H<hi> L<lo>]`, `MODE,OFF|STANDBY|CONSTANT`, `RUN PRGM, TEMP<a>
GOTEMP<b> TIME<h>:<m>` (one-step remote program; at its end the chamber holds the last
temperature in CONSTANT mode) and `RUN PRGM?`. A set command is acknowledged with
`OK:<command without spaces>`. With the temperature sensor gone, temperature queries answer
`NA:CHB NOT READY`. An RS-485 address prefix `<n>,` is accepted and ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, ClassVar

from simulators.faults import LINK_FAULTS, check_fault
from simulators.lineserver import LineInstrument
from simulators.thermal import CHAMBER_FAULTS, ChamberPlant

NUMBER = r"[-+]?\d+(?:\.\d*)?"


@dataclass
class EspecSimulator(LineInstrument):
    """One simulated ESPEC chamber controller in front of a thermal plant."""

    terminator: ClassVar[str] = "\r\n"
    label: ClassVar[str] = "ESPEC"
    FAULTS: ClassVar[tuple[str, ...]] = (*CHAMBER_FAULTS, *LINK_FAULTS)

    plant: ChamberPlant
    high_limit_degC: float = 100.0
    low_limit_degC: float = -40.0

    # -- faults and state ------------------------------------------------------------------
    def inject(self, fault: str, *, value: Any = None, **_: Any) -> None:
        """A chamber fault (`ChamberPlant.inject`) or a link fault (drop, stall)."""
        check_fault(fault, self.FAULTS, "ESPEC")
        if fault in LINK_FAULTS:
            self.link_fault(fault)
        else:
            self.plant.inject(fault, value)

    def clear(self) -> None:
        self.plant.clear_faults()
        self.clear_link()

    def state(self) -> dict[str, Any]:
        return {**self.plant.state(), "connections": self.server.connections}

    async def handle(self, line: str) -> list[str]:
        self._now()
        self.commands.append(line)
        text = re.sub(r"^\d+,", "", line.strip())  # RS-485 address
        upper = text.upper()
        plant = self.plant
        if upper == "TYPE?":
            return [f"T,S2,{plant.params.max_degC:.1f}"]
        if upper == "ROM?":
            return ["P300-SIM 1.00"]
        if upper in ("MODE?", "MODE?,DETAIL"):
            return [plant.mode]
        if upper in ("TEMP?", "MON?"):
            pv = plant.measured_degC()
            if pv != pv:  # NaN: the sensor is gone
                return ["NA:CHB NOT READY"]
            if upper == "MON?":
                alarms = 1 if pv > self.high_limit_degC or pv < self.low_limit_degC else 0
                return [f"{pv:.1f},,{plant.mode},{alarms}"]
            sp = plant.current_setpoint()
            return [f"{pv:.1f},{sp:.1f},{self.high_limit_degC:.1f},{self.low_limit_degC:.1f}"]
        if upper == "RUN PRGM?":
            ramp = plant.ramp
            if ramp is None:
                return ["NA:CONT NOT READY-2"]
            minutes = round(ramp.duration_s / 60.0)
            return [
                f"TEMP{ramp.from_degC:.1f} GOTEMP{ramp.to_degC:.1f} TIME{minutes // 60}:"
                f"{minutes % 60:02d}"
            ]
        if upper.startswith("TEMP,"):
            return [self._set_temp(text)]
        if upper.startswith("MODE,"):
            mode = upper.split(",", 1)[1].strip()
            if mode not in ("OFF", "STANDBY", "CONSTANT"):
                return ["NA:PARA ERR"]
            plant.set_mode(mode)
            return [f"OK:MODE,{mode}"]
        if upper.startswith("RUN PRGM,"):
            return [self._run_program(text)]
        return ["NA:CMD ERR"]

    def _set_temp(self, text: str) -> str:
        fields = dict(re.findall(rf"([SHL])\s*({NUMBER})", text.split(",", 1)[1].upper()))
        rest = re.sub(rf"[SHL]\s*{NUMBER}", "", text.split(",", 1)[1].upper()).strip()
        if not fields or rest:
            return "NA:PARA ERR"
        high = float(fields.get("H", self.high_limit_degC))
        low = float(fields.get("L", self.low_limit_degC))
        sp = float(fields["S"]) if "S" in fields else self.plant.setpoint_degC
        p = self.plant.params
        if not (p.min_degC <= low < high <= p.max_degC and low <= sp <= high):
            return "NA:DATA OUT OF RANGE"
        self.high_limit_degC, self.low_limit_degC = high, low
        if "S" in fields:
            self.plant.set_setpoint(sp)
        return "OK:" + text.replace(" ", "")

    def _run_program(self, text: str) -> str:
        body = text.split(",", 1)[1].upper()
        start = re.search(rf"(?<!GO)TEMP\s*({NUMBER})", body)
        end = re.search(rf"GOTEMP\s*({NUMBER})", body)
        duration = re.search(r"TIME\s*(\d+):(\d+)", body)
        if not (start and end and duration):
            return "NA:PARA ERR"
        a, b = float(start.group(1)), float(end.group(1))
        minutes = int(duration.group(1)) * 60 + int(duration.group(2))
        p = self.plant.params
        if (
            not all(
                max(p.min_degC, self.low_limit_degC) <= v <= min(p.max_degC, self.high_limit_degC)
                for v in (a, b)
            )
            or int(duration.group(2)) > 59
        ):
            return "NA:DATA OUT OF RANGE"
        self.plant.start_ramp(a, b, minutes * 60.0)
        return "OK:" + text.replace(" ", "")
