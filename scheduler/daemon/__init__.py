"""The headless daemon of one test bench: claims jobs, runs them, watches over them.

One asyncio task per running job drives a `Runner`. Around them:
- **claiming** (`scheduler.claim_policy`): free slots take the next job that fits (priority,
  then FIFO), through the queue's atomic claim, so any number of daemons can share one
  database;
- **shared chambers** (`groups`): a job that changes the temperature gets its chamber alone,
  or runs with its group (jobs submitted with the same group name), which waits together at
  each setpoint; no job ever changes the temperature under another job;
- **safety supervisor** (`supervisor`): every chamber and pressure rig is read once per
  sample period; an over-temperature or a chamber fault makes every cell in that chamber
  safe, a lost stack pressure pauses that slot; each trip latches an alarm that an operator
  acknowledges;
- **operator requests** (pause, resume, cancel) made through the queue are carried out
  (`lifecycle`);
- **recovery** (`recovery`): after a crash, runs that were running are re-attached (a step
  still running on its instrument) or resumed at the interrupted step, under the bench's
  policy; a step whose end is journaled never runs again and a finished run closes its job.
  The journal's states, and what recovery does after a crash at each point between two
  durable writes, are written down in `journal` (and walked by a test that crashes the
  daemon at every one of them, `scheduler.crashpoints`);
- **graceful stop** on SIGTERM/SIGINT: steps running on instrument firmware keep running,
  host-side steps are made safe, and the runs are marked interrupted for the next start.
The database is reached only through `storage.AsyncStore`: the event loop never waits on it.
"""

from scheduler.daemon.lifecycle import Daemon

__all__ = ["Daemon"]
