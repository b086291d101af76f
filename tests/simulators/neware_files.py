"""Step files written by hand from the documented format (reference/protocols.md), so that the
simulator's tests do not depend on cellbench's own translator."""

from __future__ import annotations

from pathlib import Path


def step(step_id: int, step_type: int, main: str = "", other: str = "", record: str = "") -> str:
    limit = f"<Limit><Main>{main}</Main>{f'<Other>{other}</Other>' if other else ''}</Limit>"
    head = f'Step_ID="{step_id}" Step_Type="{step_type}"'
    return f"<Step{step_id} {head}>{limit}{record}</Step{step_id}>"


def value(tag: str, number: float) -> str:
    return f'<{tag} Value="{number:f}"/>'


def step_file(
    steps: list[str], *, record_ms: float = 10_000, protect: str = "", path: Path | None = None
) -> str:
    text = (
        '<?xml version="1.0" encoding="UTF-8"?><root><config type="Step File" version="17">'
        '<Head_Info><Start_Step Value="1" Hide_Ctrl_Step="0"/></Head_Info>'
        f"<Whole_Prt><Protect><Main>{protect}</Main></Protect>"
        f"<Record><Main>{value('Time', record_ms)}</Main></Record></Whole_Prt>"
        f'<Step_Info Num="{len(steps)}">{"".join(steps)}</Step_Info></config></root>'
    )
    if path is not None:
        path.write_text(text, encoding="utf-8")
    return text


def cycling(current_mA: float, cycles: int, v_max: float = 4.3, v_min: float = 3.0) -> list[str]:
    """Rest 10 min; CC charge to v_max; rest; CC discharge to v_min; rest; cycle; end."""
    rest = value("Time", 600_000)
    return [
        step(1, 4, rest),
        step(2, 1, value("Curr", current_mA) + value("Stop_Volt", v_max * 1e4)),
        step(3, 4, rest),
        step(4, 2, value("Curr", current_mA) + value("Stop_Volt", v_min * 1e4)),
        step(5, 4, rest),
        step(6, 5, other=value("Start_Step", 2) + value("Cycle_Count", cycles)),
        step(7, 6),
    ]
