"""Steps at open circuit, and the cycle counter: rest (ocv), wait, advance_cycle."""

from __future__ import annotations

from protocols import schema as S
from protocols import steps as P
from protocols.compile.report import Where
from protocols.compile.state import Compilation, Proto


def rest(c: Compilation, b: S.RestBody, w: Where) -> Proto:
    return Proto(P.Rest, {}, [], w, "rest")


def wait(c: Compilation, b: S.WaitBody, w: Where) -> Proto:
    return Proto(P.Wait, {"_setpoint_text": "wait"}, [], w, "wait")


def advance_cycle(c: Compilation, b: S.AdvanceCycleBody, w: Where) -> Proto:
    return Proto(P.AdvanceCycle, {"_setpoint_text": "advance cycle"}, [], w, "advance_cycle")
