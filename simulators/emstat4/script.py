"""Parse a MethodSCRIPT into a tree of commands, loops and conditionals.

Only the documented subset the simulator supports is accepted; anything else is a script
error with the line number, as the instrument reports it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

# Commands that take no block. Values are the allowed argument counts.
SIMPLE_COMMANDS: dict[str, tuple[int, ...]] = {
    "var": (1,),
    "array": (2,),
    "store_var": (3,),
    "copy_var": (2,),
    "add_var": (2,),
    "sub_var": (2,),
    "mul_var": (2,),
    "div_var": (2,),
    "set_pgstat_chan": (1,),
    "set_pgstat_mode": (1,),
    "set_max_bandwidth": (1,),
    "set_range": (2,),
    "set_autoranging": (3,),
    "set_range_minmax": (3,),
    "set_e": (1,),
    "set_i": (1,),
    "set_cr": (1,),
    "set_poly_wr_mode": (1,),
    "cell_on": (0,),
    "cell_off": (0,),
    "timer_start": (0,),
    "timer_get": (1,),
    "wait": (1,),
    "pck_start": (0,),
    "pck_add": (1,),
    "pck_end": (0,),
    "breakloop": (0,),
    "send_string": (1,),
    "set_script_output": (1,),
}

# Measurement loops: name -> number of arguments (see the manual's signatures).
MEAS_LOOPS: dict[str, int] = {
    "meas_loop_cp": 5,  # p c I_dc t_interval t_run
    "meas_loop_ca": 5,  # p c E_dc t_interval t_run
    "meas_loop_ocp": 3,  # p t_interval t_run
    "meas_loop_eis": 8,  # f zre zim amp f_start f_end n_points E_dc
    "meas_loop_geis": 8,  # f zre zim amp f_start f_end n_points I_dc
    "meas_loop_lsv": 6,  # p c E_begin E_end E_step scan_rate
}

COMPARISONS = ("<=", ">=", "==", "!=", "<", ">")


class ScriptError(Exception):
    """A script the instrument would reject; carries the MethodSCRIPT error code."""

    def __init__(self, code: int, line: int, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.line = line


# Error codes this simulator emits as `!XXXX`.
ERR_SCRIPT_UNKNOWN_CMD = 0x4003
ERR_SCRIPT_BAD_ARGS = 0x4004
ERR_SCRIPT_BAD_NESTING = 0x4005
ERR_SCRIPT_UNKNOWN_VAR = 0x4006
ERR_NOT_RUNNING = 0x0006
ERR_RANGE = 0x4010
ERR_MODE = 0x4011


@dataclass
class Command:
    name: str
    args: list[str]
    line: int


@dataclass
class Block:
    """A loop (plain or measurement) or an if-block with its body."""

    name: str  # "loop", "if", or a meas_loop_* name
    args: list[str]
    line: int
    body: list[Command | Block] = field(default_factory=list)
    orelse: list[Command | Block] = field(default_factory=list)


@dataclass
class Script:
    body: list[Command | Block]
    on_finished: list[Command | Block]


def _split(line: str) -> list[str]:
    """Split a script line on whitespace, keeping a quoted send_string argument whole."""
    stripped = line.strip()
    if stripped.startswith("send_string"):
        rest = stripped[len("send_string") :].strip()
        return ["send_string", rest.strip('"')]
    return stripped.split()


def parse(lines: list[str]) -> Script:
    """Parse script lines (without the leading `e` and trailing empty line)."""
    root: list[Command | Block] = []
    finished: list[Command | Block] = []
    stack: list[Block] = []
    target = root
    for number, raw in enumerate(lines, start=1):
        text = raw.split("#", 1)[0].strip()
        if not text:
            continue
        if text == "on_finished:":
            if stack:
                raise ScriptError(ERR_SCRIPT_BAD_NESTING, number, "on_finished inside a block")
            target = finished
            continue
        words = _split(text)
        name, args = words[0], words[1:]
        container = stack[-1].orelse if stack and stack[-1].name == "else" else None
        current = (stack[-1].body if stack else target) if container is None else container
        if name in MEAS_LOOPS:
            if len(args) != MEAS_LOOPS[name]:
                raise ScriptError(ERR_SCRIPT_BAD_ARGS, number, f"{name} takes {MEAS_LOOPS[name]}")
            block = Block(name, args, number)
            current.append(block)
            stack.append(block)
        elif name in ("loop", "if"):
            if len(args) != 3 or args[1] not in COMPARISONS:
                raise ScriptError(ERR_SCRIPT_BAD_ARGS, number, f"bad condition for {name}")
            block = Block(name, args, number)
            current.append(block)
            stack.append(block)
        elif name == "else":
            if not stack or stack[-1].name != "if":
                raise ScriptError(ERR_SCRIPT_BAD_NESTING, number, "else without if")
            stack[-1].name = "else"  # marks that following lines go to orelse
        elif name == "endloop":
            if not stack or stack[-1].name not in ("loop", *MEAS_LOOPS):
                raise ScriptError(ERR_SCRIPT_BAD_NESTING, number, "endloop without loop")
            stack.pop()
        elif name == "endif":
            if not stack or stack[-1].name not in ("if", "else"):
                raise ScriptError(ERR_SCRIPT_BAD_NESTING, number, "endif without if")
            stack[-1].name = "if"
            stack.pop()
        elif name in SIMPLE_COMMANDS:
            if len(args) not in SIMPLE_COMMANDS[name]:
                raise ScriptError(ERR_SCRIPT_BAD_ARGS, number, f"wrong arguments for {name}")
            current.append(Command(name, args, number))
        else:
            raise ScriptError(ERR_SCRIPT_UNKNOWN_CMD, number, f"unknown command {name!r}")
    if stack:
        raise ScriptError(ERR_SCRIPT_BAD_NESTING, stack[-1].line, f"{stack[-1].name} not closed")
    return Script(root, finished)
