"""The bench file (TOML): instruments with their endpoints, and the slots that use them.

A slot is one cell position: a potentiostat channel, optionally inside a chamber and a
pressure rig, with hard limits the safety supervisor enforces. `Bench.load(path)` checks
everything it can without touching the hardware and reports every problem at once, each
naming the file, the key path (`slots[2].rig`) and what would be valid.

Endpoint port 0 means "pick a free port". Only `cellbench sim --bench` accepts it
(`Bench.load(path, free_ports=True)`); it binds real ports and writes the resolved bench
file for clients (`--write-bench`). `with_free_ports(text)` does the same for tests that
want concrete ports before anything listens.
"""

from __future__ import annotations

import difflib
import math
import re
import socket
import tomllib
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlparse

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scheduler.errors import SchedulerError
from scheduler.telemetry_config import TelemetryConfig

KINDS = ("emstat4", "keithley2450", "espec", "watlow-f4t", "pressure-rig")
POTENTIOSTAT_KINDS = ("emstat4", "keithley2450")
CHAMBER_KINDS = ("espec", "watlow-f4t")
RIG_KINDS = ("pressure-rig",)
ROLE_KINDS = {"potentiostat": POTENTIOSTAT_KINDS, "chamber": CHAMBER_KINDS, "rig": RIG_KINDS}
NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # safe as an MQTT topic segment
NAME_RULE = "letters, digits, '_', '.' or '-', starting with a letter or digit"
FREE_PORT_HINT = (
    "port 0 ('pick a free port') is only for `cellbench sim --bench`; point clients at the "
    "file it writes with --write-bench"
)


class BenchError(SchedulerError):
    """A bench file with problems; `problems` holds (key path, message) pairs."""

    def __init__(self, source: str, problems: list[tuple[str, str]]) -> None:
        self.source = source
        self.problems = problems
        lines = [
            f"{source}: {path}: {message}" if path else f"{source}: {message}"
            for path, message in problems
        ]
        if len(lines) > 1:
            lines.insert(0, f"bench file {source} has {len(lines)} problems:")
        super().__init__("\n".join(lines))


# -- endpoints ------------------------------------------------------------------------------
def _free_ports_allowed(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("free_ports"))


def check_line_endpoint(text: str, free_ports: bool = False) -> str:
    """A serial path, serial:///dev/…, tcp://host:port or socket://host:port."""
    from drivers.errors import InstrumentError
    from drivers.transports import parse_endpoint

    parsed = urlparse(text.strip())
    if parsed.scheme in ("tcp", "socket") and parsed.hostname and _port(parsed) == 0:
        if free_ports:
            return text.strip()
        raise ValueError(f"endpoint {text!r}: {FREE_PORT_HINT}")
    try:
        parse_endpoint(text)
    except InstrumentError as exc:
        raise ValueError(str(exc)) from None
    return text.strip()


def check_modbus_endpoint(text: str, free_ports: bool = False) -> str:
    """tcp://host:port, modbus://host:port or host:port (the Watlow F4T's Modbus TCP)."""
    from drivers.chambers.watlow_f4t import parse_modbus_endpoint
    from drivers.errors import InstrumentError

    try:
        _, port = parse_modbus_endpoint(text)
    except InstrumentError as exc:
        raise ValueError(str(exc)) from None
    except ValueError:
        raise ValueError(f"Modbus endpoint {text!r} has a port that is not a number") from None
    if port == 0 and not free_ports:
        raise ValueError(f"endpoint {text!r}: {FREE_PORT_HINT}")
    return text.strip()


def check_visa_resource(text: str, free_ports: bool = False) -> str:
    """A VISA resource string, as pyvisa parses it."""
    from pyvisa import rname

    try:
        resource = rname.parse_resource_name(text.strip())
    except Exception:
        raise ValueError(
            f"{text!r} is not a VISA resource such as TCPIP0::192.168.0.20::5025::SOCKET, "
            "USB0::0x05E6::0x2450::<serial>::INSTR or GPIB0::18::INSTR"
        ) from None
    if getattr(resource, "resource_class", "") == "SOCKET" and str(resource.port) == "0":
        if not free_ports:
            raise ValueError(f"resource {text!r}: {FREE_PORT_HINT}")
    return text.strip()


def _port(parsed: Any) -> int | None:
    try:
        return parsed.port
    except ValueError:
        return None


# -- the model ------------------------------------------------------------------------------
class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)


class BenchInfo(_Strict):
    name: str
    recovery: Literal["auto", "ack"] = "auto"
    sample_period_s: float = Field(1.0, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"bench name {value!r} must be {NAME_RULE} (it is an MQTT topic)")
        return value


class DatabaseConfig(_Strict):
    url: str | None = None


class EmStat4Config(_Strict):
    kind: Literal["emstat4"]
    endpoint: str
    invert_current: bool = False
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_line_endpoint(value, _free_ports_allowed(info))


class Keithley2450Config(_Strict):
    kind: Literal["keithley2450"]
    endpoint: str
    four_wire: bool = True
    nplc: float = Field(1.0, ge=0.01, le=10.0)
    max_voltage_V: float = Field(5.0, gt=0, le=200.0)
    timeout_s: float = Field(5.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_visa_resource(value, _free_ports_allowed(info))


class EspecConfig(_Strict):
    kind: Literal["espec"]
    endpoint: str
    address: int | None = Field(None, ge=0, le=99)
    timeout_s: float = Field(3.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_line_endpoint(value, _free_ports_allowed(info))


class WatlowF4TConfig(_Strict):
    kind: Literal["watlow-f4t"]
    endpoint: str
    loop: int = Field(1, ge=1, le=4)
    device_id: int = Field(1, ge=0, le=247)
    timeout_s: float = Field(3.0, gt=0)

    @field_validator("endpoint")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_modbus_endpoint(value, _free_ports_allowed(info))


class PressureRigConfig(_Strict):
    kind: Literal["pressure-rig"]
    controller: str  # Alicat PC
    gauge: str  # Mark-10
    piston_area_mm2: float = Field(gt=0)
    friction_N: float = Field(0.0, ge=0)
    max_force_N: float = Field(2000.0, gt=0)
    period_s: float = Field(30.0, gt=0)
    unit_id: str = Field("A", pattern=r"^[A-Za-z]$")
    full_scale_psig: float = Field(150.0, gt=0)
    timeout_s: float = Field(1.0, gt=0)

    @field_validator("controller", "gauge")
    @classmethod
    def _endpoint(cls, value: str, info: ValidationInfo) -> str:
        return check_line_endpoint(value, _free_ports_allowed(info))


InstrumentConfig = Annotated[
    EmStat4Config | Keithley2450Config | EspecConfig | WatlowF4TConfig | PressureRigConfig,
    Field(discriminator="kind"),
]
KIND_MODELS: dict[str, type[_Strict]] = {
    "emstat4": EmStat4Config,
    "keithley2450": Keithley2450Config,
    "espec": EspecConfig,
    "watlow-f4t": WatlowF4TConfig,
    "pressure-rig": PressureRigConfig,
}


def endpoints_of(config: Any) -> dict[str, str]:
    """The endpoint fields of one instrument: {"endpoint": …} or {"controller": …, "gauge": …}."""
    if isinstance(config, PressureRigConfig):
        return {"controller": config.controller, "gauge": config.gauge}
    return {"endpoint": config.endpoint}


class SlotLimits(_Strict):
    """Hard limits of a slot (None: not limited at the bench level)."""

    voltage_min_V: float | None = None
    voltage_max_V: float | None = None
    abs_current_max_A: float | None = Field(None, gt=0)
    temperature_min_degC: float | None = Field(None, gt=-273.15)
    temperature_max_degC: float | None = Field(None, gt=-273.15)
    pressure_max_MPa: float | None = Field(None, gt=0)

    @model_validator(mode="after")
    def _order(self) -> SlotLimits:
        for quantity, unit in (("voltage", "V"), ("temperature", "degC")):
            low = getattr(self, f"{quantity}_min_{unit}")
            high = getattr(self, f"{quantity}_max_{unit}")
            if low is not None and high is not None and not low < high:
                raise ValueError(
                    f"{quantity}_min_{unit} ({low:g}) must be below {quantity}_max_{unit} "
                    f"({high:g})"
                )
        return self


class Slot(_Strict):
    name: str
    potentiostat: str
    channel: int = Field(0, ge=0)
    chamber: str | None = None
    rig: str | None = None
    cell_area_mm2: float | None = Field(None, gt=0)
    limits: SlotLimits = SlotLimits()

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not NAME.match(value):
            raise ValueError(f"slot name {value!r} must be {NAME_RULE} (it is an MQTT topic)")
        return value


class SimCell(_Strict):
    preset: str = "gao2025-dfncm-llzo"
    soc: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = None
    overrides: dict[str, float | str] = Field(default_factory=dict, alias="set")


class Simulation(_Strict):
    time_scale: float = Field(100.0, gt=0)
    control: str | None = None
    start_degC: float = Field(25.0, gt=-40.0, lt=150.0)
    seed: int | None = 1
    cells: dict[str, SimCell] = Field(default_factory=dict)

    @field_validator("time_scale")
    @classmethod
    def _finite(cls, value: float) -> float:
        if not math.isfinite(value):
            raise ValueError(
                "time_scale must be finite: the chamber and press plants evolve with "
                "simulated time (100 means 100 simulated seconds per wall second)"
            )
        return value

    @field_validator("control")
    @classmethod
    def _control(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is None:
            return None
        parsed = urlparse(value)
        if parsed.scheme != "tcp" or not parsed.hostname or _port(parsed) is None:
            raise ValueError(f"control endpoint {value!r} is not tcp://host:port")
        if parsed.port == 0 and not _free_ports_allowed(info):
            raise ValueError(f"control endpoint {value!r}: {FREE_PORT_HINT}")
        return value


class Bench(_Strict):
    """A validated bench file. Load it with `Bench.load(path)`."""

    bench: BenchInfo
    database: DatabaseConfig | None = None
    telemetry: TelemetryConfig | None = None
    instruments: dict[str, InstrumentConfig]
    slots: list[Slot] = Field(min_length=1)
    simulation: Simulation | None = None

    _source: str = PrivateAttr("")
    _source_text: str = PrivateAttr("")

    # -- loading ------------------------------------------------------------------------------
    @classmethod
    def load(cls, path: str | Path, *, free_ports: bool = False) -> Bench:
        """Read and check a bench file; one BenchError lists every problem."""
        file = Path(path)
        try:
            text = file.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise SchedulerError(f"bench file {str(file)!r} does not exist") from None
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SchedulerError(f"cannot read bench file {str(file)!r}: {reason}") from None
        return cls.from_text(text, source=str(file), free_ports=free_ports)

    @classmethod
    def from_text(cls, text: str, *, source: str = "<bench>", free_ports: bool = False) -> Bench:
        """Check bench-file text (as `load` does); `source` names it in messages."""
        try:
            raw = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise BenchError(source, [("", f"is not valid TOML: {exc}")]) from None
        problems = _structure_problems(raw, free_ports) + _reference_problems(raw)
        if problems:
            raise BenchError(source, _unique(problems))
        bench = cls.model_validate(raw, context={"free_ports": free_ports})
        bench._source, bench._source_text = source, text
        return bench

    # -- lookups ------------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return self.bench.name

    @property
    def source(self) -> str:
        """The file the bench came from (for messages)."""
        return self._source

    @property
    def source_text(self) -> str:
        """The bench file's text, stored with every run for provenance."""
        return self._source_text

    def slot(self, name: str) -> Slot:
        for slot in self.slots:
            if slot.name == name:
                return slot
        raise SchedulerError(
            f"bench {self.name} has no slot {name!r}; its slots are "
            f"{', '.join(s.name for s in self.slots)}"
        )

    def instrument(self, name: str) -> Any:
        try:
            return self.instruments[name]
        except KeyError:
            raise SchedulerError(
                f"bench {self.name} has no instrument {name!r}; its instruments are "
                f"{', '.join(self.instruments)}"
            ) from None

    def slots_in(self, instrument: str) -> list[Slot]:
        """The slots that use an instrument (as potentiostat, chamber or rig)."""
        return [s for s in self.slots if instrument in (s.potentiostat, s.chamber, s.rig)]


# -- checking -------------------------------------------------------------------------------
def _unique(problems: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return list(dict.fromkeys(problems))


def _path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out


def _model_at(raw: dict[str, Any], loc: tuple[Any, ...]) -> type[BaseModel] | None:
    """The model that validates the table at `loc` (for listing its valid keys)."""
    match loc:
        case ():
            return Bench
        case ("bench",):
            return BenchInfo
        case ("database",):
            return DatabaseConfig
        case ("telemetry",):
            return TelemetryConfig
        case ("instruments", str(name)):
            kind = (raw.get("instruments") or {}).get(name, {}).get("kind")
            return KIND_MODELS.get(kind) if isinstance(kind, str) else None
        case ("slots", int()):
            return Slot
        case ("slots", int(), "limits"):
            return SlotLimits
        case ("simulation",):
            return Simulation
        case ("simulation", "cells", str()):
            return SimCell
    return None


def _keys_of(model: type[BaseModel]) -> list[str]:
    return [field.alias or name for name, field in model.model_fields.items()]


def _message(error: dict[str, Any], raw: dict[str, Any]) -> tuple[tuple[Any, ...], str]:
    """Turn one pydantic error into (location, one clear message)."""
    loc, kind, given = tuple(error["loc"]), error["type"], error.get("input")
    if len(loc) >= 3 and loc[0] == "instruments" and loc[2] in KINDS:
        loc = loc[:2] + loc[3:]  # drop the discriminator pydantic puts in the path
    if kind == "extra_forbidden":
        model = _model_at(raw, loc[:-1])
        valid = _keys_of(model) if model else []
        hint = difflib.get_close_matches(str(loc[-1]), valid, n=1)
        text = "is not a known key"
        if hint:
            text += f" (did you mean {hint[0]!r}?)"
        if valid:
            text += f"; valid keys here: {', '.join(valid)}"
        return loc, text
    if kind == "missing":
        return loc, "is required but missing"
    if kind in ("union_tag_invalid", "union_tag_not_found"):
        where = (*loc, "kind")
        if kind == "union_tag_not_found":
            return where, f"is missing; give one of: {', '.join(KINDS)}"
        tag = given.get("kind") if isinstance(given, dict) else given
        return where, f"{tag!r} is not an instrument kind; valid kinds: {', '.join(KINDS)}"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return loc, f"must be a table (a [section] or {{ key = value }}), not {given!r}"
    text = str(error["msg"]).removeprefix("Value error, ")
    if kind not in ("value_error", "assertion_error") and not isinstance(given, dict):
        text += f" (got {given!r})"
    return loc, text


UNION_MEMBERS = {"float": "a number", "int": "a whole number", "str": "text", "bool": "true/false"}


def _merge_union_members(found: list[tuple[tuple[Any, ...], str]]) -> list[tuple[str, str]]:
    """`x.float: …` and `x.str: …` (one value, several allowed types) become one problem."""
    out: dict[str, list[str]] = {}
    members: dict[str, list[str]] = {}
    for loc, text in found:
        if loc and loc[-1] in UNION_MEMBERS and len(loc) > 1:
            members.setdefault(_path(loc[:-1]), []).append(UNION_MEMBERS[str(loc[-1])])
            out.setdefault(_path(loc[:-1]), [])
        else:
            out.setdefault(_path(loc), []).append(text)
    result = []
    for path, texts in out.items():
        if path in members:
            texts = [*texts, f"must be {' or '.join(dict.fromkeys(members[path]))}"]
        result += [(path, text) for text in texts]
    return result


def _structure_problems(raw: dict[str, Any], free_ports: bool) -> list[tuple[str, str]]:
    try:
        Bench.model_validate(raw, context={"free_ports": free_ports})
    except ValidationError as exc:
        found = [_message(dict(error), raw) for error in exc.errors(include_url=False)]
        return _merge_union_members(found)
    return []


def _reference_problems(raw: dict[str, Any]) -> list[tuple[str, str]]:
    """Cross-references the model cannot see: names, kinds, shared channels, rig areas."""
    out: list[tuple[str, str]] = []
    instruments = raw.get("instruments")
    instruments = instruments if isinstance(instruments, dict) else {}
    for name in instruments:
        if not NAME.match(name):
            out.append((f"instruments.{name}", f"instrument name {name!r} must be {NAME_RULE}"))
    kinds = {
        name: table.get("kind") for name, table in instruments.items() if isinstance(table, dict)
    }
    slots = raw.get("slots")
    if not isinstance(slots, list):
        return out
    seen_names: dict[str, int] = {}
    seen_channels: dict[tuple[str, int], int] = {}
    for i, slot in enumerate(slots):
        if not isinstance(slot, dict):
            continue
        name = slot.get("name")
        if isinstance(name, str):
            if name in seen_names:
                out.append(
                    (f"slots[{i}].name", f"slot {name!r} is already slots[{seen_names[name]}]")
                )
            else:
                seen_names[name] = i
        for role, allowed in ROLE_KINDS.items():
            ref = slot.get(role)
            if ref is None or not isinstance(ref, str):
                continue
            if ref not in kinds:
                listed = [n for n, k in kinds.items() if k in allowed]
                out.append(
                    (
                        f"slots[{i}].{role}",
                        f"no instrument is named {ref!r}; "
                        + (
                            f"the {role}s in this bench are {', '.join(listed)}"
                            if listed
                            else f"this bench has no {role} ({' or '.join(allowed)})"
                        ),
                    )
                )
            elif kinds[ref] in KINDS and kinds[ref] not in allowed:
                out.append(
                    (
                        f"slots[{i}].{role}",
                        f"{ref!r} is of kind {kinds[ref]}, not a {role} ({' or '.join(allowed)})",
                    )
                )
        pstat, channel = slot.get("potentiostat"), slot.get("channel", 0)
        if isinstance(pstat, str) and isinstance(channel, int) and not isinstance(channel, bool):
            key = (pstat, channel)
            if key in seen_channels:
                out.append(
                    (
                        f"slots[{i}].channel",
                        f"{pstat} channel {channel} is already used by "
                        f"slots[{seen_channels[key]}]; one channel drives one cell",
                    )
                )
            else:
                seen_channels[key] = i
            if kinds.get(pstat) == "keithley2450" and channel != 0:
                out.append(
                    (f"slots[{i}].channel", f"a Keithley 2450 has one channel (0), not {channel}")
                )
        if slot.get("rig") is not None and slot.get("cell_area_mm2") is None:
            out.append(
                (
                    f"slots[{i}].cell_area_mm2",
                    f"is required with rig {slot.get('rig')!r}: the stack pressure is the force "
                    "on the cell's area",
                )
            )
    simulation = raw.get("simulation")
    cells = simulation.get("cells") if isinstance(simulation, dict) else None
    if isinstance(cells, dict):
        for key in cells:
            if key not in seen_names:
                out.append(
                    (
                        f"simulation.cells.{key}",
                        f"there is no slot {key!r}; slots: {', '.join(seen_names)}",
                    )
                )
    return out


# -- free ports -----------------------------------------------------------------------------
def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def with_port(endpoint: str, port: int) -> str:
    """The same endpoint on another TCP port (tcp://, socket://, modbus://, host:port, VISA)."""
    if "::" in endpoint:
        parts = endpoint.split("::")
        if len(parts) >= 4 and parts[-1].upper() == "SOCKET":
            parts[-2] = str(port)
            return "::".join(parts)
        return endpoint
    has_scheme = "://" in endpoint
    parsed = urlparse(endpoint if has_scheme else f"tcp://{endpoint}")
    if not parsed.hostname or parsed.scheme == "serial":
        return endpoint
    new = parsed._replace(netloc=f"{parsed.hostname}:{port}").geturl()
    return new if has_scheme else new.removeprefix("tcp://")


def tcp_address(endpoint: str) -> tuple[str, int] | None:
    """(host, port) of a TCP-like endpoint, or None for serial paths and non-socket VISA."""
    if "::" in endpoint:
        parts = endpoint.split("::")
        if len(parts) >= 4 and parts[0].upper().startswith("TCPIP") and parts[-1] == "SOCKET":
            return parts[1], int(parts[2])
        return None
    if endpoint.startswith("/") or endpoint.startswith("serial:"):
        return None
    parsed = urlparse(endpoint if "://" in endpoint else f"tcp://{endpoint}")
    if not parsed.hostname:
        return None
    return parsed.hostname, parsed.port if parsed.port is not None else 502


def endpoint_fields(raw: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Every endpoint in a parsed bench file: (key path, value)."""
    found: list[tuple[tuple[str, ...], str]] = []
    for name, table in (raw.get("instruments") or {}).items():
        for key in ("endpoint", "controller", "gauge"):
            if isinstance(table, dict) and isinstance(table.get(key), str):
                found.append((("instruments", name, key), table[key]))
    simulation = raw.get("simulation")
    if isinstance(simulation, dict) and isinstance(simulation.get("control"), str):
        found.append((("simulation", "control"), simulation["control"]))
    return found


def replace_endpoints(raw: dict[str, Any], new: dict[tuple[str, ...], str]) -> dict[str, Any]:
    """A copy of a parsed bench file with some endpoints replaced."""
    import copy

    out = copy.deepcopy(raw)
    for path, value in new.items():
        table = out
        for key in path[:-1]:
            table = table[key]
        table[path[-1]] = value
    return out


def with_free_ports(bench_text: str) -> str:
    """The bench file with every TCP endpoint moved to a port that is free right now.

    For tests: the ports are picked by binding port 0, so another process could still take
    one before the simulator binds it. `cellbench sim --write-bench` (port 0 endpoints) has
    no such window.
    """
    raw = tomllib.loads(bench_text)
    new = {}
    for path, value in endpoint_fields(raw):
        address = tcp_address(value)
        if address is not None:
            new[path] = with_port(value, _free_port(address[0]))
    return to_toml(replace_endpoints(raw, new))


# -- writing TOML ---------------------------------------------------------------------------
def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        escaped = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'"{escaped}"'
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        inner = ", ".join(f"{_toml_key(k)} = {_toml_value(v)}" for k, v in value.items())
        return "{ " + inner + " }" if inner else "{}"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")


def _toml_key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _toml_value(key)


def to_toml(data: dict[str, Any], prefix: str = "") -> str:
    """Write a parsed bench file back as TOML: dicts as tables, lists of dicts as arrays of
    tables, everything else as a value (comments are not kept)."""
    lines: list[str] = []
    tables: list[tuple[str, Any]] = []
    for key, value in data.items():
        table_list = isinstance(value, list) and value and all(isinstance(v, dict) for v in value)
        if isinstance(value, dict) or table_list:
            tables.append((key, value))
        else:
            lines.append(f"{_toml_key(key)} = {_toml_value(value)}")
    out = "".join(f"{line}\n" for line in lines)
    for key, value in tables:
        name = f"{prefix}.{_toml_key(key)}" if prefix else _toml_key(key)
        if isinstance(value, list):
            for item in value:
                out += f"\n[[{name}]]\n" + to_toml(item, name)
        elif value and all(isinstance(v, dict) for v in value.values()):
            out += to_toml(value, name)  # only sub-tables: no header of its own
        else:
            out += f"\n[{name}]\n" + to_toml(value, name)
    return out
