"""The EmStat4 package parser against packages encoded by hand from the manual's rules.

Each expected value is worked out here from the encoding rule (7 hex digits, offset 2**27,
SI prefix), independently of the simulator's encoder.
"""

import math

import pytest

from drivers.errors import InstrumentReplyError
from drivers.potentiostats.emstat4.packages import parse_package


def test_manual_example_value() -> None:
    # The manual's example: 0.01 is 10 milli -> mantissa 10 = 0x8000000 + 0xA.
    (value,) = parse_package("Pab800000Am")
    assert value.type_id == "ab"
    assert value.value == pytest.approx(0.010)


def test_potential_and_negative_current_with_metadata() -> None:
    # 3.7 V = 3700000 u -> 0x8000000 + 0x387520 = 0x8387520.
    # -1.7 mA = -1700000 n -> 0x8000000 - 0x19F0A0 = 0x7E60F60.
    line = "Pab8387520u;ba7E60F60n,12,207"
    potential, current = parse_package(line)
    assert potential.value == pytest.approx(3.7)
    assert potential.status == 0 and potential.range_index is None
    assert current.type_id == "ba"
    assert current.value == pytest.approx(-1.7e-3)
    assert current.status == 0x2  # overload bit
    assert current.range_index == 7


def test_nan_and_integer_and_unit_prefix() -> None:
    # '     nan' is NaN; 'i' marks an integer: 5 -> 0x8000005; ' ' prefix means units.
    time_value, nan_value, counter, plain = parse_package(
        "Peb8000E10m;ab     nan;ja8000005i;cc8000003 "
    )
    assert time_value.value == pytest.approx(3.6)  # 0xE10 = 3600 milliseconds
    assert math.isnan(nan_value.value)
    assert counter.value == 5
    assert plain.value == 3.0


def test_status_bits_combined_and_large_prefixes() -> None:
    # 1 kHz as 1 k: mantissa 1 -> 0x8000001k; status 0xD = timing|underload|warning.
    frequency, z_imag = parse_package("Pdc8000001k,1D;cd7FFFF9C ")
    assert frequency.value == pytest.approx(1000.0)
    assert frequency.status == 0xD
    assert z_imag.value == pytest.approx(-100.0)  # 0x7FFFF9C = 2**27 - 100


@pytest.mark.parametrize(
    "line",
    [
        "Xab800000Am",  # not a package
        "Pab80000Am",  # 6 digits
        "Pab800000Aq",  # unknown prefix
        "Pab8G0000Am",  # non-hex digit
        "Pab800000Am,1Z",  # bad status
        "P;",  # empty variables
    ],
)
def test_malformed_packages_are_clear_errors(line: str) -> None:
    with pytest.raises(InstrumentReplyError, match="EmStat4"):
        parse_package(line)
