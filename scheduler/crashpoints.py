"""Named points between the daemon's durable writes, where a test may kill the daemon.

Recovery has to be right after a crash at any moment; the moments that matter are the ones
between two bookkeeping writes (a step journaled but not started, a run finished but its job
not closed). Each such write is followed by `point(name, key)`. Normally that does nothing.
Two environment variables, read once when the process starts, make it kill the process
(SIGKILL, as the kernel would, with no cleanup) right after that write:

- `CELLBENCH_CRASH_AT=name` or `name@key`: at the first point of that name (and key);
- `CELLBENCH_CRASH_WALK=<file>`: at the first point whose `name@key` is not yet listed in
  the file, after appending it. Restarting the daemon with the same file until it no longer
  dies walks a crash over every point once (see tests/daemon/test_daemon_crash_points.py).

The key names the point within a run (which pass of which protocol step, a phase), so
every point of a protocol is a distinct entry of the walk, and a step that runs again after
a crash does not make new ones.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path

CRASH_AT = "CELLBENCH_CRASH_AT"
CRASH_WALK = "CELLBENCH_CRASH_WALK"


def _walked(path: str | None) -> set[str] | None:
    if not path:
        return None
    file = Path(path)
    return set(file.read_text().split()) if file.exists() else set()


_AT = os.environ.get(CRASH_AT) or None
_WALK_FILE = os.environ.get(CRASH_WALK) or None
_WALKED = _walked(_WALK_FILE)


def point(name: str, key: object = "", *, durable: bool = True) -> None:
    """A durable write named `name` (at `key`) has just committed; die here if asked to.

    `durable=False` names a moment that is no write (the walk passes it by; CRASH_AT may
    still name it)."""
    if _AT is None and _WALKED is None:
        return
    label = f"{name}@{key}" if key != "" else name
    if _AT is not None and _AT in (name, label):
        _die()
    if durable and _WALKED is not None and _WALK_FILE is not None and label not in _WALKED:
        with open(_WALK_FILE, "a") as walk:
            walk.write(label + "\n")
            walk.flush()
            os.fsync(walk.fileno())
        _die()


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)
