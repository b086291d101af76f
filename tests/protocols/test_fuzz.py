"""Random documents never make the loader raise anything but ProtocolError."""

from __future__ import annotations

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import protocols as P
from protocols.compile.limits import LIMIT_NAMES
from protocols.estimate import estimate
from protocols.schema import STEP_TYPES

WORDS = st.sampled_from(
    [
        *STEP_TYPES,
        *LIMIT_NAMES,
        "name",
        "steps",
        "safety",
        "until",
        "duration",
        "rate",
        "current",
        "direction",
        "charge",
        "discharge",
        "voltage",
        "times",
        "over",
        "loop_to",
        "count",
        "goto",
        "action",
        "end_loop",
        "tag",
        "parameters",
        "${x}",
        "${rate}",
        "record",
        "dt",
        "voltage_max",
        "voltage_min",
        "abs_current_max",
        "f_start",
        "f_end",
        "amplitude",
        "vertices",
        "scan_rate",
        "target",
        "pybamm",
    ]
)
QUANTITIES = st.sampled_from(
    [
        "0.5C",
        "C/10",
        "4.3 V",
        "4.3 V vs Li/Li+",
        "3 V vs Li-In",
        "10 min",
        "1 h",
        "-1 s",
        "0 s",
        "1 mA",
        "20 mA/g",
        "1 mA/cm2",
        "1 mV/h",
        "60 degC",
        "15 MPa",
        "7 MHz",
        "10 mHz",
        ">= 4.2 V",
        "<= 3.0 V",
        "< C/50",
        "1e999 V",
        "nan V",
        "5 blargs",
        "m**9**9",
        "Discharge at 1C until 3 V",
        "Rest for 1 hour",
        "Hold at 4.2 V until C/50",
        "${x}",
        "ocv",
        "",
    ]
)
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**6), 10**6),
    st.floats(allow_nan=True),
    st.text(max_size=20),
    QUANTITIES,
    WORDS,
)
DOCS = st.recursive(
    SCALARS,
    lambda inner: st.one_of(st.lists(inner, max_size=5), st.dictionaries(WORDS, inner, max_size=5)),
    max_leaves=40,
)


def load_or_protocol_error(data: str | bytes) -> None:
    try:
        proto = P.loads(data, source="fuzz.yaml")
    except P.ProtocolError as exc:
        assert exc.problems
        return
    try:
        plan = proto.bind(P.CapacityBasis.from_specific(0.01, 200.0, area_cm2=1.0))
    except P.ProtocolError:
        return
    estimate(plan)
    P.to_pybamm(plan)
    seq = P.Sequencer(plan)
    step = seq.next(None)
    for _ in range(50):
        if step is None:
            break
        from protocols.steps import StepOutcome

        step = seq.next(StepOutcome(fired=step.limits[0] if step.limits else None))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(DOCS)
def test_random_structures(doc):
    load_or_protocol_error(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(WORDS, DOCS, min_size=1, max_size=3), max_size=6), DOCS)
def test_random_protocol_shaped_documents(steps, safety):
    doc = {"name": "fuzz", "parameters": {"x": "0.5C"}, "safety": safety, "steps": steps}
    load_or_protocol_error(yaml.safe_dump(doc, allow_unicode=True))


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=300))
def test_random_bytes(data):
    load_or_protocol_error(data)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}[]:-,&*!|>'\"#%@` \n\tabc0.5CVh")), max_size=200))
def test_random_yaml_punctuation(text):
    load_or_protocol_error(text)
