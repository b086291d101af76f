"""A sample writer process for the crash test: appends steadily and reports what it has.

Prints `ready <run_id>` once, then `A <appended> <acknowledged>` every 20 ms, until killed.
"""

from __future__ import annotations

import sys
import time

import numpy as np

from storage import open_store

BATCH = 500
DT = 0.001  # simulated seconds per sample

url = sys.argv[1]
rate = float(sys.argv[2])  # samples per wall second
store = open_store(url)
run_id = store.start_run(cell_id=None, protocol_id=None, slot="crash")
writer = store.open_writer(run_id, flush_interval_s=0.5)
print(f"ready {run_id}", flush=True)
appended = 0
start = time.monotonic()
last_report = 0.0
while True:
    due = int((time.monotonic() - start) * rate)
    while appended + BATCH <= due:
        idx = np.arange(appended, appended + BATCH)
        writer.append({"test_time_s": idx * DT, "voltage_V": 3.0 + idx * 1e-6, "current_A": 1e-3})
        appended += BATCH
    now = time.monotonic()
    if now - last_report >= 0.02:
        print(f"A {appended} {writer.acknowledged}", flush=True)
        last_report = now
    time.sleep(0.002)
