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

import copy
import difflib
import math
import re
import socket
import tomllib
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, Union
from urllib.parse import urlparse

import tomli_w
from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from scheduler.endpoints import (
    FREE_PORT_HINT,
    free_ports_allowed,
    port_of,
    tcp_address,
    with_port,
)
from scheduler.errors import SchedulerError
from scheduler.kinds import KINDS, ROLES, InstrumentSettings, with_role
from scheduler.kinds.base import Strict
from scheduler.slot_limits import limit_problems, reader
from scheduler.telemetry_config import TelemetryConfig

NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")  # safe as an MQTT topic segment
NAME_RULE = "letters, digits, '_', '.' or '-', starting with a letter or digit"


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


def _topic_name(what: str, value: str) -> str:
    """A bench or slot name, which is also a level of its MQTT topics."""
    if not NAME.match(value):
        raise ValueError(f"{what} name {value!r} must be {NAME_RULE} (it is an MQTT topic)")
    return value


# -- the model ------------------------------------------------------------------------------
class BenchInfo(Strict):
    name: str
    recovery: Literal["auto", "ack"] = "auto"
    sample_period_s: float = Field(1.0, gt=0)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return _topic_name("bench", value)


class DatabaseConfig(Strict):
    url: str | None = None


# The `[instruments.<name>]` tables: one config model per registered kind, told apart by
# their `kind`. mypy sees their common base; pydantic the discriminated union.
if TYPE_CHECKING:
    InstrumentConfig = InstrumentSettings
else:
    InstrumentConfig = Annotated[
        Union[tuple(k.config for k in KINDS.values())],  # noqa: UP007
        Field(discriminator="kind"),
    ]


def _in(key: str) -> BeforeValidator:
    """A hard limit given as a number in `key`'s unit or as a quantity ("20 mA")."""
    return BeforeValidator(reader(key))


class SlotLimits(Strict):
    """Hard limits of a slot (None: not limited at the bench level); each a number in its
    key's unit or a quantity with its unit (`scheduler.slot_limits`)."""

    voltage_min_V: Annotated[float | None, _in("voltage_min_V")] = None
    voltage_max_V: Annotated[float | None, _in("voltage_max_V")] = None
    abs_current_max_A: Annotated[float | None, _in("abs_current_max_A")] = Field(default=None, gt=0)
    temperature_min_degC: Annotated[float | None, _in("temperature_min_degC")] = Field(
        default=None, gt=-273.15
    )
    temperature_max_degC: Annotated[float | None, _in("temperature_max_degC")] = Field(
        default=None, gt=-273.15
    )
    pressure_max_MPa: Annotated[float | None, _in("pressure_max_MPa")] = Field(default=None, gt=0)

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


class Slot(Strict):
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
        return _topic_name("slot", value)


class SimCell(Strict):
    preset: str = "gao2025-dfncm-llzo"
    soc: float | None = Field(None, ge=0.0, le=1.0)
    seed: int | None = None
    overrides: dict[str, float | str] = Field(default_factory=dict, alias="set")


class Simulation(Strict):
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
        if parsed.scheme != "tcp" or not parsed.hostname or port_of(parsed) is None:
            raise ValueError(f"control endpoint {value!r} is not tcp://host:port")
        if parsed.port == 0 and not free_ports_allowed(info):
            raise ValueError(f"control endpoint {value!r}: {FREE_PORT_HINT}")
        return value


class Bench(Strict):
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
        problems = limit_problems(bench)
        if problems:
            raise BenchError(source, problems)
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
            kind = _registered((raw.get("instruments") or {}).get(name, {}).get("kind"))
            return kind.config if kind is not None else None
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


def _registered(kind: Any) -> Any:
    """The registration of a kind as the raw file names it (None: not a kind)."""
    return KINDS.get(kind) if isinstance(kind, str) else None


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
        out += _role_problems(i, slot, kinds)
        out += _channel_problems(i, slot, kinds, seen_channels)
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


def _role_problems(i: int, slot: dict[str, Any], kinds: dict[str, Any]) -> list[tuple[str, str]]:
    """A slot's potentiostat, chamber and rig: named instruments of the right role."""
    out = []
    for role in ROLES:
        ref = slot.get(role)
        if ref is None or not isinstance(ref, str):
            continue
        allowed = [k.kind for k in with_role(role)]
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
        elif (kind := _registered(kinds[ref])) is not None and kind.role != role:
            out.append(
                (
                    f"slots[{i}].{role}",
                    f"{ref!r} is of kind {kind.kind}, not a {role} ({' or '.join(allowed)})",
                )
            )
    return out


def _channel_problems(
    i: int, slot: dict[str, Any], kinds: dict[str, Any], seen: dict[tuple[str, int], int]
) -> list[tuple[str, str]]:
    """One channel drives one cell, and a channel the potentiostat has."""
    pstat, channel = slot.get("potentiostat"), slot.get("channel", 0)
    if not (isinstance(pstat, str) and isinstance(channel, int)) or isinstance(channel, bool):
        return []
    out = []
    key = (pstat, channel)
    if key in seen:
        out.append(
            (
                f"slots[{i}].channel",
                f"{pstat} channel {channel} is already used by "
                f"slots[{seen[key]}]; one channel drives one cell",
            )
        )
    else:
        seen[key] = i
    kind = _registered(kinds.get(pstat))
    count = kind.capabilities.channels if kind is not None else None
    if count is not None and not 0 <= channel < count:
        have = "one channel (0)" if count == 1 else f"{count} channels (0-{count - 1})"
        out.append((f"slots[{i}].channel", f"a {kind.label} has {have}, not {channel}"))
    return out


# -- free ports -----------------------------------------------------------------------------
def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


def endpoint_fields(raw: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    """Every endpoint in a parsed bench file: (key path, value)."""
    found: list[tuple[tuple[str, ...], str]] = []
    for name, table in (raw.get("instruments") or {}).items():
        kind = _registered(table.get("kind")) if isinstance(table, dict) else None
        for key in kind.endpoints if kind is not None else ():
            if isinstance(table.get(key), str):
                found.append((("instruments", name, key), table[key]))
    simulation = raw.get("simulation")
    if isinstance(simulation, dict) and isinstance(simulation.get("control"), str):
        found.append((("simulation", "control"), simulation["control"]))
    return found


def replace_endpoints(raw: dict[str, Any], new: dict[tuple[str, ...], str]) -> dict[str, Any]:
    """A copy of a parsed bench file with some endpoints replaced."""
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
    return tomli_w.dumps(replace_endpoints(raw, new))
