"""Faults the simulated EmStat4 can be told to produce, and their `KIND[@N]` spelling.

Every scheduled fault fires when the instrument produces its (N+1)-th data package after
the fault was armed: N packages reach the host normally, then the fault happens (a short
or an open circuit hits the cell right after the N-th package, so the (N+1)-th sample is
the first one measured on the faulted cell). Counting
runs across steps, so `drop@500` in a protocol run drops the link wherever the 501st point
falls.

Connection drops come in two kinds, standing for different real situations:

- **clean**: everything the instrument sent before the drop reaches the host; everything it
  produces afterwards waits in its output buffer. This is the host closing the serial port
  and opening it again (a host restart, a driver reconnect, a TCP serial bridge that closes
  normally), or a USB re-enumeration that leaves the device's buffer intact.
- **abrupt**: the lines in flight when the link broke are lost (by default the next three
  the instrument produces, plus whatever sat unsent in the port's write buffer), then
  buffering resumes. This is a pulled cable or a crashed host: bytes already in the USB
  FIFO, the bridge or the host's tty buffer, not yet read by the driver, are gone.

`offline_s` keeps the port away after a drop (connections are refused), as when a USB
cable is out for a while; pty endpoints ignore it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from simulators.errors import SimulatorError

DropMode = Literal["clean", "abrupt"]

DEFAULT_AFTER = 20  # packages before a fault given without @N
DEFAULT_ERROR_CODE = 0x4010  # what `error@N` reports unless a code is given
UNPLUG_S = 2.0  # how long `unplug` keeps the port away


@dataclass
class Faults:
    """Faults a test (or `cellbench sim run --fault`) can inject; counters count packages."""

    corrupt_next: int = 0  # corrupt this many of the next data packages
    corrupt_after_packages: int | None = None  # corrupt one package after N more
    error_code: int | None = None  # the next script fails with this !code ...
    error_after_packages: int | None = None  # ... at once (None) or after N more packages
    drop_after_packages: int | None = None  # drop the connection after N more packages
    drop_mode: DropMode = "clean"
    lost_in_flight: int = 3  # lines an abrupt drop loses beyond the unsent write buffer
    offline_s: float = 0.0  # after a drop, refuse connections for this many wall seconds
    stall_after_packages: int | None = None  # stop answering after N more packages ...
    stall_s: float | None = None  # ... for this many wall seconds (None: until unstalled)
    short_after_packages: int | None = None  # short the cell after N more packages
    open_after_packages: int | None = None  # open the cell circuit after N more packages


@dataclass(frozen=True)
class FaultSpec:
    """One fault from the command line: `drop@500`, `stall`, `error=4006@30`."""

    kind: str
    after: int = DEFAULT_AFTER
    code: int = DEFAULT_ERROR_CODE

    def arm(self, simulator: Any) -> None:
        """Schedule this fault on a running `EmStat4Simulator`."""
        faults: Faults = simulator.faults
        n = self.after
        if self.kind in ("drop", "drop-abrupt", "unplug"):
            faults.drop_after_packages = n
            faults.drop_mode = "abrupt" if self.kind == "drop-abrupt" else "clean"
            faults.offline_s = UNPLUG_S if self.kind == "unplug" else 0.0
        elif self.kind == "stall":
            faults.stall_after_packages, faults.stall_s = n, None
        elif self.kind == "corrupt":
            faults.corrupt_after_packages = n
        elif self.kind == "error":
            faults.error_code, faults.error_after_packages = self.code, n
        elif self.kind == "short":
            if n == 0:
                simulator.cell.short()
            faults.short_after_packages = n or None
        elif self.kind == "open":
            if n == 0:
                simulator.cell.open()
            faults.open_after_packages = n or None


FAULT_KINDS = {
    "drop": "clean connection drop after N packages; the driver re-attaches, nothing lost",
    "drop-abrupt": "connection drop losing the lines in flight; the driver reports the gap",
    "unplug": f"clean drop with the port gone for {UNPLUG_S:g} s; re-attach with backoff",
    "stall": "the instrument stops answering for good after N packages",
    "corrupt": "the (N+1)-th data package arrives corrupted",
    "error": "the running script fails with an instrument error (error=XXXX sets the code)",
    "short": "the cell shorts after N packages",
    "open": "the cell circuit opens after N packages",
}
_SPEC = re.compile(r"^(?P<kind>[a-z-]+)(=(?P<code>[0-9A-Fa-f]{1,4}))?(@(?P<after>\d+))?$")


def parse_fault(text: str, names: Iterable[str] = FAULT_KINDS) -> FaultSpec:
    """`KIND[@N]` (and `error=XXXX[@N]`) → FaultSpec, or one sentence saying what is valid.

    `names` are the fault names accepted, for a caller that declares them itself."""
    accepted = tuple(names)
    found = _SPEC.match(text.strip())
    kinds = ", ".join(accepted)
    if not found or found["kind"] not in accepted:
        raise SimulatorError(
            f"--fault {text!r} is not KIND[@N] with KIND one of {kinds} "
            "(N = data packages before the fault, e.g. drop@500)"
        )
    if found["code"] and found["kind"] != "error":
        raise SimulatorError(f"--fault {text!r}: only 'error' takes a code (error=4006@30)")
    after = int(found["after"]) if found["after"] else DEFAULT_AFTER
    code = int(found["code"], 16) if found["code"] else DEFAULT_ERROR_CODE
    return FaultSpec(found["kind"], after, code)
