"""The ranges of cell parameters the property tests draw: D, the Ea of charge transfer, Rct and
the specific capacity of any physically sensible cell (`@given(**CELL_PARAMETERS)`)."""

from __future__ import annotations

from hypothesis import strategies as st

CELL_PARAMETERS = {
    "d": st.floats(3e-9, 7e-8),
    "ea": st.floats(20.0, 60.0),
    "rct": st.floats(5.0, 200.0),
    "capacity": st.floats(150.0, 215.0),
}
