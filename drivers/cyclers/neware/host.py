"""An async client of one BTS 8 host (reference/instruments.md 1.5): one TCP connection
serves every channel of the host, requests on it are serialised by one lock, and replies are
parsed off the event loop when they are large.

Every reply is checked against its request before anything is returned (see `replies.py`).
A lost connection is redialled (and the login repeated) once per request on the backoff of
`drivers/retry.py`; only requests that change nothing are sent again after it. `start`,
`stop`, `continue` and `goto` are not repeated: whether a lost one took effect is for the
caller to ask (`status`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from drivers.context import AsyncContext
from drivers.cyclers.neware import replies as rp
from drivers.cyclers.neware.replies import ChannelId, Live, Record, StepLayer
from drivers.cyclers.neware.wire import FrameTransport
from drivers.errors import InstrumentConnectionError, InstrumentReportedError

MAX_PAGE = 1000  # records the host returns for one `download` at most
OFFLOAD_BYTES = 64 * 1024  # replies larger than this are parsed in a worker thread
STATES = ("working", "stop", "finish", "protect", "pause")
T = TypeVar("T")


class NewareHost(AsyncContext):
    """The BTS host at `endpoint` (tcp://host:port, the API's port is 502 by default)."""

    def __init__(
        self,
        endpoint: str,
        *,
        name: str = "Neware BTS host",
        timeout_s: float = 10.0,
        username: str = "admin",
        password: str = "neware",
        reconnect_attempts: int = 5,
    ) -> None:
        self.transport = FrameTransport(endpoint, name=name, timeout_s=timeout_s)
        self.username, self.password = username, password
        self.reconnect_attempts = reconnect_attempts
        self.channels: list[ChannelId] = []
        self.usable: dict[ChannelId, bool] = {}

    def __str__(self) -> str:
        return str(self.transport)

    # -- connection ------------------------------------------------------------------------
    async def open(self) -> None:
        """Connect, log in and discover every channel (`getdevinfo`)."""
        await self.transport.open()
        await self._login()
        await self.getdevinfo()

    async def close(self) -> None:
        await self.transport.close()

    async def _login(self) -> None:
        body = (
            f"<cmd>connect</cmd><username>{_text(self.username)}</username>"
            f"<password>{_text(self.password)}</password><type>bfgs</type>"
        )
        await self.transport.write_frame(body)
        root = rp.parse(await self.transport.read_frame(), "connect", str(self))
        if (root.findtext("result") or "").strip() != "ok":
            raise InstrumentReportedError(f"{self} refused the API login as {self.username!r}")

    async def _exchange(self, cmd: str, body: str, *, repeat: bool) -> str:
        async with self.transport.lock:
            try:
                return await self._send(body)
            except InstrumentConnectionError:
                await self.transport.reconnect(self.reconnect_attempts)
                await self._login()
                if not repeat:
                    raise
                return await self._send(body)

    async def _send(self, body: str) -> str:
        await self.transport.write_frame(body)
        return await self.transport.read_frame()

    async def _query(self, cmd: str, body: str, read: Callable[[Any], T], repeat: bool = True) -> T:
        text = await self._exchange(cmd, body, repeat=repeat)

        def parse() -> T:
            return read(rp.parse(text, cmd, str(self)))

        if len(text) > OFFLOAD_BYTES:
            return await asyncio.to_thread(parse)
        return parse()

    # -- discovery and status ----------------------------------------------------------------
    async def getdevinfo(self) -> list[ChannelId]:
        """Every channel of the host, and whether it is usable (`true` in the reply)."""
        who = str(self)

        def read(root: Any) -> list[tuple[ChannelId, bool]]:
            return [
                (rp.channel_of(e, who, "Channelid"), (e.text or "").strip() == "true")
                for e in rp.items(root, "getdevinfo", who, "middle")
            ]

        found = await self._query("getdevinfo", "<cmd>getdevinfo</cmd>", read)
        if not found:
            raise InstrumentReportedError(f"{self} reports no channels; are its units online?")
        self.channels = [channel for channel, _ in found]
        self.usable = dict(found)
        return list(self.channels)

    def channel(self, name: str) -> ChannelId:
        """A discovered channel by `devid-subdevid-chlid` (or `subdevid-chlid`)."""
        for ch in self.channels:
            if str(ch) == name or (str(ch).endswith("-" + name) and name.count("-") == 1):
                return ch
        known = ", ".join(str(c) for c in self.channels[:8])
        raise InstrumentReportedError(f"{self} has no channel {name!r} (it has {known}, …)")

    async def _per_channel(
        self,
        cmd: str,
        channels: Sequence[ChannelId],
        element: Callable[[ChannelId], str],
        *,
        repeat: bool = True,
        strict: bool = True,
    ) -> list[Any]:
        body = f'<cmd>{cmd}</cmd><list count="{len(channels)}">'
        body += "".join(element(ch) for ch in channels) + "</list>"

        def read(root: Any) -> list[Any]:
            found = rp.items(root, cmd, str(self))
            if len(found) != len(channels):
                raise rp.fail(
                    str(self), f"answered {cmd} for {len(channels)} channel(s) with {len(found)}"
                )
            for e, ch in zip(found, channels, strict=True):
                if cmd == "inquire":
                    continue  # `dev` names the channel there; checked as it is read
                rp.check_channel(e, ch, cmd, str(self), strict=strict)
            return found

        return await self._query(cmd, body, read, repeat)

    async def status(self, channels: Sequence[ChannelId]) -> dict[ChannelId, str]:
        """`getchlstatus`: working, stop, finish, protect or pause for each channel."""
        found = await self._per_channel(
            "getchlstatus",
            channels,
            lambda c: f"<status {c.attributes()}>true</status>",
            strict=False,
        )
        out = {}
        for ch, e in zip(channels, found, strict=True):
            state = (e.text or "").strip()
            if state not in STATES:
                raise rp.fail(str(self), f"reports channel {ch} in an unknown state {state!r}")
            out[ch] = state
        return out

    async def inquire(
        self, channels: Sequence[ChannelId], aux: bool = True
    ) -> dict[ChannelId, Live]:
        """Live values of each channel, with its first aux temperature when `aux`."""
        flag = "1" if aux else "0"
        found = await self._per_channel(
            "inquire",
            channels,
            lambda c: f'<inquire {c.attributes()} aux="{flag}" barcode="1">true</inquire>',
        )
        return {ch: rp.live(e, ch, str(self)) for ch, e in zip(channels, found, strict=True)}

    async def inquiredf(self, channel: ChannelId) -> tuple[int, int]:
        """(test id, records in the test) of the channel's latest test."""
        found = await self._per_channel(
            "inquiredf", [channel], lambda c: f'<chl {c.attributes(ip=False)} testid="0" />'
        )
        who = str(self)
        return rp.whole(found[0].get("testid"), who, "a test id"), rp.whole(
            found[0].get("count"), who, "a record count"
        )

    # -- control -------------------------------------------------------------------------
    async def _control(self, cmd: str, channel: ChannelId, element: str) -> None:
        found = await self._per_channel(cmd, [channel], lambda c: element, repeat=False)
        answer = (found[0].text or "").strip()
        if answer != "ok":
            raise InstrumentReportedError(f"{self} refused {cmd} on channel {channel} ({answer})")

    async def start(self, channel: ChannelId, step_file: str, barcode: str) -> None:
        """Start the step file at `step_file` (a path on the BTS host's disk) on `channel`."""
        where = f'{channel.attributes()} barcode="{_attr(barcode)}"'
        await self._control("start", channel, f"<start {where}>{_text(step_file)}</start>")

    async def stop(self, channel: ChannelId) -> None:
        await self._control("stop", channel, f"<stop {channel.attributes()}>true</stop>")

    async def resume(self, channel: ChannelId) -> None:
        """`continue`: carry on a stopped or paused test where it was."""
        element = f"<continue {channel.attributes()}>true</continue>"
        await self._control("continue", channel, element)

    async def goto(self, channel: ChannelId, step: int) -> None:
        element = f'<goto {channel.attributes()} stepid="{int(step)}">true</goto>'
        await self._control("goto", channel, element)

    async def clearflag(self, channel: ChannelId) -> None:
        element = f"<clearflag {channel.attributes()}>true</clearflag>"
        await self._control("clearflag", channel, element)

    # -- data ----------------------------------------------------------------------------
    async def download(
        self,
        channel: ChannelId,
        start: int,
        count: int = MAX_PAGE,
        *,
        aux: bool = True,
        testid: int | None = None,
    ) -> list[Record]:
        """Records `start`, `start`+1, … (at most `count` ≤ 1000) of the channel's test."""
        if not 1 <= count <= MAX_PAGE or start < 1:
            raise ValueError(f"a download page is 1 to {MAX_PAGE} records from record 1 on")
        where = channel.attributes(ip=False)
        body = (
            f'<cmd>download</cmd><download {where} auxid="{1 if aux else 0}" testid="0" '
            f'startpos="{start}" count="{count}"/>'
        )
        return await self._query(
            "download", body, lambda root: self._page(root, channel, start, count, testid)
        )

    def _page(
        self, root: Any, channel: ChannelId, start: int, count: int, testid: int | None
    ) -> list[Record]:
        who = str(self)
        header = root.find("download")
        if header is None:
            raise rp.fail(who, f"sent a download reply for channel {channel} without its header")
        rp.check_channel(header, channel, "download", who, strict=True)
        if testid is not None and rp.whole(header.get("testid"), who, "a test id") != testid:
            raise rp.fail(who, f"sent records of another test on channel {channel}")
        page = [rp.record(e, who) for e in rp.items(root, "download", who)]
        if len(page) > count:
            raise rp.fail(who, f"sent {len(page)} records for a download of {count}")
        for offset, rec in enumerate(page):
            if rec.seqid != start + offset:
                raise rp.fail(
                    who,
                    f"sent record {rec.seqid} where record {start + offset} of channel "
                    f"{channel} belongs",
                )
        return page

    async def download_step_layer(self, channel: ChannelId) -> list[StepLayer]:
        body = f"<cmd>downloadStepLayer</cmd><downloadStepLayer {channel.attributes(ip=False)} />"

        def read(root: Any) -> list[StepLayer]:
            who = str(self)
            header = root.find("downloadStepLayer")
            if header is not None:
                rp.check_channel(header, channel, "downloadStepLayer", who, strict=True)
            return [rp.layer(e, who) for e in rp.items(root, "downloadStepLayer", who)]

        return await self._query("downloadStepLayer", body, read)

    async def download_log(self, channel: ChannelId) -> list[tuple[int, int, str]]:
        """(record number, log code, host time) of each log entry of the latest test."""
        body = f'<cmd>downloadlog</cmd><download {channel.attributes(ip=False)} testid="0"/>'

        def read(root: Any) -> list[tuple[int, int, str]]:
            who = str(self)
            header = root.find("download")
            if header is not None:
                rp.check_channel(header, channel, "downloadlog", who, strict=True)
            return [
                (
                    rp.whole(e.get("seqid"), who, "a record number"),
                    rp.whole(e.get("log_code"), who, "a log code"),
                    e.get("atime") or "",
                )
                for e in rp.items(root, "downloadlog", who)
            ]

        return await self._query("downloadlog", body, read)


def _text(value: str) -> str:
    return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _attr(value: str) -> str:
    return _text(value).replace('"', "&quot;")
