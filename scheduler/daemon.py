"""The headless daemon of one test bench: claims jobs, runs them, watches over them.

One asyncio task per running job drives a `Runner`. Around them:
- **claiming**: free slots take the next job that fits (priority, then FIFO), through the
  queue's atomic claim, so any number of daemons can share one database;
- **shared chambers**: a job that changes the temperature gets its chamber alone, or runs
  with its group (jobs submitted with the same group name), which waits together at each
  setpoint; no job ever changes the temperature under another job;
- **safety supervisor**: every chamber and pressure rig is read once per sample period; an
  over-temperature or a chamber fault makes every cell in that chamber safe, a lost stack
  pressure pauses that slot; each trip latches an alarm that an operator acknowledges;
- **operator requests** (pause, resume, cancel) made through the queue are carried out;
- **recovery**: after a crash, runs that were running are re-attached (a step still running
  on its instrument) or resumed at the interrupted step, under the bench's policy;
- **graceful stop** on SIGTERM/SIGINT: steps running on instrument firmware keep running,
  host-side steps are made safe, and the runs are marked interrupted for the next start.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from dataclasses import dataclass, field
from typing import Any

from protocols import steps as p
from scheduler import queue
from scheduler.bench import Bench
from scheduler.binding import bind_job
from scheduler.claim_policy import BenchView, RunningJob
from scheduler.errors import SchedulerError
from scheduler.instruments import InstrumentPool, SlotHardware, bench_clock, open_slot
from scheduler.jobs import ACTIVE, JobParams, JobState
from scheduler.kinds import kind_of
from scheduler.recovery import describe, resume_point
from scheduler.runner import ResumePoint, Runner, RunState
from scheduler.session import prepare_run

log = logging.getLogger("cellbench.daemon")

# Wall seconds between writes of a running slot's live state to the database (`status`
# reads it); steps starting and ending are written at once. Telemetry is not throttled.
SLOT_STATE_EVERY_S = 5.0

# How a run's status maps to the job's final state.
RUN_TO_JOB = {"completed": "completed", "failed": "failed", "safety": "failed", "aborted": "failed"}


@dataclass
class ActiveJob:
    """A job this daemon is running (or holding paused) on one slot."""

    job_id: int
    slot: str
    group: str | None = None
    changes_temperature: bool = False
    run_id: int | None = None
    runner: Runner | None = None
    task: asyncio.Task[None] | None = None
    hardware: SlotHardware | None = None
    on_device: bool = False
    last_published: float = 0.0
    progress_estimate_s: float | None = None
    state_written: float = 0.0
    slot_state: dict[str, Any] | None = None  # the latest live state not yet written
    slot_writer: asyncio.Task[None] | None = None  # writes it, off the event loop


@dataclass
class ChamberGroup:
    """Jobs that share one chamber's temperature schedule.

    Each member's temperature step waits until every member still running reaches its
    matching step; one of them then drives the chamber (with the soak), and all continue.
    """

    name: str
    members: set[int] = field(default_factory=set)
    _arrived: dict[int, set[int]] = field(default_factory=dict)
    _done: dict[int, asyncio.Future[float]] = field(default_factory=dict)
    _counts: dict[int, int] = field(default_factory=dict)

    def leave(self, job_id: int) -> None:
        self.members.discard(job_id)
        for number in list(self._arrived):
            self._maybe_release(number)

    def _maybe_release(self, number: int) -> None:
        arrived = self._arrived.get(number, set())
        future = self._done.get(number)
        if future is not None and not future.done() and self.members <= arrived:
            future.set_result(0.0)

    async def wait_turn(self, job_id: int) -> int:
        """Arrive at this member's next temperature step; returns the step's number."""
        number = self._counts.get(job_id, 0)
        self._counts[job_id] = number + 1
        loop = asyncio.get_running_loop()
        self._arrived.setdefault(number, set()).add(job_id)
        future = self._done.setdefault(number, loop.create_future())
        self._maybe_release(number)
        await asyncio.shield(future)
        return number


class GroupEnvironment:
    """A member's view of its slot environment inside a chamber group."""

    def __init__(self, own: Any, group: ChamberGroup, job_id: int, leaders: dict) -> None:
        self.own = own
        self.group = group
        self.job_id = job_id
        self._leaders = leaders  # step number -> task doing the chamber step, shared

    @property
    def temperature_degC(self) -> float:
        return self.own.temperature_degC

    @property
    def pressure_MPa(self) -> float:
        return self.own.pressure_MPa

    async def refresh(self) -> None:
        await self.own.refresh()

    async def apply(self, step: Any) -> float:
        if not isinstance(step, p.SetTemperature):
            return await self.own.apply(step)
        started = self.own.clock.now()
        number = await self.group.wait_turn(self.job_id)
        task = self._leaders.get(number)
        if task is None:  # the first member through drives the chamber for everyone
            task = asyncio.ensure_future(self.own.apply(step))
            self._leaders[number] = task
        await asyncio.shield(task)
        await self.own.refresh()  # the shared chamber, read through this slot's environment
        return self.own.clock.now() - started


class Daemon:
    """Runs the queue of one bench until asked to stop."""

    def __init__(
        self,
        bench: Bench,
        store: Any,
        *,
        daemon_id: str | None = None,
        telemetry: Any = None,
        poll_s: float | None = None,
    ) -> None:
        self.bench = bench
        self.store = store
        self.name = bench.name
        self.daemon_id = daemon_id or f"{socket.gethostname()}/{bench.name}/{os.getpid()}"
        self.telemetry = telemetry
        self.clock = bench_clock(bench)
        self.pool = InstrumentPool(bench, clock=self.clock)
        self.sample_period_s = bench.bench.sample_period_s
        self.poll_s = poll_s if poll_s is not None else min(1.0, self.sample_period_s)
        self.active: dict[str, ActiveJob] = {}
        self.groups: dict[str, ChamberGroup] = {}
        self._group_leaders: dict[str, dict[int, asyncio.Task[float]]] = {}
        self.reaction_times_s: list[float] = []
        self._stop = asyncio.Event()
        self._started = time.time()
        self._watchers: list[asyncio.Task[None]] = []

    # -- lifecycle --------------------------------------------------------------------------
    def request_stop(self) -> None:
        """Ask for a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    async def run(self) -> None:
        """Recover, then claim and run jobs until `request_stop`."""
        log.info("daemon starting", extra={"bench": self.name, "daemon": self.daemon_id})
        if self.telemetry is not None:
            await self.telemetry.start()
            self.telemetry.on_control(self._on_control)
        self._publish_status("online")
        try:
            await self._recover()
            self._start_watchers()
            while not self._stop.is_set():
                await self._tick()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), self.poll_s)
        finally:
            await self._shutdown()

    def health(self) -> dict[str, Any]:
        """What `status` and telemetry report about this daemon."""
        data: dict[str, Any] = {
            "daemon": self.daemon_id,
            "bench": self.name,
            "uptime_s": time.time() - self._started,
            "running": {slot: job.job_id for slot, job in self.active.items()},
            "reaction_times_s": self.reaction_times_s[-10:],
        }
        if self.telemetry is not None:
            data["telemetry"] = self.telemetry.health()
        return data

    def _publish_status(self, state: str) -> None:
        if self.telemetry is not None:
            self.telemetry.status(
                state, **{k: v for k, v in self.health().items() if k != "telemetry"}
            )

    async def _shutdown(self) -> None:
        for task in self._watchers:
            task.cancel()
        for task in self._watchers:
            with contextlib.suppress(BaseException):
                await task
        for job in list(self.active.values()):
            await self._detach_or_stop(job)
        await self.pool.close()
        self._publish_status("offline")
        if self.telemetry is not None:
            await self.telemetry.stop()
        log.info("daemon stopped", extra={"bench": self.name})

    async def _detach_or_stop(self, job: ActiveJob) -> None:
        """On a graceful stop: leave on-device steps running, stop host-side ones safely."""
        runner, task = job.runner, job.task
        if runner is None or task is None or task.done():
            return
        in_device_step = (
            job.on_device
            and runner.state.step is not None
            and not isinstance(runner.state.step, p.SetTemperature | p.SetPressure)
        )
        if in_device_step:
            runner.detach()
        else:
            await runner.interrupt("interrupted", "the daemon stopped")
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(SchedulerError):
            queue.interrupt(self.store, job.job_id, by=self.daemon_id, note="daemon stopped")
        if job.run_id is not None:
            self.store.set_run_status(job.run_id, "interrupted", "the daemon stopped")
        self.store.add_event(
            "interrupted",
            f"job {job.job_id} on slot {job.slot}: the daemon stopped"
            + ("; its step keeps running on the instrument" if in_device_step else ""),
            run_id=job.run_id,
            bench=self.name,
            slot=job.slot,
        )

    # -- the loop ---------------------------------------------------------------------------
    async def _tick(self) -> None:
        await self._carry_out_requests()
        await self._resume_acknowledged()
        await self._claim()
        self._publish_status("online")

    def _alarmed_slots(self) -> set[str]:
        return {a.slot for a in self.store.active_alarms(self.name) if a.slot}

    def _owns(self, slot: str | None) -> bool:
        """Is `slot` one of this daemon's? Daemons may share a bench name, each with a part
        of its slots; a job on a slot of another part is never this daemon's to touch."""
        return slot is not None and any(s.name == slot for s in self.bench.slots)

    def _chamber_of(self, slot: str) -> str | None:
        return self.bench.slot(slot).chamber

    async def _claim(self) -> None:
        alarmed = self._alarmed_slots()
        free = [
            s.name for s in self.bench.slots if s.name not in self.active and s.name not in alarmed
        ]
        if not free:
            return
        view = BenchView(
            free=free,
            chamber_of={s.name: s.chamber for s in self.bench.slots},
            running=[
                RunningJob(job.slot, job.group, job.changes_temperature)
                for job in self.active.values()
            ],
        )
        claimed, groups = await asyncio.to_thread(
            queue.claim_jobs, self.store, view, bench_name=self.name, daemon_id=self.daemon_id
        )
        for job, slot in claimed:
            self._launch(job, slot, resume=None)
        for group, members in groups.items():
            await self._start_group(group, members)

    async def _start_group(self, name: str, members: list[tuple[Any, str]]) -> None:
        """Start a temperature group only when all its queued members can start together."""
        queued = await asyncio.to_thread(self.store.list_jobs, ["queued"], bench=self.name)
        expected = [j for j in queued if JobParams.of(j).group == name]
        if len(expected) != len(members):
            return  # some member cannot start yet; the group waits as a whole
        group = self.groups.setdefault(name, ChamberGroup(name))
        self._group_leaders.setdefault(name, {})
        for job, _ in members:
            group.members.add(job.id)
        for job, slot in members:
            if not await self._start_claimed(job, slot):
                group.leave(job.id)

    async def _start_claimed(self, job: Any, slot: str) -> bool:
        claimed = await asyncio.to_thread(
            queue.claim,
            self.store,
            job.id,
            slot=slot,
            bench_name=self.name,
            daemon_id=self.daemon_id,
        )
        if claimed is None:
            return False
        self._launch(claimed, slot, resume=None)
        return True

    def _launch(
        self, job: Any, slot: str, *, resume: ResumePoint | None, run_id: int | None = None
    ) -> None:
        params = JobParams.of(job)
        active = ActiveJob(
            job.id,
            slot,
            group=params.group,
            changes_temperature=params.changes_temperature,
            run_id=run_id,
        )
        self.active[slot] = active
        active.task = asyncio.create_task(self._run_job(active, job, resume))
        log.info("job started", extra={"job": job.id, "slot": slot, "resume": resume is not None})

    async def _run_job(self, active: ActiveJob, job: Any, resume: ResumePoint | None) -> None:
        status, message = "failed", ""
        try:
            hardware = await open_slot(self.bench, active.slot, pool=self.pool, clock=self.clock)
            active.hardware = hardware
            capabilities = await hardware.potentiostat.capabilities()
            active.on_device = bool(capabilities.on_device_limits)
            environment: Any = hardware.environment
            if active.group is not None and active.changes_temperature:
                environment = GroupEnvironment(
                    environment,
                    self.groups.setdefault(active.group, ChamberGroup(active.group)),
                    job.id,
                    self._group_leaders.setdefault(active.group, {}),
                )
            runner = await self._prepare_runner(active, job, hardware, environment, resume)
            result = await runner.run(resume)
            status, message = result.status, result.message
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure ends in the job's state and an event
            status, message = "failed", str(exc)
            log.error("job failed", extra={"job": job.id, "slot": active.slot, "error": str(exc)})
            self.store.add_event(
                "job",
                f"job {job.id} on slot {active.slot} failed: {exc}",
                run_id=active.run_id,
                severity="error",
                bench=self.name,
                slot=active.slot,
            )
        finally:
            if not self._detaching(active):
                await self._finish_job(active, status, message)

    def _detaching(self, active: ActiveJob) -> bool:
        return active.runner is not None and active.runner.detached

    async def _prepare_runner(
        self,
        active: ActiveJob,
        job: Any,
        hardware: SlotHardware,
        environment: Any,
        resume: ResumePoint | None,
    ) -> Runner:
        binding = await asyncio.to_thread(bind_job, self.store, job)
        progress = self._progress(active)
        if resume is None:
            run_id, runner = await prepare_run(
                self.store,
                binding,
                hardware.potentiostat,
                slot=active.slot,
                bench=self.name,
                bench_text=self.bench.source_text,
                progress=progress,
                environment=environment,
                job_id=job.id,
            )
        else:
            assert active.run_id is not None
            run_id = active.run_id
            runner = Runner(
                binding.plan,
                hardware.potentiostat,
                self.store,
                run_id,
                one_c_A=binding.one_c_A,
                progress=progress,
                environment=environment,
            )
            self.store.set_run_status(run_id, "running", "resumed")
        active.run_id, active.runner = run_id, runner
        runner.extra_safety = [_hard_limits(self.bench.slot(active.slot).limits)]
        runner.progress_every_s = self.sample_period_s
        active.progress_estimate_s = JobParams.of(job).estimate.typical_s
        self.store.upsert_slot_state(
            self.name, active.slot, state="running", job_id=job.id, run_id=run_id, message=""
        )
        return runner

    async def _finish_job(self, active: ActiveJob, status: str, message: str) -> None:
        self.active.pop(active.slot, None)
        if active.slot_writer is not None:  # the live state goes first, the final one last
            with contextlib.suppress(Exception):
                await active.slot_writer
        if active.group is not None and active.group in self.groups:
            self.groups[active.group].leave(active.job_id)
        if active.hardware is not None:
            with contextlib.suppress(Exception):
                await active.hardware.close()
        job_state = self.store.get_job(active.job_id).state
        try:
            if status == "paused":
                queue.confirm(self.store, active.job_id, by=self.daemon_id, note=message)
            elif status == "cancelled":
                queue.confirm(self.store, active.job_id, by=self.daemon_id, note=message)
            elif status == "interrupted":
                queue.interrupt(self.store, active.job_id, by=self.daemon_id, note=message)
            else:
                final = RUN_TO_JOB.get(status, "failed")
                queue.finish(self.store, active.job_id, final, by=self.daemon_id, note=message)
        except SchedulerError as exc:
            log.warning(
                "job state not updated",
                extra={"job": active.job_id, "from": job_state, "error": str(exc)},
            )
        self.store.upsert_slot_state(
            self.name,
            active.slot,
            state="idle" if status != "paused" else "paused",
            job_id=active.job_id,
            run_id=active.run_id,
            message=f"{status}: {message}".strip(": "),
        )
        if self.telemetry is not None:
            self.telemetry.slot_state(active.slot, state=status, job=active.job_id, message=message)
            self.telemetry.event("job", f"job {active.job_id} {status}", slot=active.slot)
        log.info("job ended", extra={"job": active.job_id, "slot": active.slot, "status": status})

    def _progress(self, active: ActiveJob) -> Any:
        def publish(event: str, state: RunState) -> None:
            now = time.monotonic()
            if event == "sample" and now - active.last_published < self.sample_period_s:
                return
            active.last_published = now
            step = state.step
            fields = {
                "job": active.job_id,
                "run": active.run_id,
                "cycle": state.cycle,
                "step": state.step_count,
                "step_label": (step.label or step.kind) if step else "",
                "voltage_V": state.voltage_V,
                "current_A": state.current_A,
                "test_time_s": state.test_time_s,
                "record_index": state.record_index,
            }
            if self.telemetry is not None:
                self.telemetry.sample(active.slot, **fields)
                if event != "sample":
                    self.telemetry.slot_state(active.slot, state="running", **fields)
            if event == "sample" and now - active.state_written < SLOT_STATE_EVERY_S:
                return  # telemetry is live; the stored slot state may trail it a little
            active.state_written = now
            total = active.progress_estimate_s
            progress = min(1.0, state.test_time_s / total) if total else None
            active.slot_state = dict(
                state="running",
                job_id=active.job_id,
                run_id=active.run_id,
                step_index=step.index if step else None,
                step_label=fields["step_label"],
                cycle=state.cycle,
                voltage_V=state.voltage_V,
                current_A=state.current_A,
                progress=progress,
                remaining_s=(total - state.test_time_s) if total else None,
            )
            if active.slot_writer is None or active.slot_writer.done():
                active.slot_writer = asyncio.ensure_future(self._write_slot_state(active))

        return publish

    async def _write_slot_state(self, active: ActiveJob) -> None:
        """Write a slot's latest live state in a worker thread, never on the event loop (a
        database write can wait for a lock); states that arrive meanwhile are coalesced."""
        while (fields := active.slot_state) is not None:
            active.slot_state = None
            with contextlib.suppress(Exception):
                await asyncio.to_thread(
                    self.store.upsert_slot_state, self.name, active.slot, **fields
                )

    # -- operator requests ------------------------------------------------------------------
    async def _carry_out_requests(self) -> None:
        for active in list(self.active.values()):
            if active.runner is None:
                continue
            state = (await asyncio.to_thread(self.store.get_job, active.job_id)).state
            if state == "cancelling":
                await active.runner.interrupt("cancelled", "cancelled by the operator")
            elif state == "pausing":
                await active.runner.interrupt("paused", "paused by the operator")

    async def _resume_acknowledged(self) -> None:
        """Resume jobs an operator asked to resume, once no alarm blocks their slot."""
        alarmed = self._alarmed_slots()
        for job in await asyncio.to_thread(self.store.list_jobs, ["resuming"], bench=self.name):
            if not self._owns(job.slot) or job.slot in self.active or job.slot in alarmed:
                continue
            await self._resume(job)

    async def _resume(self, job: Any) -> None:
        run = self._latest_run(job.id)
        if run is None:
            queue.recover(self.store, job.id, by=self.daemon_id, to="queued", note="no run yet")
            return
        capabilities = _static_on_device(self.bench, job.slot)
        try:
            point = resume_point(self.store, run.id, can_attach=capabilities)
        except SchedulerError as exc:
            queue.finish(self.store, job.id, "failed", by=self.daemon_id, note=str(exc))
            return
        if job.state == "interrupted":
            queue.recover(self.store, job.id, by=self.daemon_id, to="running", note="resumed")
        elif job.state == "resuming":
            queue.confirm(self.store, job.id, by=self.daemon_id, note="resumed")
        self.store.add_event(
            "resumed", describe(point), run_id=run.id, bench=self.name, slot=job.slot
        )
        self._launch(self.store.get_job(job.id), job.slot, resume=point, run_id=run.id)

    def _latest_run(self, job_id: int) -> Any | None:
        runs = [r for r in self.store.list_runs() if r.job_id == job_id]
        return max(runs, key=lambda r: r.id) if runs else None

    def _on_control(self, command: Any) -> None:
        """MQTT control (only when configured with authentication)."""
        actions = {"pause": queue.pause, "resume": queue.resume, "cancel": queue.cancel}
        if command.command == "ack":
            queue.ack(self.store, "all", by=command.by, bench=self.name)
        elif command.command in actions and command.job is not None:
            actions[command.command](self.store, command.job, by=command.by)

    # -- recovery ---------------------------------------------------------------------------
    async def _recover(self) -> None:
        """Find this bench's jobs that were running when the daemon went away."""
        states = [*ACTIVE, JobState.INTERRUPTED]
        jobs = await asyncio.to_thread(self.store.list_jobs, states, bench=self.name)
        for job in jobs:
            if not self._owns(job.slot) or job.slot in self.active:
                continue  # another daemon's slot of a bench shared by several daemons
            run = self._latest_run(job.id)
            crashed = job.state != "interrupted"
            message = (
                f"job {job.id} on slot {job.slot} was running when the daemon "
                f"{'went away' if crashed else 'stopped'}"
            )
            if crashed:
                queue.interrupt(self.store, job.id, by=self.daemon_id, note="found after a crash")
                if run is not None:
                    self.store.set_run_status(run.id, "interrupted", "daemon crash")
            self.store.add_event(
                "interrupted",
                message,
                run_id=run.id if run else None,
                bench=self.name,
                slot=job.slot,
                severity="warning",
            )
            if job.state == "paused":
                continue
            if self.bench.bench.recovery == "auto":
                await self._resume(self.store.get_job(job.id))
            else:
                self.store.add_event(
                    "recovery",
                    f"{message}; acknowledge the alarm and resume job {job.id} to continue",
                    run_id=run.id if run else None,
                    severity="alarm",
                    bench=self.name,
                    slot=job.slot,
                )

    # -- safety supervisor ------------------------------------------------------------------
    def _start_watchers(self) -> None:
        for name, config in self.bench.instruments.items():
            role = kind_of(config).role
            if role == "chamber":
                self._watchers.append(asyncio.create_task(self._watch_chamber(name)))
            elif role == "rig":
                self._watchers.append(asyncio.create_task(self._watch_rig(name)))

    def _slots_with(self, role: str, name: str) -> list[str]:
        return [s.name for s in self.bench.slots if getattr(s, role) == name]

    async def _watch_chamber(self, name: str) -> None:
        slots = self._slots_with("chamber", name)
        limits = [self.bench.slot(s).limits.temperature_max_degC for s in slots]
        limit = min((v for v in limits if v is not None), default=None)
        chamber = await self.pool.acquire(name)
        try:
            while True:
                started = time.monotonic()
                tripped = False
                try:
                    reading = await chamber.read()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    tripped = await self._trip(
                        slots, "paused", f"chamber {name} failed: {exc}", kind="chamber"
                    )
                else:
                    hot = _protocol_limit(self, slots, "temperature_max_degC")
                    ceiling = min(v for v in (limit, hot, float("inf")) if v is not None)
                    if reading.process_degC > ceiling:
                        tripped = await self._trip(
                            slots,
                            "safety",
                            f"chamber {name} reads {reading.process_degC:.1f} °C, above the "
                            f"{ceiling:g} °C limit of its slots",
                            kind="over-temperature",
                        )
                if tripped:
                    log.warning("chamber interlock tripped", extra={"chamber": name})
                await asyncio.sleep(max(0.0, self.sample_period_s - (time.monotonic() - started)))
        finally:
            await self.pool.release(name)

    async def _watch_rig(self, name: str) -> None:
        slots = self._slots_with("rig", name)
        rig = await self.pool.acquire(name)
        try:
            while True:
                started = time.monotonic()
                try:
                    await rig.read()  # raises the rig's latched fault (leak, lost force, …)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    await self._trip(
                        slots, "paused", f"stack pressure lost on {name}: {exc}", kind="pressure"
                    )
                await asyncio.sleep(max(0.0, self.sample_period_s - (time.monotonic() - started)))
        finally:
            await self.pool.release(name)

    async def _trip(self, slots: list[str], status: str, message: str, *, kind: str) -> bool:
        """Make every running cell of `slots` safe at once, then latch one alarm per slot.

        Returns False when the slots already carry an unacknowledged alarm (no re-trip).
        """
        detected = time.monotonic()
        alarmed = self._alarmed_slots()
        fresh = [s for s in slots if s not in alarmed]
        if not fresh:
            return False
        targets = [self.active[s] for s in fresh if s in self.active and self.active[s].runner]
        await asyncio.gather(
            *(job.runner.interrupt(status, message) for job in targets if job.runner),
            return_exceptions=True,
        )
        reaction = time.monotonic() - detected
        if targets:
            self.reaction_times_s.append(reaction)
        for slot in fresh:
            job = self.active.get(slot)
            self.store.add_event(
                kind,
                f"slot {slot}: {message}",
                run_id=job.run_id if job else None,
                severity="alarm",
                bench=self.name,
                slot=slot,
                data={"reaction_s": reaction if job else None, "action": status},
            )
            if self.telemetry is not None:
                self.telemetry.event(
                    kind, f"slot {slot}: {message}", slot=slot, reaction_s=reaction
                )
        return True


def _hard_limits(limits: Any) -> p.Safety:
    """A slot's hard limits as a Safety the runner checks on every sample."""
    pressure_max = getattr(limits, "pressure_max_MPa", None)
    return p.Safety(
        voltage_min_V=getattr(limits, "voltage_min_V", None),
        voltage_max_V=getattr(limits, "voltage_max_V", None),
        abs_current_max_A=getattr(limits, "abs_current_max_A", None),
        temperature_max_degC=getattr(limits, "temperature_max_degC", None),
        pressure_max_Pa=pressure_max * 1e6 if pressure_max is not None else None,
    )


def _protocol_limit(daemon: Daemon, slots: list[str], name: str) -> float | None:
    """The tightest protocol safety limit `name` among the jobs running on `slots`."""
    values = []
    for slot in slots:
        job = daemon.active.get(slot)
        if job is not None and job.runner is not None:
            value = getattr(job.runner.plan.safety, name, None)
            if value is not None:
                values.append(value)
    return min(values) if values else None


def _static_on_device(bench: Bench, slot: str) -> bool:
    config = bench.instrument(bench.slot(slot).potentiostat)
    capabilities = kind_of(config).capabilities_for(config)
    return capabilities.on_device_limits and capabilities.can_reattach
