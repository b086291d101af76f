"""The 2450's native SCPI command tree, error queue and status, over the SMU model.

Time: every program message first lets the simulated time that passed since the previous
one elapse on the cell at the old settings, so a `:SOUR:CURR` change or an `:OUTP OFF`
takes effect at the right moment. The time comes from the shared `SimClock`:
- finite `time_scale`: wall time × scale, whatever the host does;
- infinite `time_scale`: simulated time moves only when someone sleeps on the shared clock.
  A host that shares the clock (the bench's drivers do) announces its waits that way, so a
  `:READ?` after the host slept 10 s sees exactly 10 s of cell time. For a host that does
  not share the clock, set `read_interval_s`: each `:READ?` then also advances the clock by
  that fixed interval before measuring.

Errors: a command the tree does not have queues -113 (Undefined header), and every other
error the number the reference manual gives. A query that fails is still answered, with
an empty response unit, so that a client never waits for a reply that cannot come; the
error queue says why. Data come in ASCII only (`:FORMat:DATA REAL` is refused).
"""

from __future__ import annotations

import logging
import math
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import InitVar, dataclass
from typing import Any

from simulators.clock import SimClock
from simulators.keithley2450 import scpi
from simulators.keithley2450.buffers import Reading, Traces, elements, format_reading
from simulators.keithley2450.params import (
    OVERFLOW,
    Handler,
    accept,
    boolean,
    const,
    done,
    no_params,
    num,
    number,
    number_at,
    one_word,
)
from simulators.keithley2450.scpi import Param, Pattern, ScpiError, Unit
from simulators.keithley2450.settings import (
    OVER_RANGE,
    RANGES,
    SENSE,
    SOURCE,
    Settings,
    declared,
    range_for,
)
from simulators.keithley2450.smu import MAX_CURRENT_A, MAX_VOLTAGE_V, MIN_ILIM_A, MIN_VLIM_V, SMU
from simulators.keithley2450.sweep import Sweep, parse_sweep

log = logging.getLogger(__name__)

ERROR_QUEUE_SIZE = 21
DEVICE_ERROR = (-300, "Device-specific error")
FUNCTIONS = {"CURR": "CURR", "CURRENT": "CURR", "VOLT": "VOLT", "VOLTAGE": "VOLT"}
SENSE_NAMES = FUNCTIONS | {"RES": "RES", "RESISTANCE": "RES"}
_LEVEL = ":SOURce#:{}[:LEVel][:IMMediate][:AMPLitude]"
# The SMU numbers a command sets: (lowest, highest, the value DEFault sets).
_SMU_NUMBERS = {
    "current_level_A": (-MAX_CURRENT_A, MAX_CURRENT_A, 0.0),
    "voltage_level_V": (-MAX_VOLTAGE_V, MAX_VOLTAGE_V, 0.0),
    "vlim_V": (MIN_VLIM_V, MAX_VOLTAGE_V, 21.0),
    "ilim_A": (MIN_ILIM_A, MAX_CURRENT_A, 105e-6),
}
_LEVEL_OF = {"CURR": "current_level_A", "VOLT": "voltage_level_V"}
# IEEE 488.2 standard event register bits an error of each class sets.
_ESR_BITS = ((-100, -199, 32), (-200, -299, 16), (-300, -399, 8), (-400, -499, 4))
Tree = list[tuple[Pattern, bool, Handler]]


@dataclass(eq=False, repr=False)
class Instrument:
    """Executes parsed SCPI units against one SMU and keeps the instrument's state.

    Its identity and pacing come from the simulator (`Keithley2450Simulator`), which holds
    their defaults.
    """

    cell: Any
    clock: SimClock
    language: str
    serial: str
    firmware: str
    read_interval_s: float | None
    seed: InitVar[int | None]

    def __post_init__(self, seed: int | None) -> None:
        self.smu = SMU(self.cell, seed=seed)
        self.errors: deque[tuple[int, str]] = deque()
        self.settings = Settings(declared(), self._changed)
        self.traces = Traces(self._trigger)
        self.sweep: Sweep | None = None
        self.registers = {"ESR": 0, "ESE": 0, "SRE": 0, "OPER": 0, "QUES": 0}
        self._t_state = self.clock.now()
        self.reads = 0
        self.before_read: Callable[[], Awaitable[bool]] | None = None  # fault hook
        self._index = _index(self._build_tree())
        self._apply()

    @property
    def buffers(self) -> dict[str, Any]:
        return self.traces.buffers

    # --- errors ------------------------------------------------------------------------------
    def push_error(self, code: int, text: str) -> None:
        for high, low, bit in _ESR_BITS:
            if low <= code <= high:
                self.registers["ESR"] |= bit
        if len(self.errors) >= ERROR_QUEUE_SIZE:
            self.errors[-1] = scpi.QUEUE_OVERFLOW
            return
        self.errors.append((code, text))

    # --- time --------------------------------------------------------------------------------
    def sync(self) -> None:
        """Let the cell live through the simulated time since the last message."""
        now = self.clock.now()
        if now > self._t_state:
            self.smu.advance(now - self._t_state)
            self._t_state = now

    # --- execution ---------------------------------------------------------------------------
    async def execute(self, message: str) -> list[str] | None:
        """Run one program message; return the response units, or None if the host is cut."""
        self.sync()
        responses: list[str] = []
        for unit in scpi.parse_message(message):
            if isinstance(unit, ScpiError):
                self.push_error(unit.code, unit.text)
                if "?" in message and not responses:
                    responses.append("")  # a query was asked: never leave it unanswered
                break
            try:
                reply = await self._dispatch(unit)
            except ScpiError as exc:
                self.push_error(exc.code, exc.text)
                reply = "" if unit.query else None
            except _HostCut:
                return None
            except Exception as exc:  # the model failed: report it the way the 2450 would
                log.exception("Keithley 2450 simulator failed on %r", unit.text)
                self.push_error(DEVICE_ERROR[0], f"{DEVICE_ERROR[1]}; {exc}")
                reply = "" if unit.query else None
            if reply is not None:
                responses.append(reply)
        return responses

    async def _dispatch(self, unit: Unit) -> str | None:
        if unit.common:
            handler = self._common.get((unit.common, unit.query))
            if handler is None:
                raise ScpiError(scpi.UNDEFINED_HEADER, unit.text)
            return await handler(unit.params)
        if self.language == "TSP":
            raise ScpiError(scpi.UNDEFINED_HEADER, f"{unit.text} (command set is TSP)")
        tokens = list(unit.tokens)
        for pattern, query, handler in self._index.get(_stem(tokens[0]), []):
            if query == unit.query and pattern.match(tokens):
                if self.language != "SCPI" and unit.tokens[0] not in ("SYST", "SYSTEM"):
                    break  # 2400 emulation: only the shared SYSTem subsystem is modelled
                return await handler(unit.params)
        raise ScpiError(scpi.UNDEFINED_HEADER, unit.text)

    # --- the command tree --------------------------------------------------------------------
    def _build_tree(self) -> Tree:
        self._common: dict[tuple[str, bool], Handler] = {
            ("*IDN", True): self._idn,
            ("*LANG", True): lambda p: self._q(p, self.language),
            ("*LANG", False): self._lang,
            ("*RST", False): self._rst,
            ("*CLS", False): self._cls,
            ("*OPC", True): const("1"),
            ("*OPC", False): self._opc,
            ("*WAI", False): accept,
            ("*TRG", False): accept,  # a bus trigger; no trigger model here waits for one
            ("*TST", True): const("0"),  # self-test passed
            ("*ESR", True): self._take_register("ESR"),
            ("*ESE", True): lambda p: self._q(p, str(self.registers["ESE"])),
            ("*ESE", False): self._set_register("ESE", 255),
            ("*SRE", True): lambda p: self._q(p, str(self.registers["SRE"])),
            ("*SRE", False): self._set_register("SRE", 255),
            ("*STB", True): lambda p: self._q(p, str(self._status_byte())),
        }
        table = (
            self._system_table()
            + self._source_table()
            + self._sense_table()
            + self.settings.table()
            + self.traces.table()
        )
        return [(Pattern.parse(text), query, handler) for text, query, handler in table]

    def _system_table(self) -> list[tuple[str, bool, Handler]]:
        return [
            (":SYSTem:ERRor[:NEXT]", True, self._err_next),
            (":SYSTem:ERRor:CODE[:NEXT]", True, self._err_code),
            (":SYSTem:ERRor:COUNt", True, lambda p: self._q(p, str(len(self.errors)))),
            (":SYSTem:CLEar", False, self._cls),
            (":SYSTem:BEEPer[:IMMediate]", False, self._beep),
            (":STATus:PRESet", False, self._status_preset),
            (":STATus:CLEar", False, self._status_clear),
            (":STATus:OPERation[:EVENt]", True, self._take_register("OPER")),
            (":STATus:OPERation:CONDition", True, const("0")),
            (":STATus:QUEStionable[:EVENt]", True, self._take_register("QUES")),
            (":STATus:QUEStionable:CONDition", True, const("0")),
            (":ABORt", False, accept),
            (":INITiate[:IMMediate]", False, self._initiate),
            (":OUTPut#[:STATe]", False, self._set_output),
            (":OUTPut#[:STATe]", True, lambda p: self._qb(p, self.smu.output)),
        ]

    def _source_table(self) -> list[tuple[str, bool, Handler]]:
        out: list[tuple[str, bool, Handler]] = [
            (":SOURce#:FUNCtion[:MODE]", False, self._set_source_function),
            (":SOURce#:FUNCtion[:MODE]", True, lambda p: self._q(p, self.smu.source_function)),
            (":SOURce#:CURRent:VLIMit[:LEVel]", False, self._set_number("vlim_V")),
            (":SOURce#:CURRent:VLIMit[:LEVel]", True, lambda p: self._qn(p, self.smu.vlim_V)),
            (":SOURce#:CURRent:VLIMit:TRIPped", True, self._q_trip),
            (":SOURce#:VOLTage:ILIMit[:LEVel]", False, self._set_number("ilim_A")),
            (":SOURce#:VOLTage:ILIMit[:LEVel]", True, lambda p: self._qn(p, self.smu.ilim_A)),
            (":SOURce#:VOLTage:ILIMit:TRIPped", True, self._q_trip),
        ]
        for f, node in SOURCE.items():
            attribute = _LEVEL_OF[f]
            out += [
                (_LEVEL.format(node), False, self._set_number(attribute)),
                (_LEVEL.format(node), True, self._q_level(attribute)),
                (f":SOURce#:{node}:READ:BACK", False, self._set_readback),
                (f":SOURce#:{node}:READ:BACK", True, lambda p: self._qb(p, self.smu.readback)),
            ]
            for spacing, tail in (("LIN", "LINear"), ("STEP", "LINear:STEP"), ("LOG", "LOG")):
                out.append((f":SOURce#:SWEep:{node}:{tail}", False, self._set_sweep(f, spacing)))
        return out

    def _sense_table(self) -> list[tuple[str, bool, Handler]]:
        out: list[tuple[str, bool, Handler]] = [
            ("[:SENSe#]:FUNCtion[:ON]", False, self._set_sense_function),
            ("[:SENSe#]:FUNCtion[:ON]", True, self._q_sense_function),
            ("[:SENSe#]:AZERo:ONCE", False, accept),
            (":READ", True, self._read),
            (":MEASure", True, self._read),
            (":FETCh", True, self._fetch),
        ]
        for f, node in SENSE.items():
            out.append((f":MEASure:{node}", True, self._measure_function(f)))
        return out

    # --- common commands and status ----------------------------------------------------------
    async def _idn(self, params: tuple[Param, ...]) -> str:
        no_params(params)
        return f"KEITHLEY INSTRUMENTS,MODEL 2450,{self.serial},{self.firmware}"

    async def _lang(self, params: tuple[Param, ...]) -> None:
        word = one_word(params, {w: w for w in ("SCPI", "SCPI2400", "TSP")})
        self.language = word  # a real 2450 needs a reboot; the simulator switches at once

    async def _rst(self, params: tuple[Param, ...]) -> None:
        no_params(params)
        self.smu.reset()
        self.settings.reset()
        self.traces.reset()
        self.sweep = None
        self._apply()

    async def _cls(self, params: tuple[Param, ...]) -> None:
        no_params(params)
        self.errors.clear()
        self.registers.update(ESR=0, OPER=0, QUES=0)

    async def _opc(self, params: tuple[Param, ...]) -> None:
        no_params(params)
        self.registers["ESR"] |= 1  # operation complete: nothing here runs in the background

    def _status_byte(self) -> int:
        byte = 4 if self.errors else 0  # bit 2: error/event queue not empty
        if self.registers["ESR"] & self.registers["ESE"]:
            byte |= 32  # bit 5: standard event summary
        if byte & self.registers["SRE"]:
            byte |= 64  # bit 6: master summary status
        return byte

    def _take_register(self, name: str) -> Handler:
        async def handler(params: tuple[Param, ...]) -> str:
            no_params(params)
            value, self.registers[name] = self.registers[name], 0
            return str(value)

        return handler

    def _set_register(self, name: str, high: int) -> Handler:
        async def handler(params: tuple[Param, ...]) -> None:
            self.registers[name] = int(number(params, low=0, high=high, default=0))

        return handler

    async def _status_preset(self, params: tuple[Param, ...]) -> None:
        no_params(params)
        self.settings["status.operation.enable"] = 0
        self.settings["status.questionable.enable"] = 0

    async def _status_clear(self, params: tuple[Param, ...]) -> None:
        no_params(params)
        self.registers.update(ESR=0, OPER=0, QUES=0)

    async def _err_next(self, params: tuple[Param, ...]) -> str:
        no_params(params)
        if not self.errors:
            return '0,"No error"'
        code, text = self.errors.popleft()
        return f'{code},"{text}"'

    async def _err_code(self, params: tuple[Param, ...]) -> str:
        no_params(params)
        return str(self.errors.popleft()[0]) if self.errors else "0"

    async def _beep(self, params: tuple[Param, ...]) -> None:
        if len(params) != 2:
            raise ScpiError(
                scpi.MISSING_PARAMETER if len(params) < 2 else scpi.PARAMETER_NOT_ALLOWED
            )
        number_at(params[0], low=20.0, high=8000.0, default=1000.0)
        number_at(params[1], low=0.001, high=100.0, default=1.0)

    # --- source ------------------------------------------------------------------------------
    async def _set_source_function(self, params: tuple[Param, ...]) -> None:
        self.smu.source_function = one_word(params, FUNCTIONS)
        self.smu.settle()
        self._apply()

    def _set_number(self, attribute: str) -> Handler:
        """A setter of one SMU number within its range (`_SMU_NUMBERS`)."""
        low, high, default = _SMU_NUMBERS[attribute]

        async def handler(params: tuple[Param, ...]) -> None:
            setattr(self.smu, attribute, number(params, low=low, high=high, default=default))
            self.smu.settle()
            self._apply()

        return handler

    def _q_level(self, attribute: str) -> Handler:
        return lambda p: self._qn(p, getattr(self.smu, attribute))

    async def _q_trip(self, params: tuple[Param, ...]) -> str:
        no_params(params)
        return "1" if self.smu.tripped else "0"

    async def _set_readback(self, params: tuple[Param, ...]) -> None:
        self.smu.readback = boolean(params)

    async def _set_output(self, params: tuple[Param, ...]) -> None:
        self.smu.output = boolean(params)
        self.smu.settle()

    def _set_sweep(self, function: str, spacing: str) -> Handler:
        high = MAX_CURRENT_A if function == "CURR" else MAX_VOLTAGE_V

        async def handler(params: tuple[Param, ...]) -> None:
            sweep = parse_sweep(function, spacing, params, high)
            self.traces.named(sweep.buffer)  # the buffer must exist
            self.sweep = sweep

        return handler

    # --- sense -------------------------------------------------------------------------------
    async def _set_sense_function(self, params: tuple[Param, ...]) -> None:
        if len(params) != 1:
            raise ScpiError(scpi.MISSING_PARAMETER if not params else scpi.PARAMETER_NOT_ALLOWED)
        if params[0].kind != "string":
            raise ScpiError(scpi.DATA_TYPE_ERROR, "the function must be a quoted string")
        name = params[0].text.upper().split(":")[0]
        if name not in SENSE_NAMES:
            raise ScpiError(scpi.ILLEGAL_PARAMETER, params[0].text)
        self.smu.sense_function = SENSE_NAMES[name]
        self._apply()

    async def _q_sense_function(self, params: tuple[Param, ...]) -> str:
        no_params(params)
        f = self.smu.sense_function
        return '"RES"' if f == "RES" else f'"{f}:DC"'

    def _measure_function(self, function: str) -> Handler:
        async def handler(params: tuple[Param, ...]) -> str:
            self.smu.sense_function = function
            self._apply()
            return await self._read(params)

        return handler

    # --- settings that reach the physics -----------------------------------------------------
    def _changed(self, key: str) -> None:
        self._apply()

    def _apply(self) -> None:
        """Carry the settings the SMU model needs into it, for the functions in use."""
        smu, s = self.smu, self.settings
        smu.off_mode = s[f"output.{smu.source_function}.smode"]
        smu.remote_sense = s[f"sense.{smu.sense_function}.rsense"]
        smu.offset_compensated = s["sense.RES.ocom"]
        for f, attribute in _LEVEL_OF.items():
            if s[f"source.{f}.auto"]:
                s[f"source.{f}.range"] = range_for(RANGES[f], getattr(smu, attribute))

    # --- readings ----------------------------------------------------------------------------
    async def _measure_into(self, key: str) -> Reading:
        """One measurement at this instant, through the filter and range, into a buffer."""
        f = self.smu.sense_function
        s = self.settings
        averaged = s[f"sense.{f}.aver"]
        scale = 1.0 / math.sqrt(s[f"sense.{f}.aver.count"]) if averaged else 1.0
        source, value, limited = self.smu.measure(noise_scale=scale)
        if s[f"sense.{f}.auto"]:
            s[f"sense.{f}.range"] = range_for(RANGES[f], value)
        elif abs(value) > s[f"sense.{f}.range"] * OVER_RANGE:
            value = OVERFLOW
        buffer = self.traces.buffers[key]
        t = self._t_state
        if buffer.first_t is None:
            buffer.first_t = t
        reading = Reading(
            t, t - buffer.first_t, source, value, limited, f, self.smu.source_function
        )
        buffer.add(reading)
        self.reads += 1
        return reading

    async def _read(self, params: tuple[Param, ...]) -> str:
        key, _ = self.traces.named(params[0] if params else None)
        names = elements(params[1:])
        if self.before_read is not None and not await self.before_read():
            raise _HostCut
        if math.isinf(self.clock.time_scale) and self.read_interval_s:
            await self.clock.sleep(self.read_interval_s)
        self.sync()
        reading = None
        for _ in range(int(self.settings["sense.count"])):
            reading = await self._measure_into(key)
        assert reading is not None
        return format_reading(reading, names)

    async def _trigger(self, key: str) -> None:
        """The readings of one trigger (`:TRACe:TRIGger`, or `:INIT` with no sweep)."""
        self.sync()
        for _ in range(int(self.settings["sense.count"])):
            await self._measure_into(key)

    async def _initiate(self, params: tuple[Param, ...]) -> None:
        """Run the trigger model: the configured sweep, or the readings of one trigger."""
        no_params(params)
        if self.sweep is None:
            await self._trigger("DEFBUFFER1")
            return
        sweep = self.sweep
        key, buffer = self.traces.named(sweep.buffer)
        buffer.clear()
        smu, attribute = self.smu, _LEVEL_OF[sweep.function]
        was_on, smu.source_function = smu.output, sweep.function  # the sweep's source
        source_delay = self.settings[f"source.{sweep.function}.delay"]
        delay = max(0.0, sweep.delay_s) + (
            0.0 if self.settings[f"source.{sweep.function}.delay_auto"] else source_delay
        )
        smu.output = True
        for level in sweep.passes():
            setattr(smu, attribute, level)
            smu.settle()
            self._apply()
            if delay > 0:
                await self.clock.sleep(delay)
                self.sync()
            reading = await self._measure_into(key)
            if sweep.fail_abort and reading.limited:
                break
        smu.output = was_on
        smu.settle()
        self._apply()

    async def _fetch(self, params: tuple[Param, ...]) -> str:
        _, buffer = self.traces.named(params[0] if params else None)
        names = elements(params[1:])
        if not buffer.readings:
            raise ScpiError(scpi.SETTINGS_CONFLICT, "the buffer is empty")
        return format_reading(buffer.readings[-1], names)

    # --- query helpers -----------------------------------------------------------------------
    @staticmethod
    def _q(params: tuple[Param, ...], value: str) -> Awaitable[str]:
        no_params(params)
        return done(value)

    @staticmethod
    def _qn(params: tuple[Param, ...], value: float) -> Awaitable[str]:
        no_params(params)
        return done(num(value))

    @staticmethod
    def _qb(params: tuple[Param, ...], value: bool) -> Awaitable[str]:
        no_params(params)
        return done("1" if value else "0")


class _HostCut(Exception):
    """A fault hook cut the connection before the reply."""


def _stem(token: str) -> str:
    return token.rstrip("0123456789")


def _index(tree: Tree) -> dict[str, Tree]:
    """The tree by the mnemonics a header can start with (a leading optional node's, and
    the next node's), so that a command is matched against a few patterns, not all."""
    index: dict[str, Tree] = {}
    for entry in tree:
        nodes = entry[0].nodes
        starts = [nodes[0]] + ([nodes[1]] if nodes[0].optional and len(nodes) > 1 else [])
        for node in starts:
            for word in {node.short, node.long}:
                index.setdefault(word, []).append(entry)
    return index
