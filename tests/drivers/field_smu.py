"""The one-SMU bench the field's own Keithley 2450 drivers are tested on, and the cell's
resistance they must measure."""

from __future__ import annotations

from simulators.cell import Cell, load_preset

PRESET = "gao2025-dfncm-llzo"
BENCH = f"""
[bench]
name = "field-smu"

[instruments.smu]
kind = "keithley2450"
endpoint = "TCPIP0::127.0.0.1::0::SOCKET"

[[slots]]
name = "S1"
potentiostat = "smu"

[simulation]
time_scale = 1.0
[simulation.cells]
S1 = {{ preset = "{PRESET}", soc = 0.5 }}
"""
PROBE_A = 3e-4  # small against the exchange current (~1 mA): the response is linear


def cell_resistance_ohm() -> float:
    """Series + contact + film + charge-transfer resistance of the preset's cell at SOC 0.5."""
    truth = Cell(load_preset(PRESET), soc=0.5).truth()
    return truth["Rs_ohm"] + truth["R_contact_ohm"] + truth["R_film_ohm"] + truth["Rct_ohm"]
