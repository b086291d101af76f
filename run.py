#!/usr/bin/env python3
"""Quick start for cellbench: `python3 run.py demo` or `python3 run.py test`.

Creates (or reuses) a project-local virtual environment in .venv, installs cellbench into
it, and runs the simulated demo or the whole test suite. Only Python 3.11+ is needed.
Extra arguments are passed on: `python3 run.py test -k emstat4`, `python3 run.py demo --json`.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent
VENV = ROOT / ".venv"
BIN = VENV / ("Scripts" if os.name == "nt" else "bin")
PYTHON = BIN / ("python.exe" if os.name == "nt" else "python")


def _stamp(extra: str) -> Path:
    return VENV / f".installed-{extra or 'base'}"


def _fingerprint() -> str:
    return hashlib.sha256((ROOT / "pyproject.toml").read_bytes()).hexdigest()


def ensure_venv(extra: str) -> None:
    """Create .venv and install cellbench (with `extra`) unless already up to date."""
    if sys.version_info < (3, 11):  # noqa: UP036 - run.py may be started by an older Python
        sys.exit(f"cellbench needs Python 3.11 or newer; this is {sys.version.split()[0]}.")
    if not PYTHON.exists():
        print(f"Creating a virtual environment in {VENV} ...", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    stamp = _stamp(extra)
    if stamp.exists() and stamp.read_text() == _fingerprint():
        return
    target = f".[{extra}]" if extra else "."
    print(f"Installing cellbench{'[' + extra + ']' if extra else ''} into .venv ...", flush=True)
    subprocess.run([str(PYTHON), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    subprocess.run(
        [str(PYTHON), "-m", "pip", "install", "--quiet", "-e", target], cwd=ROOT, check=True
    )
    stamp.write_text(_fingerprint())


def main(argv: list[str]) -> int:
    if not argv or argv[0] not in ("demo", "test"):
        print(__doc__.strip())
        return 2
    command, rest = argv[0], argv[1:]
    if command == "demo":
        ensure_venv("")
        return subprocess.call([str(BIN / "cellbench"), "demo", *rest], cwd=ROOT)
    ensure_venv("test")
    return subprocess.call([str(PYTHON), "-m", "pytest", *rest], cwd=ROOT)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
