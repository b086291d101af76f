"""Generate MethodSCRIPT for one driver step command.

Every data package carries the step's sample number `k` (type `jb`), counted on the
instrument with `add_var` before each package: after a lost connection the host sees by
index which samples reached it. After its measurement loop each script reports a package
holding `r` (type `ja`: 0 when the step ran its full time, n when the n-th limit, 1-based,
fired) and the final `k` (how many samples the step produced). Limits therefore run on the
instrument, at instrument speed, and survive a host crash.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable

from drivers.errors import InstrumentError
from drivers.potentiostat import StepCommand, StepLimit

# Current ranges of the EmStat4 HR, 1 nA to 100 mA (reference/instruments.md 1.1).
CURRENT_RANGES_A = [1e-9, 1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1]
MAX_CURRENT_A = CURRENT_RANGES_A[-1]
VOLTAGE_RANGE_V = (-10.0, 10.0)  # the potentials a step may apply
# The step techniques this driver turns into MethodSCRIPT.
TECHNIQUES = frozenset({"rest", "cc", "cv", "eis", "geis", "pulse_train", "sweep"})
MODE_POTENTIOSTATIC = 2
MODE_GALVANOSTATIC = 6
END_TYPE = "ja"  # the end-code variable r in the closing package
INDEX_TYPE = "jb"  # the per-step sample number k in every package
_PREFIXES = [("", 1.0), ("m", 1e-3), ("u", 1e-6), ("n", 1e-9), ("p", 1e-12)]


def si(value: float) -> str:
    """Format a number as a MethodSCRIPT literal with an SI prefix: 0.0017 -> '1700u'."""
    if not math.isfinite(value):
        raise InstrumentError(f"cannot send a non-finite value ({value}) to the EmStat4")
    if value == 0:
        return "0"
    for prefix, scale in _PREFIXES:
        mantissa = value / scale
        if abs(mantissa - round(mantissa)) <= 1e-9 * max(1.0, abs(mantissa)):
            return f"{round(mantissa)}{prefix}"
    # Fall back to nano with rounding: 1 nA / 1 nV resolution is below what the
    # instrument resolves anyway.
    return f"{round(value / 1e-9)}n"


def current_range(current_A: float) -> float:
    """Smallest range that holds |I| with 10 % headroom."""
    for top in CURRENT_RANGES_A:
        if abs(current_A) * 1.1 <= top:
            return top
    if abs(current_A) <= MAX_CURRENT_A:
        return MAX_CURRENT_A
    raise InstrumentError(
        f"{abs(current_A) * 1e3:.4g} mA is beyond the EmStat4's 100 mA range; "
        "use a channel with a higher current range"
    )


_VAR_FOR = {"voltage": "p", "current": "c"}


def _limit_lines(
    limits: tuple[StepLimit, ...],
    indent: str,
    available: set[str],
    drift: bool = False,
) -> list[str]:
    """`if` blocks that store the limit number in r and break the measurement loop.

    dV_dt limits need a loop that records the potential and sets `drift`."""
    lines: list[str] = []
    for number, limit in enumerate(limits, start=1):
        if limit.quantity in ("time", "capacity"):
            continue  # handled by the loop's run time
        if limit.quantity == "dV_dt":
            if not drift or "p" not in available:
                raise InstrumentError(
                    "this EmStat4 step cannot end on |dV/dt|: only rests, constant-current "
                    "steps and a pulse train's relaxations can"
                )
            fire = ["store_var r {n}i ja", "breakloop"]
            lines += _drift_lines(limit, number, indent, fire)
            continue
        if limit.quantity == "abs_current":
            if "c" not in available:
                continue
            bound = si(abs(limit.value))
            neg = si(-abs(limit.value))
            if limit.op in ("<", "<="):
                lines += [
                    f"{indent}if c {limit.op} {bound}",
                    f"{indent}  if c {'>' if limit.op == '<' else '>='} {neg}",
                    f"{indent}    store_var r {number}i ja",
                    f"{indent}    breakloop",
                    f"{indent}  endif",
                    f"{indent}endif",
                ]
            else:
                lines += [
                    f"{indent}if c {limit.op} {bound}",
                    f"{indent}  store_var r {number}i ja",
                    f"{indent}  breakloop",
                    f"{indent}endif",
                    f"{indent}if c {'<' if limit.op == '>' else '<='} {neg}",
                    f"{indent}  store_var r {number}i ja",
                    f"{indent}  breakloop",
                    f"{indent}endif",
                ]
            continue
        var = _VAR_FOR[limit.quantity]
        if var not in available:
            continue
        lines += [
            f"{indent}if {var} {limit.op} {si(limit.value)}",
            f"{indent}  store_var r {number}i ja",
            f"{indent}  breakloop",
            f"{indent}endif",
        ]
    return lines


def _drift_vars(limits: tuple[StepLimit, ...], prefix: str = "z") -> tuple[str, ...]:
    """The variables the on-device |dV/dt| of each dV_dt limit needs (see `_drift_lines`)."""
    names: list[str] = []
    for number, limit in enumerate(limits, start=1):
        if limit.quantity == "dV_dt":
            names += [f"{prefix}{v}{number}" for v in "rstmhn"]
    return (*names, f"{prefix}w") if names else ()


def _drift_reset(limits: tuple[StepLimit, ...], indent: str, prefix: str = "z") -> list[str]:
    """Start every dV_dt limit afresh (at the start of each relaxation)."""
    lines: list[str] = []
    for number, limit in enumerate(limits, start=1):
        if limit.quantity == "dV_dt":
            lines += [f"{indent}store_var {prefix}h{number} 0 ja"]
    return lines


def _drift_lines(
    limit: StepLimit,
    number: int,
    indent: str,
    fire: list[str],
    *,
    prefix: str = "z",
    elapsed: str = "t",
) -> list[str]:
    """MethodSCRIPT for `drivers.relaxation`'s block-mean |dV/dt| of one limit.

    Per limit: zr (V_ref), zs (sum of V − V_ref in the block), zt (block start), zm (previous
    block mean), zn (samples in the block), zh (0 = not started, 1 = first block, 2 = a
    previous mean exists), zw scratch.
    `elapsed` holds the time since the rest began; `fire` runs when the limit holds ({n} is
    the limit's number).
    """
    window = limit.window_s
    if not window > 0:
        raise InstrumentError("a |dV/dt| limit needs a positive block length (window_s)")
    bound = si(limit.value * window)
    neg = si(-limit.value * window)
    r, s_, t, m, h = (f"{prefix}{v}{number}" for v in "rstmh")
    w = f"{prefix}w"
    count = f"{prefix}n{number}"
    deeper = indent + "    "
    fired = [f"{deeper}  {line.format(n=number)}" for line in fire]
    if limit.op in ("<", "<="):
        check = [
            f"{deeper}if {w} {limit.op} {bound}",
            f"{deeper}  if {w} {'>' if limit.op == '<' else '>='} {neg}",
            *[f"  {line}" for line in fired],
            f"{deeper}  endif",
            f"{deeper}endif",
        ]
    else:
        other = "<" if limit.op == ">" else "<="
        check = [
            *(
                line
                for test in (f"{w} {limit.op} {bound}", f"{w} {other} {neg}")
                for line in (f"{deeper}if {test}", *fired, f"{deeper}endif")
            )
        ]
    return [
        f"{indent}if {elapsed} >= {si(limit.after_s)}",
        f"{indent}  if {h} == 0",
        f"{indent}    copy_var p {r}",
        f"{indent}    copy_var {elapsed} {t}",
        f"{indent}    store_var {s_} 0 ja",
        f"{indent}    store_var {count} 0 ja",
        f"{indent}    store_var {h} 1 ja",
        f"{indent}  endif",
        f"{indent}  copy_var p {w}",
        f"{indent}  sub_var {w} {r}",
        f"{indent}  add_var {s_} {w}",
        f"{indent}  add_var {count} 1",
        f"{indent}  copy_var {elapsed} {w}",
        f"{indent}  sub_var {w} {t}",
        f"{indent}  if {w} >= {si(window)}",
        f"{indent}    div_var {s_} {count}",
        f"{indent}    if {h} == 2",
        f"{indent}      copy_var {s_} {w}",
        f"{indent}      sub_var {w} {m}",
        *[f"  {line}" for line in check],
        f"{indent}    endif",
        f"{indent}    copy_var {s_} {m}",
        f"{indent}    store_var {h} 2 ja",
        f"{indent}    store_var {s_} 0 ja",
        f"{indent}    store_var {count} 0 ja",
        f"{indent}    copy_var {elapsed} {t}",
        f"{indent}  endif",
        f"{indent}endif",
    ]


def _run_time(command: StepCommand) -> float:
    """Step time bound: the duration, shortened by time and (for CC) capacity limits."""
    run = command.duration_s
    for limit in command.limits:
        if limit.quantity == "time" and limit.op in (">", ">="):
            run = min(run, limit.value)
        if limit.quantity == "capacity" and command.technique == "cc" and command.current_A:
            run = min(run, abs(limit.value) / abs(command.current_A) * 3600.0)
    return run


def _header(mode: int, range_A: float, channel: int, extra_vars: tuple[str, ...] = ()) -> list[str]:
    lines = [f"var {name}" for name in ("p", "c", "t", "r", "k", *extra_vars)]
    lines += [
        "store_var r 0i ja",
        f"store_var k 0i {INDEX_TYPE}",
        f"set_pgstat_chan {channel}",
        f"set_pgstat_mode {mode}",
        "set_max_bandwidth 40",
        f"set_range ba {si(range_A)}",
        f"set_autoranging ba {si(range_A)} {si(range_A)}",
    ]
    return lines


def _package(*names: str, indent: str = "  ") -> list[str]:
    """Count the sample on the instrument, then send it with its number `k` last."""
    return [
        f"{indent}add_var k 1i",
        f"{indent}pck_start",
        *[f"{indent}  pck_add {n}" for n in (*names, "k")],
        f"{indent}pck_end",
    ]


_TAIL = ["pck_start", "  pck_add r", "  pck_add k", "pck_end", "on_finished:", "  cell_off"]


def build_script(command: StepCommand, channel: int = 0) -> list[str]:
    """The MethodSCRIPT lines (without `e` and the closing empty line) for one step."""
    if command.sample_interval_s <= 0:
        raise InstrumentError("the sample interval must be positive")
    body = _BODIES.get(command.technique)
    if body is None:
        raise InstrumentError(f"the EmStat4 driver cannot run a {command.technique!r} step")
    return body(command, channel) + _TAIL


def _timed_loop(
    command: StepCommand,
    channel: int,
    mode: int,
    range_A: float,
    loop: str,
    recorded: tuple[str, ...],
    *,
    watched: set[str] | None = None,
    cell_on: bool = True,
) -> list[str]:
    """A step that is one measurement loop, ended by its time or by a limit on one of the
    `watched` variables (by default, all it records)."""
    lines = _header(mode, range_A, channel, _drift_vars(command.limits))
    available = set(recorded) if watched is None else watched
    lines += [
        *(["cell_on"] if cell_on else []),
        "timer_start",
        f"{loop} {si(command.sample_interval_s)} {si(_run_time(command))}",
        "  timer_get t",
        *_package("t", *recorded),
        *_limit_lines(command.limits, "  ", available, drift=True),
        "endloop",
    ]
    return lines


def _cc(command: StepCommand, channel: int) -> list[str]:
    range_A = current_range(command.current_A)
    loop = f"meas_loop_cp p c {si(command.current_A)}"
    return _timed_loop(command, channel, MODE_GALVANOSTATIC, range_A, loop, ("p", "c"))


def _cv(command: StepCommand, channel: int) -> list[str]:
    currents = (abs(lim.value) for lim in command.limits if "current" in lim.quantity)
    range_A = current_range(min(max(currents, default=1e-3) * 50, 0.1))
    loop = f"meas_loop_ca p c {si(command.voltage_V)}"
    # the potential is what it holds: only current limits end it
    return _timed_loop(
        command, channel, MODE_POTENTIOSTATIC, range_A, loop, ("p", "c"), watched={"c"}
    )


def _rest(command: StepCommand, channel: int) -> list[str]:
    loop = "meas_loop_ocp p"
    return _timed_loop(command, channel, MODE_POTENTIOSTATIC, 1e-3, loop, ("p",), cell_on=False)


def _pulse_train(command: StepCommand, channel: int) -> list[str]:
    if command.n_pulses < 1 or command.pulse_s <= 0 or command.relax_s < 0:
        raise InstrumentError("a pulse train needs at least one pulse of positive length")
    interval = si(command.sample_interval_s)
    relax_vars = _drift_vars(command.relax_limits, "y")
    extra = ("n", *(("ya", "ye", *relax_vars) if relax_vars else ()))
    lines = _header(MODE_GALVANOSTATIC, current_range(command.current_A), channel, extra)
    lines += [
        "store_var n 0i ja",
        "timer_start",
        f"loop n < {command.n_pulses}i",
        "  cell_on",
        f"  meas_loop_cp p c {si(command.current_A)} {interval} {si(command.pulse_s)}",
        "    timer_get t",
        *_package("t", "p", "c", "n", indent="    "),
        *_limit_lines(command.limits, "    ", {"p", "c"}),
        "  endloop",
        "  if r > 0i",
        "    breakloop",
        "  endif",
        "  cell_off",
        *(["  timer_get ya", *_drift_reset(command.relax_limits, "  ", "y")] if relax_vars else []),
        f"  meas_loop_ocp p {interval} {si(command.relax_s)}",
        "    timer_get t",
        *_package("t", "p", "n", indent="    "),
        *_relax_lines(command),
        "  endloop",
        "  add_var n 1i",
        "endloop",
    ]
    return lines


def _relax_lines(command: StepCommand) -> list[str]:
    """End one relaxation of a pulse train early (its dV_dt limits); the train goes on."""
    lines: list[str] = []
    for number, limit in enumerate(command.relax_limits, start=1):
        if limit.quantity != "dV_dt":
            raise InstrumentError(
                f"a pulse train's relaxation can end on |dV/dt| only, not on {limit.quantity}"
            )
        if not lines:
            lines = ["    copy_var t ye", "    sub_var ye ya"]
        lines += _drift_lines(
            limit,
            number,
            "    ",
            ["breakloop"],
            prefix="y",
            elapsed="ye",
        )
    return lines


def _impedance(command: StepCommand, channel: int) -> list[str]:
    decades = abs(math.log10(command.f_start_Hz / command.f_end_Hz))
    n_points = max(2, round(decades * command.points_per_decade) + 1)
    galvanostatic = command.technique == "geis"
    amplitude = command.amplitude
    lines = _header(
        MODE_GALVANOSTATIC if galvanostatic else MODE_POTENTIOSTATIC,
        current_range(abs(amplitude)) if galvanostatic else 1e-2,
        channel,
        ("f", "zr", "zi", "e"),
    )
    if command.dc_bias is None and not galvanostatic:
        lines += ["meas_loop_ocp e 100m 1", "endloop"]  # measure OCV for the DC level
    else:
        lines += [f"store_var e {si(command.dc_bias or 0.0)} ja"]
    loop = "meas_loop_geis" if galvanostatic else "meas_loop_eis"
    lines += [
        "cell_on",
        f"{loop} f zr zi {si(amplitude)} {si(command.f_start_Hz)} "
        f"{si(command.f_end_Hz)} {n_points}i e",
        *_package("f", "zr", "zi"),
        "endloop",
    ]
    return lines


def _sweep(command: StepCommand, channel: int) -> list[str]:
    if len(command.sweep_vertices_V) < 2 or command.scan_rate_V_s <= 0:
        raise InstrumentError("a sweep needs a start, at least one vertex, and a scan rate")
    vertices = [si(v) for v in command.sweep_vertices_V]
    from_ocv = command.sweep_from_ocv
    if from_ocv:  # the OCV measured just before the sweep is its start (and its end)
        vertices[0] = "e"
        if len(vertices) > 2:
            vertices[-1] = "e"
    step = max(abs(command.scan_rate_V_s) * command.sample_interval_s, 1e-4)
    lines = _header(MODE_POTENTIOSTATIC, 1e-2, channel, ("e",) if from_ocv else ())
    if from_ocv:
        lines += ["meas_loop_ocp e 100m 1", "endloop"]
    lines += ["cell_on", "timer_start"]
    limits = _limit_lines(command.limits, "  ", {"p", "c"})
    segments = 0
    for _ in range(max(1, command.n_scans)):
        for begin, end in itertools.pairwise(vertices):
            segment = [
                f"meas_loop_lsv p c {begin} {end} {si(step)} {si(command.scan_rate_V_s)}",
                "  timer_get t",
                *_package("t", "p", "c"),
                *limits,
                "endloop",
            ]
            if segments and limits:  # a fired limit ends the whole sweep
                segment = ["if r == 0i", *(f"  {line}" for line in segment), "endif"]
            lines += segment
            segments += 1
    return lines


_BODIES: dict[str, Callable[[StepCommand, int], list[str]]] = {
    "cc": _cc,
    "rest": _rest,
    "cv": _cv,
    "pulse_train": _pulse_train,
    "eis": _impedance,
    "geis": _impedance,
    "sweep": _sweep,
}
