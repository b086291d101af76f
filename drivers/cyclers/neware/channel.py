"""One channel of a BTS host, as a slot sees it: the host connection is shared by every
channel of that host in the process (opened by the first channel, closed by the last), so
all their requests go over one serialised connection.

A Neware channel runs whole schedules (step files), not single steps: `run` and `attach`
refuse, and the scheduler's schedule runner uses `start`, `status`, `download` and the rest.
`safe()` and `abort()` stop the channel's test.
"""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from drivers.context import AsyncContext
from drivers.cyclers.neware.host import MAX_PAGE, NewareHost
from drivers.cyclers.neware.replies import ChannelId, Live, Record, StepLayer
from drivers.errors import InstrumentError
from drivers.potentiostat import Capabilities, Identity, StepCommand, StepItem


@dataclass
class _Shared:
    host: NewareHost
    users: int = 0
    lock: asyncio.Lock | None = None


_HOSTS: weakref.WeakKeyDictionary[Any, dict[str, _Shared]] = weakref.WeakKeyDictionary()


class NewareChannel(AsyncContext):
    """Channel `number` (1-based, unit by unit: unit 1's channels first) of the host at
    `endpoint`, whose units each have `channels` channels."""

    opens_with = "connect"

    def __init__(
        self,
        endpoint: str,
        *,
        name: str = "Neware BTS",
        number: int = 1,
        channels: int = 8,
        timeout_s: float = 10.0,
        username: str = "admin",
        password: str = "neware",
        max_current_A: float = 0.1,
        voltage_range_V: tuple[float, float] = (0.0, 5.0),
        step_dir: str = "",
        poll_s: float = 2.0,
    ) -> None:
        if number < 1:
            raise InstrumentError(f"{name}: channel numbers start at 1, not {number}")
        self.endpoint, self.name, self.number = endpoint, name, number
        self.unit, self.chlid = (number - 1) // channels + 1, (number - 1) % channels + 1
        self._login = (username, password)
        self.timeout_s = timeout_s
        self.max_current_A, self.voltage_range_V = max_current_A, voltage_range_V
        self.step_dir, self.poll_s = step_dir, poll_s  # where the host reads step files; polling
        self.host: NewareHost | None = None
        self.channel: ChannelId | None = None

    def __str__(self) -> str:
        return f"{self.name} channel {self.unit}-{self.chlid}"

    # -- the shared connection ---------------------------------------------------------------
    async def connect(self) -> None:
        hosts = _HOSTS.setdefault(asyncio.get_running_loop(), {})
        shared = hosts.get(self.endpoint)
        if shared is None:
            host = NewareHost(
                self.endpoint,
                name=self.name,
                timeout_s=self.timeout_s,
                username=self._login[0],
                password=self._login[1],
            )
            shared = hosts[self.endpoint] = _Shared(host)
            shared.lock = asyncio.Lock()
        assert shared.lock is not None
        async with shared.lock:
            if shared.users == 0:
                await shared.host.open()
            shared.users += 1
        self.host = shared.host
        self.channel = self.host.channel(f"{self.unit}-{self.chlid}")

    async def close(self) -> None:
        if self.host is None:
            return
        hosts = _HOSTS.get(asyncio.get_running_loop(), {})
        shared = hosts.get(self.endpoint)
        self.host = None
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            hosts.pop(self.endpoint, None)
            await shared.host.close()

    def _ready(self) -> tuple[NewareHost, ChannelId]:
        if self.host is None or self.channel is None:
            raise InstrumentError(f"{self} is not connected")
        return self.host, self.channel

    # -- the potentiostat interface ------------------------------------------------------------
    async def identify(self) -> Identity:
        _, channel = self._ready()
        return Identity("Neware", f"BTS 8 (devtype {channel.devtype})", f"{channel}", "BTS 8.0")

    async def capabilities(self) -> Capabilities:
        return Capabilities(
            techniques=frozenset({"rest", "cc", "cv", "pulse_train"}),
            max_abs_current_A=self.max_current_A,
            voltage_range_V=self.voltage_range_V,
            on_device_limits=True,
            can_reattach=True,
            notes="runs whole step files on the cycler; the host downloads the records",
        )

    def run(self, command: StepCommand) -> AsyncIterator[StepItem]:
        raise InstrumentError(f"{self} runs whole schedules, not single {command.technique} steps")

    def attach(
        self, command: StepCommand, *, after_index: int | None = None
    ) -> AsyncIterator[StepItem]:
        raise InstrumentError(f"{self} runs whole schedules; re-attach by downloading records")

    async def abort(self) -> None:
        await self.safe()

    async def safe(self) -> None:
        """Stop the channel's test (the cycler switches the cell off) if it is running."""
        host, channel = self._ready()
        if (await host.status([channel]))[channel] in ("working", "pause"):
            await host.stop(channel)

    # -- the schedule ----------------------------------------------------------------------
    async def start(self, step_file: str, barcode: str) -> None:
        host, channel = self._ready()
        await host.start(channel, step_file, barcode)

    async def status(self) -> str:
        host, channel = self._ready()
        return (await host.status([channel]))[channel]

    async def live(self) -> Live:
        host, channel = self._ready()
        return (await host.inquire([channel]))[channel]

    async def test(self) -> tuple[int, int]:
        """(test id, records logged) of the channel's latest test."""
        host, channel = self._ready()
        return await host.inquiredf(channel)

    async def records(self, start: int, stop: int, testid: int | None = None) -> list[Record]:
        """Records `start` to `stop` (inclusive), in pages of at most 1000."""
        host, channel = self._ready()
        out: list[Record] = []
        while start + len(out) <= stop:
            first = start + len(out)
            page = await host.download(
                channel, first, min(MAX_PAGE, stop - first + 1), testid=testid
            )
            if not page:
                break
            out += page
        return out

    async def layers(self) -> list[StepLayer]:
        host, channel = self._ready()
        return await host.download_step_layer(channel)

    async def log(self) -> list[tuple[int, int, str]]:
        host, channel = self._ready()
        return await host.download_log(channel)

    async def stop(self) -> None:
        host, channel = self._ready()
        await host.stop(channel)

    async def resume(self) -> None:
        """`continue` the channel's stopped or paused test where it was."""
        host, channel = self._ready()
        await host.resume(channel)
