"""The daemon's job lifecycle: claim, start, run, carry out operator requests, finish.

One asyncio task per running job drives a `Runner`. The database is reached only through
the async store facade, so a write waiting on a lock never holds up the event loop that
the safety supervisor and every running job share.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
from typing import Any

from protocols import steps as p
from scheduler import crashpoints, queue
from scheduler.bench import Bench
from scheduler.binding import bind_job
from scheduler.claim_policy import BenchView, RunningJob
from scheduler.daemon.active import ActiveJob, SlotReporter
from scheduler.daemon.groups import ChamberGroup, GroupEnvironment
from scheduler.daemon.recovery import recover, resume_acknowledged
from scheduler.daemon.supervisor import SafetySupervisor, hard_limits
from scheduler.errors import SchedulerError
from scheduler.instruments import InstrumentPool, SlotHardware, bench_clock, open_slot
from scheduler.jobs import JobParams, JobState, SlotState, job_state_after
from scheduler.run_state import ResumePoint, RunStatus
from scheduler.runner import Runner
from scheduler.schedule_runner import ScheduleRunner, runner_for
from scheduler.session import prepare_run
from storage import AsyncStore

log = logging.getLogger("cellbench.daemon")


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
        self.db = AsyncStore.of(store)
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
        self.supervisor = SafetySupervisor(
            bench,
            pool=self.pool,
            db=self.db,
            telemetry=telemetry,
            active=self.active,
            sample_period_s=self.sample_period_s,
        )
        self._stop = asyncio.Event()
        self._started = time.time()
        self._control: set[asyncio.Task[Any]] = set()

    @property
    def reaction_times_s(self) -> list[float]:
        return self.supervisor.reaction_times_s

    def request_stop(self) -> None:
        """Ask for a graceful stop (what SIGTERM and SIGINT do)."""
        self._stop.set()

    def owns(self, slot: str | None) -> bool:
        """Is `slot` one of this daemon's? Daemons may share a bench name, each with a part
        of its slots; a job on a slot of another part is never this daemon's to touch."""
        return slot is not None and any(s.name == slot for s in self.bench.slots)

    async def run(self) -> None:
        """Recover, then claim and run jobs until `request_stop`."""
        log.info("daemon starting", extra={"bench": self.name, "daemon": self.daemon_id})
        if self.telemetry is not None:
            await self.telemetry.start()
            self.telemetry.on_control(self._on_control)
        self._publish_status("online")
        try:
            await recover(self)
            self.supervisor.start()
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
        await self.supervisor.stop()
        for job in list(self.active.values()):
            await self._detach_or_stop(job)
        await self.pool.close()
        self._publish_status("offline")
        if self.telemetry is not None:
            await self.telemetry.stop()
        log.info("daemon stopped", extra={"bench": self.name})

    async def _detach_or_stop(self, job: ActiveJob) -> None:
        """On a graceful stop: leave on-device steps running, stop host-side ones safely.

        A job still opening its slot or re-attaching (no step streaming yet) is stopped
        too: a step it was re-attaching to keeps running on the instrument under its own
        limits, owned by the run (interrupted, its step open in the journal) until the next
        start re-attaches it; anything else leaves the cell off. The event says which.
        """
        runner, task = job.runner, job.task
        if task is None or task.done():
            return
        job.stopping = True
        step = runner.state.step if runner is not None else None
        streaming = step is not None
        in_device_step = (
            streaming and job.on_device and not isinstance(step, p.SetTemperature | p.SetPressure)
        ) or (job.reattaching and not streaming)
        if runner is not None and in_device_step:
            runner.detach()
        elif runner is not None:
            await runner.interrupt(RunStatus.INTERRUPTED, "the daemon stopped")
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        with contextlib.suppress(SchedulerError):
            await self.db.with_store(
                queue.interrupt, job.job_id, by=self.daemon_id, note="daemon stopped"
            )
        if job.run_id is not None:
            await self.db.set_run_status(job.run_id, RunStatus.INTERRUPTED, "the daemon stopped")
        if job.hardware is not None:
            with contextlib.suppress(Exception):
                await job.hardware.close()
        self.active.pop(job.slot, None)
        where = "" if streaming else " while it was being started or re-attached"
        await self.db.add_event(
            "interrupted",
            f"job {job.job_id} on slot {job.slot}: the daemon stopped{where}; "
            + (
                "its step keeps running on the instrument under its own limits, and the "
                "interrupted run re-attaches to it at the next start"
                if in_device_step
                else "the cell is off"
            ),
            run_id=job.run_id,
            bench=self.name,
            slot=job.slot,
            data={"cell": "driven by its step on the instrument" if in_device_step else "off"},
        )
        await self.db.upsert_slot_state(
            self.name,
            job.slot,
            state=SlotState.IDLE,
            job_id=job.job_id,
            run_id=job.run_id,
            message="interrupted: the daemon stopped"
            + ("; its step runs on under the instrument's own limits" if in_device_step else ""),
        )

    # -- the loop ---------------------------------------------------------------------------
    async def _tick(self) -> None:
        await self._carry_out_requests()
        alarmed = await self.supervisor.alarmed_slots()
        await resume_acknowledged(self, alarmed)
        await self._claim(alarmed)
        self._publish_status("online")

    async def _claim(self, alarmed: set[str]) -> None:
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
        claimed, groups = await self.db.with_store(
            queue.claim_jobs, view, bench_name=self.name, daemon_id=self.daemon_id
        )
        for job, slot in claimed:
            crashpoints.point("job_claimed", job.id)
            self.launch(job, slot, resume=None)
        for group, members in groups.items():
            await self._start_group(group, members)

    async def _start_group(self, name: str, members: list[tuple[Any, str]]) -> None:
        """Start a temperature group only when all its queued members can start together."""
        queued = await self.db.list_jobs([JobState.QUEUED], bench=self.name)
        expected = [j for j in queued if JobParams.of(j).group == name]
        if len(expected) != len(members):
            return  # some member cannot start yet; the group waits as a whole
        group = self.groups.setdefault(name, ChamberGroup(name))
        self._group_leaders.setdefault(name, {})
        for job, _ in members:
            group.members.add(job.id)
        for job, slot in members:
            claimed = await self.db.with_store(
                queue.claim, job.id, slot=slot, bench_name=self.name, daemon_id=self.daemon_id
            )
            if claimed is None:
                group.leave(job.id)
            else:
                self.launch(claimed, slot, resume=None)

    def launch(
        self, job: Any, slot: str, *, resume: ResumePoint | None, run_id: int | None = None
    ) -> None:
        """Start the task that runs `job` on `slot` (from its resume point, if given)."""
        params = JobParams.of(job)
        active = ActiveJob(
            job.id,
            slot,
            group=params.group,
            changes_temperature=params.changes_temperature,
            run_id=run_id,
            progress_estimate_s=params.estimate.typical_s,
            reattaching=resume is not None and resume.attach,
        )
        self.active[slot] = active
        active.task = asyncio.create_task(self._run_job(active, job, resume))
        log.info("job started", extra={"job": job.id, "slot": slot, "resume": resume is not None})

    async def _run_job(self, active: ActiveJob, job: Any, resume: ResumePoint | None) -> None:
        status: str = RunStatus.FAILED
        message = ""
        try:
            hardware = await open_slot(self.bench, active.slot, pool=self.pool, clock=self.clock)
            active.hardware = hardware
            capabilities = await hardware.potentiostat.capabilities()
            active.on_device = bool(capabilities.on_device_limits)
            await crashpoints.hold("slot_opened", job.id)  # a test may act before the runner
            runner = await self._prepare_runner(active, job, hardware, resume)
            result = await runner.run(resume)
            status, message = result.status, result.message
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # every failure ends in the job's state and an event
            status, message = RunStatus.FAILED, str(exc)
            log.error("job failed", extra={"job": job.id, "slot": active.slot, "error": str(exc)})
            await self.db.add_event(
                "job",
                f"job {job.id} on slot {active.slot} failed: {exc}",
                run_id=active.run_id,
                severity="error",
                bench=self.name,
                slot=active.slot,
            )
        finally:
            if not active.detaching and not active.stopping:
                await self._finish_job(active, status, message)

    def _environment(self, active: ActiveJob, hardware: SlotHardware) -> Any:
        """The slot's chamber and rig; a member's shared view when it runs in a group."""
        if active.group is None or not active.changes_temperature:
            return hardware.environment
        return GroupEnvironment(
            hardware.environment,
            self.groups.setdefault(active.group, ChamberGroup(active.group)),
            active.job_id,
            self._group_leaders.setdefault(active.group, {}),
        )

    async def _prepare_runner(
        self, active: ActiveJob, job: Any, hardware: SlotHardware, resume: ResumePoint | None
    ) -> Runner | ScheduleRunner:
        binding = await self.db.with_store(bind_job, job)
        progress = SlotReporter(
            active,
            db=self.db,
            bench=self.name,
            telemetry=self.telemetry,
            sample_period_s=self.sample_period_s,
        )
        environment = self._environment(active, hardware)
        runner_class = runner_for(self.bench, active.slot)
        if resume is None:
            run_id, runner = await prepare_run(
                self.db,
                binding,
                hardware.potentiostat,
                slot=active.slot,
                bench=self.name,
                bench_text=self.bench.source_text,
                progress=progress,
                environment=environment,
                job_id=job.id,
                runner_class=runner_class,
            )
        else:
            assert active.run_id is not None
            run_id = active.run_id
            runner = runner_class(
                binding.plan,
                hardware.potentiostat,
                self.db,
                run_id,
                one_c_A=binding.one_c_A,
                progress=progress,
                environment=environment,
            )
            await self.db.set_run_status(run_id, RunStatus.RUNNING, "resumed")
        if resume is None:
            crashpoints.point("run_started", job.id)
        active.run_id, active.runner = run_id, runner
        runner.time_scale = self.clock.time_scale
        if active.pending_stop is not None:  # a trip reached the slot before its runner
            await runner.interrupt(*active.pending_stop)
        runner.extra_safety = [hard_limits(self.bench.slot(active.slot).limits)]
        runner.progress_every_s = self.sample_period_s
        await self.db.upsert_slot_state(
            self.name,
            active.slot,
            state=SlotState.RUNNING,
            job_id=job.id,
            run_id=run_id,
            message="",
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
        try:
            await self.db.with_store(self.close_job, active.job_id, status, message)
            crashpoints.point("job_closed", active.job_id)
        except SchedulerError as exc:
            log.warning("job state not updated", extra={"job": active.job_id, "error": str(exc)})
        await self.db.upsert_slot_state(
            self.name,
            active.slot,
            state=SlotState.PAUSED if status == RunStatus.PAUSED else SlotState.IDLE,
            job_id=active.job_id,
            run_id=active.run_id,
            message=f"{status}: {message}".strip(": "),
        )
        if self.telemetry is not None:
            self.telemetry.slot_state(active.slot, state=status, job=active.job_id, message=message)
            self.telemetry.event("job", f"job {active.job_id} {status}", slot=active.slot)
        log.info("job ended", extra={"job": active.job_id, "slot": active.slot, "status": status})

    def close_job(self, store: Any, job_id: int, status: str, message: str) -> None:
        """The job's state after its run ended `status` (in the store's thread)."""
        by = self.daemon_id
        if status in (RunStatus.PAUSED, RunStatus.CANCELLED):
            queue.confirm(store, job_id, by=by, note=message)
        elif status == RunStatus.INTERRUPTED:
            queue.interrupt(store, job_id, by=by, note=message)
        else:
            queue.finish(store, job_id, job_state_after(status), by=by, note=message)

    # -- operator requests ------------------------------------------------------------------
    async def _carry_out_requests(self) -> None:
        for active in list(self.active.values()):
            if active.runner is None:
                continue
            state = (await self.db.get_job(active.job_id)).state
            if state == JobState.CANCELLING:
                await active.runner.interrupt(RunStatus.CANCELLED, "cancelled by the operator")
            elif state == JobState.PAUSING:
                await active.runner.interrupt(RunStatus.PAUSED, "paused by the operator")

    def _on_control(self, command: Any) -> None:
        """MQTT control (only when configured with authentication), carried out off the
        event loop like every other queue change."""
        actions = {"pause": queue.pause, "resume": queue.resume, "cancel": queue.cancel}
        if command.command == "ack":
            work = self.db.with_store(queue.ack, "all", by=command.by, bench=self.name)
        elif command.command in actions and command.job is not None:
            work = self.db.with_store(actions[command.command], command.job, by=command.by)
        else:
            return
        task = asyncio.ensure_future(work)
        self._control.add(task)
        task.add_done_callback(self._control.discard)
