import sys
from pathlib import Path

# The helpers for starting simulator and daemon processes.
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
