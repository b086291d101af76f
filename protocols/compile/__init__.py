"""Protocol file → Plan: parameters substituted, ladders expanded, units resolved, checks run.

The same compiler runs at load time without a cell (to check the file) and at bind time with
one (to resolve C-rates into amperes). Its parts, in the order they run:

- `quantities`: what 1C is (`c_rate_basis` or the cell's), and values in SI units
- `safety`: the safety block, setpoints checked against it, what a protocol must state
- `blocks`: step lists, tags, loops, repeat and for_each ladders
- `steps` and `handlers/`: one step's fields, by step type
- `limits`: end conditions, as rule tables per quantity
- `finish`: goto targets, loop exits, the step objects

`report` holds where things are and the problems found; `state` what one compile builds up.
"""

from protocols.compile.build import compile_plan
from protocols.compile.report import Included
from protocols.compile.state import Source

__all__ = ["Included", "Source", "compile_plan"]
