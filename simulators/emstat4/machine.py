"""Execute a parsed MethodSCRIPT against a simulated cell, paced by simulated time.

The machine writes the instrument's reply lines (`M…`, `P…`, `*`, `L`, `+`, errors) to an
output callback. It runs independently of any connection, as the firmware does: a dropped
host connection does not stop a running script.
"""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from simulators.cell.control import current_for_voltage
from simulators.emstat4.codec import encode_value, parse_literal
from simulators.emstat4.script import (
    ERR_MODE,
    ERR_RANGE,
    ERR_SCRIPT_BAD_ARGS,
    ERR_SCRIPT_UNKNOWN_VAR,
    Block,
    Command,
    Script,
    ScriptError,
)

Output = Callable[[str], Awaitable[None]]

# EmStat4 HR current ranges (A) and their range index in package metadata.
CURRENT_RANGES = [1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
MAX_CURRENT_A = 0.1
VOLTAGE_COMPLIANCE_V = 10.0
# Technique ids reported in the `M` line that opens a measurement loop.
TECHNIQUE_IDS = {
    "meas_loop_ca": 0x0000,
    "meas_loop_lsv": 0x0002,
    "meas_loop_cp": 0x000C,
    "meas_loop_ocp": 0x000D,
    "meas_loop_eis": 0x000E,
    "meas_loop_geis": 0x000F,
}
STATUS_OVERLOAD = 0x2
# Potentiostatic control (holds and sweeps): the set potential is held within this much
# over each constant-current sub-step; sub-steps never get shorter than MIN_HOLD_S, and one
# sample's hold takes at most MAX_HOLD_SUBSTEPS of them.
HOLD_TOLERANCE_V = 1e-3
MIN_HOLD_S = 1e-4
FIRST_HOLD_S = 0.1  # a hold starts with short sub-steps and lengthens them while it can
CA_LONGEST_HOLD_S = 1.0  # sub-steps of a potentiostatic hold (meas_loop_ca) stay within 1 s
MAX_HOLD_SUBSTEPS = 1000


class Aborted(Exception):
    """Raised inside the machine when the host sends `Z`."""


class _Break(Exception):
    """Unwinds to the innermost loop on `breakloop`."""


@dataclass
class Variable:
    type_id: str = "ja"
    value: float = 0.0
    integer: bool = False
    status: int = 0
    range_index: int | None = None


@dataclass
class Machine:
    """One channel's MethodSCRIPT engine bound to a cell and a clock."""

    cell: Any
    clock: Any
    out: Output
    variables: dict[str, Variable] = field(default_factory=dict)
    cell_on: bool = False
    mode: int = 2
    current_range_A: float = 1e-3
    applied_current_A: float = 0.0
    applied_potential_V: float = 0.0
    timer_zero: float = 0.0
    abort_requested: bool = False
    samples_emitted: int = 0
    elapsed: float = 0.0  # simulated seconds this instrument has run scripts for
    _anchor: float | None = None

    # -- helpers ---------------------------------------------------------------------------
    def _value(self, token: str, line: int) -> float:
        if token in self.variables:
            return self.variables[token].value
        try:
            return parse_literal(token)[0]
        except ValueError as exc:
            raise ScriptError(ERR_SCRIPT_UNKNOWN_VAR, line, f"unknown variable {token!r}") from exc

    def _var(self, name: str, line: int) -> Variable:
        if name not in self.variables:
            raise ScriptError(ERR_SCRIPT_UNKNOWN_VAR, line, f"undeclared variable {name!r}")
        return self.variables[name]

    def _set(self, name: str, line: int, type_id: str, value: float, **meta: Any) -> None:
        var = self._var(name, line)
        var.type_id, var.value, var.integer = type_id, value, False
        var.status = meta.get("status", 0)
        var.range_index = meta.get("range_index")

    def _range_index(self, current: float) -> int:
        for index, top in enumerate(CURRENT_RANGES):
            if abs(current) <= top * 1.0000001:
                return index
        return len(CURRENT_RANGES) - 1

    def _check_abort(self) -> None:
        if self.abort_requested:
            raise Aborted

    def _condition(self, args: list[str], line: int) -> bool:
        left, op, right = self._value(args[0], line), args[1], self._value(args[2], line)
        return {
            "<": left < right,
            "<=": left <= right,
            ">": left > right,
            ">=": left >= right,
            "==": left == right,
            "!=": left != right,
        }[op]

    # -- execution -------------------------------------------------------------------------
    async def run(self, script: Script) -> None:
        """Run the body, then the on_finished section, even after an abort."""
        self._anchor = None  # re-anchor pacing: idle time between scripts is not replayed
        try:
            await self._block(script.body)
        finally:
            self.abort_requested = False
            try:
                await self._block(script.on_finished)
            finally:
                self.cell_on = False

    async def _block(self, nodes: list[Command | Block]) -> None:
        for node in nodes:
            self._check_abort()
            if isinstance(node, Block):
                await self._run_block(node)
            else:
                await self._command(node)

    async def _run_block(self, block: Block) -> None:
        if block.name in ("if", "else"):
            branch = block.body if self._condition(block.args, block.line) else block.orelse
            await self._block(branch)
        elif block.name == "loop":
            await self.out("L")
            try:
                while self._condition(block.args, block.line):
                    self._check_abort()
                    await self._block(block.body)
            except _Break:
                pass
            await self.out("+")
        else:
            await self.out(f"M{TECHNIQUE_IDS[block.name]:04X}")
            try:
                await getattr(self, "_" + block.name)(block)
            except _Break:
                pass
            await self.out("*")

    async def _command(self, cmd: Command) -> None:
        name, args, line = cmd.name, cmd.args, cmd.line
        # The commands every sample runs come first: this chain is the script's inner loop.
        if name == "pck_start":
            self._package: list[str] = []
        elif name == "pck_add":
            var = self._var(args[0], line)
            text = encode_value(var.type_id, var.value, var.integer)
            if var.status or var.range_index is not None:
                text += f",1{var.status:X}"
            if var.range_index is not None:
                text += f",2{var.range_index:02X}"
            self._package.append(text)
        elif name == "pck_end":
            await self.out("P" + ";".join(self._package))
            self.samples_emitted += 1
        elif name == "timer_get":
            self._set(args[0], line, "eb", self.elapsed - self.timer_zero)
        elif name == "var":
            self.variables.setdefault(args[0], Variable())
        elif name == "array":
            self.variables.setdefault(args[0], Variable())
        elif name == "store_var":
            value, is_int = parse_literal(args[1])
            self.variables[args[0]] = Variable(args[2], value, is_int)
        elif name == "copy_var":
            src = self._var(args[0], line)
            self.variables[args[1]] = Variable(src.type_id, src.value, src.integer)
        elif name in ("add_var", "sub_var", "mul_var", "div_var"):
            var = self._var(args[0], line)
            other = self._value(args[1], line)
            if name == "add_var":
                var.value += other
            elif name == "sub_var":
                var.value -= other
            elif name == "mul_var":
                var.value *= other
            else:
                var.value = var.value / other if other else math.nan
        elif name == "set_pgstat_mode":
            self.mode = int(parse_literal(args[0])[0])
        elif name == "set_range":
            if args[0] == "ba":
                value = parse_literal(args[1])[0]
                if value > MAX_CURRENT_A * 1.0000001:
                    raise ScriptError(ERR_RANGE, line, "current range beyond 100 mA")
                self.current_range_A = value
        elif name == "set_e":
            self.applied_potential_V = parse_literal(args[0])[0]
        elif name == "set_i":
            self.applied_current_A = parse_literal(args[0])[0]
        elif name == "cell_on":
            self.cell_on = True
        elif name == "cell_off":
            self.cell_on = False
        elif name == "timer_start":
            self.timer_zero = self.elapsed
        elif name == "wait":
            seconds = self._value(args[0], line)
            await self._advance(seconds, self.applied_current_A if self.cell_on else 0.0)
        elif name == "breakloop":
            raise _Break
        elif name == "send_string":
            await self.out("T" + args[0])
        # set_pgstat_chan, bandwidth, autoranging, range_minmax: accepted, no effect here.

    async def _pace(self, dt: float) -> None:
        """Let dt of instrument time pass, paced against the shared clock without drift."""
        if self._anchor is None:
            self._anchor = self.clock.now() - self.elapsed
        self.elapsed += dt
        await self.clock.sleep_until(self._anchor + self.elapsed)

    async def _advance(self, dt: float, current: float) -> float:
        """Advance the cell by dt of simulated time at a constant current."""
        await self._pace(dt)
        return self.cell.step(dt, current)

    def _measured_current(self, current: float) -> tuple[float, int, int]:
        index = self._range_index(current)
        status = STATUS_OVERLOAD if abs(current) > self.current_range_A * 1.05 else 0
        return current, status, index

    # -- measurement loops ------------------------------------------------------------------
    def _intervals(self, block: Block, interval_arg: int, run_arg: int) -> tuple[float, int]:
        interval = self._value(block.args[interval_arg], block.line)
        run = self._value(block.args[run_arg], block.line)
        if interval <= 0 or run < 0:
            raise ScriptError(ERR_SCRIPT_BAD_ARGS, block.line, "interval must be positive")
        return interval, max(1, math.floor(run / interval + 1e-9))

    async def _meas_loop_cp(self, block: Block) -> None:
        if self.mode != 6:
            raise ScriptError(ERR_MODE, block.line, "meas_loop_cp needs galvanostatic mode 6")
        current = self._value(block.args[2], block.line)
        if abs(current) > MAX_CURRENT_A:
            raise ScriptError(ERR_RANGE, block.line, "current beyond the 100 mA range")
        interval, count = self._intervals(block, 3, 4)
        p, c = block.args[0], block.args[1]
        for _ in range(count):
            self._check_abort()
            await self._advance(interval, current)
            voltage = self.cell.measured_voltage(current)
            if getattr(self.cell, "fault", None) == "open" and current != 0.0:
                # No current can flow: the control amplifier saturates at its compliance.
                voltage = math.copysign(VOLTAGE_COMPLIANCE_V, current)
            voltage = max(-VOLTAGE_COMPLIANCE_V, min(VOLTAGE_COMPLIANCE_V, voltage))
            status = STATUS_OVERLOAD if abs(voltage) >= VOLTAGE_COMPLIANCE_V else 0
            self._set(p, block.line, "ab", voltage, status=status, range_index=None)
            measured, cstatus, index = self._measured_current(current)
            self._set(c, block.line, "ba", measured, status=cstatus | status, range_index=index)
            await self._block(block.body)

    async def _meas_loop_ocp(self, block: Block) -> None:
        interval, count = self._intervals(block, 1, 2)
        for _ in range(count):
            self._check_abort()
            await self._advance(interval, 0.0)
            self._set(block.args[0], block.line, "ab", self.cell.measured_voltage(0.0))
            await self._block(block.body)

    def _current_for_potential(self, target: float, guess: float = 0.0) -> float:
        """Current that holds the terminal voltage at `target`: the cell's own inverse when it
        has one (a steep Tafel branch defeats a secant), else a root of the cell's V(I)."""
        return current_for_voltage(self.cell, target, guess, MAX_CURRENT_A)

    def _hold_potential(
        self,
        target: float,
        duration: float,
        hold: float,
        current: float,
        longest: float | None = None,
    ) -> tuple[float, float]:
        """Keep the cell at `target` for `duration`; returns the mean current over it (what an
        integrating current measurement reports) and the sub-step to use next (never longer
        than `longest`).

        The current holding the potential is found at the start of each sub-step and held
        through it. The sub-step shrinks while the cell drifts more than HOLD_TOLERANCE_V away in
        one (a steep OCV or a thin diffusion layer makes a long constant-current sub-step
        overshoot and oscillate) and grows back otherwise. A cell that cannot follow (a
        faulted cell, or one that needs more than the instrument's current) is not chased:
        the rest of the hold goes in one sub-step."""
        elapsed, charge, substeps, uncontrolled = 0.0, 0.0, 0, False
        while elapsed < duration * (1.0 - 1e-9):
            substeps += 1
            dt = duration - elapsed
            if not uncontrolled and substeps < MAX_HOLD_SUBSTEPS:
                dt = min(hold, dt)
            current = self._current_for_potential(target, current)
            drift = abs(self.cell.step(dt, current) - target)
            elapsed += dt
            charge += current * dt
            faulted = getattr(self.cell, "fault", None) is not None
            uncontrolled = faulted or abs(current) >= MAX_CURRENT_A
            if drift > HOLD_TOLERANCE_V:
                hold = max(hold * min(0.25, HOLD_TOLERANCE_V / drift), MIN_HOLD_S)
            elif drift < HOLD_TOLERANCE_V / 4.0:
                hold = min(hold * 2.0, duration if longest is None else longest)
        return charge / elapsed, hold

    async def _meas_loop_ca(self, block: Block) -> None:
        target = self._value(block.args[2], block.line)
        interval, count = self._intervals(block, 3, 4)
        hold, current = min(interval, FIRST_HOLD_S), 0.0
        for _ in range(count):
            self._check_abort()
            await self._pace(interval)
            mean, hold = self._hold_potential(target, interval, hold, current, CA_LONGEST_HOLD_S)
            current = self._current_for_potential(target, mean)  # the current at the sample
            self._set(block.args[0], block.line, "da", target)
            measured, status, index = self._measured_current(current)
            self._set(block.args[1], block.line, "ba", measured, status=status, range_index=index)
            await self._block(block.body)

    async def _impedance_loop(self, block: Block, galvanostatic: bool) -> None:
        f_start = self._value(block.args[4], block.line)
        f_end = self._value(block.args[5], block.line)
        n_points = int(self._value(block.args[6], block.line))
        if n_points < 1 or f_start <= 0 or f_end <= 0:
            raise ScriptError(ERR_SCRIPT_BAD_ARGS, block.line, "bad frequency range")
        frequencies = np.geomspace(f_start, f_end, n_points) if n_points > 1 else [f_start]
        spectrum = self.cell.measured_impedance(np.asarray(frequencies, dtype=float))
        for frequency, z in zip(frequencies, spectrum, strict=True):
            self._check_abort()
            # One period plus a short settling per point, at open circuit / zero DC current.
            await self._advance(max(1.0 / frequency, 0.05), 0.0)
            self._set(block.args[0], block.line, "dc", float(frequency))
            self._set(block.args[1], block.line, "cc", float(z.real))
            self._set(block.args[2], block.line, "cd", float(z.imag))
            await self._block(block.body)

    async def _meas_loop_eis(self, block: Block) -> None:
        await self._impedance_loop(block, galvanostatic=False)

    async def _meas_loop_geis(self, block: Block) -> None:
        if self.mode != 6:
            raise ScriptError(ERR_MODE, block.line, "meas_loop_geis needs galvanostatic mode 6")
        await self._impedance_loop(block, galvanostatic=True)

    async def _meas_loop_lsv(self, block: Block) -> None:
        begin = self._value(block.args[2], block.line)
        end = self._value(block.args[3], block.line)
        step = abs(self._value(block.args[4], block.line))
        rate = abs(self._value(block.args[5], block.line))
        if step <= 0 or rate <= 0:
            raise ScriptError(ERR_SCRIPT_BAD_ARGS, block.line, "step and scan rate must be > 0")
        direction = 1.0 if end >= begin else -1.0
        count = int(abs(end - begin) / step) + 1
        dt = step / rate
        hold = min(dt, FIRST_HOLD_S)  # adaptive: see _hold_potential
        current = 0.0
        for k in range(count):
            self._check_abort()
            potential = begin + direction * k * step
            await self._pace(dt)
            current, hold = self._hold_potential(potential, dt, hold, current)
            self._set(block.args[0], block.line, "da", potential)
            measured, status, index = self._measured_current(current)
            self._set(block.args[1], block.line, "ba", measured, status=status, range_index=index)
            await self._block(block.body)
