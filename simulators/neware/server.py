"""A simulated BTS 8 host: the API's TCP port in front of units × channels, each channel
with its own simulated cell.

Written from the documented API (reference/instruments.md 1.5): each message is
`<?xml …?><bts version="1.0">` + body + `</bts>` + `\\n\\n#\\r\\n`, and so is each reply.
Channels are addressed by `devtype devid subdevid chlid` (a unit is a `subdevid`). `start`
carries, for each channel, the path of a step file on the host's disk (the host reads it) and
a barcode. `continue` and `goto` are not in the open client; they are answered in the same
layout as `stop` (`goto` takes the step in a `stepid` attribute).

Faults (`inject`): `drop` (cut every connection now; the channels keep running), `stall`
(read requests, answer nothing until `clear`), `protect` (channel `channel` goes to protect),
`pause` (an operator pauses channel `channel` at the host), `corrupt` (the next reply, or
the next reply to `command`, is spoiled as `mode` says: `truncate`, `count` (its list count
is one too many), `entity` (an entity-expansion bomb), `channel` (it names another channel)).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from defusedxml import ElementTree

from simulators.clock import SimClock
from simulators.errors import SimulatorError
from simulators.faults import LINK_FAULTS, check_fault
from simulators.lineserver import cancel_tasks
from simulators.neware import replies as r
from simulators.neware.channel import Channel
from simulators.neware.stepfile import parse_step_file

log = logging.getLogger(__name__)

FAULTS = (*LINK_FAULTS, "protect", "pause", "corrupt")
CORRUPTIONS = ("truncate", "count", "entity", "channel")
MAX_REQUEST_BYTES = 4_000_000
MAX_PAGE = 1000  # records one `download` returns at most
BOMB = (
    '<?xml version="1.0"?>\r\n<!DOCTYPE bts [<!ENTITY a "aaaaaaaaaa">'
    '<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;"><!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;">'
    '<!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>\r\n<bts version="1.0"><cmd>&d;</cmd></bts>'
)
PER_CHANNEL = frozenset(
    {"getchlstatus", "inquire", "start", "stop", "continue", "goto", "clearflag", "light"}
    | {"inquiredf"}
)

CellFor = Callable[[int, int], Any]  # (unit, channel) -> cell or None


class NewareSimulator:
    """The BTS host with `units` × `channels` channels; `cells` gives each its cell."""

    def __init__(
        self,
        cells: Mapping[tuple[int, int], Any] | CellFor,
        *,
        clock: SimClock | None = None,
        units: int = 1,
        channels: int = 8,
        devtype: int = 27,
        devid: int = 1,
        max_current_A: float = 0.1,
    ) -> None:
        if units < 1 or channels < 1:
            raise SimulatorError("a BTS host needs at least one unit and one channel")
        self.clock = clock or SimClock()
        cell_for = cells if callable(cells) else (lambda u, c: cells.get((u, c)))
        self.channels: dict[tuple[int, int], Channel] = {
            (u, c): Channel((devtype, devid, u, c), cell_for(u, c), self.clock, max_current_A)
            for u in range(1, units + 1)
            for c in range(1, channels + 1)
        }
        self.devtype, self.devid = devtype, devid
        self.connections = 0
        self.refusals: list[str] = []  # why each refused `start` was refused
        self._stalled = False
        self._corrupt: tuple[str, str | None] | None = None
        self._servers: list[asyncio.AbstractServer] = []
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    # -- endpoints --------------------------------------------------------------------------
    async def start_tcp(self, host: str = "127.0.0.1", port: int = 0) -> tuple[str, int]:
        server = await asyncio.start_server(self._accept, host, port)
        self._servers.append(server)
        address = server.sockets[0].getsockname()
        return address[0], address[1]

    async def stop(self) -> None:
        for server in self._servers:
            server.close()
        self.drop_connections()
        await cancel_tasks(self._tasks)
        for channel in self.channels.values():
            await channel.close()
        self._servers.clear()

    def drop_connections(self) -> None:
        for writer in list(self._writers):
            with contextlib.suppress(Exception):
                writer.transport.abort()
        self._writers.clear()

    # -- faults -----------------------------------------------------------------------------
    def inject(
        self, fault: str, *, channel: Any = None, mode: Any = None, command: Any = None, **_: Any
    ) -> None:
        check_fault(fault, FAULTS, "Neware BTS")
        if fault == "drop":
            self.drop_connections()
        elif fault == "stall":
            self._stalled = True
        elif fault in ("protect", "pause"):
            target = self.channel(channel)
            target.trip() if fault == "protect" else target.pause()
        else:
            mode = mode or "truncate"
            if mode not in CORRUPTIONS:
                raise SimulatorError(f"corrupt mode {mode!r} is not one of {CORRUPTIONS}")
            self._corrupt = (str(mode), None if command is None else str(command))

    def clear(self) -> None:
        self._stalled = False
        self._corrupt = None

    def state(self) -> dict[str, Any]:
        return {
            "connections": self.connections,
            "stalled": self._stalled,
            "channels": {
                f"{self.devid}-{u}-{c}": {
                    "state": ch.state,
                    "records": len(ch.records),
                    "testid": ch.testid,
                    "step": ch.progress.step_id,
                    "cycle": ch.progress.cycle,
                    "protect": ch.protect_reason,
                }
                for (u, c), ch in self.channels.items()
            },
        }

    def channel(self, which: Any = None) -> Channel:
        """A channel by "devid-unit-chl", "unit-chl", (unit, chl) or 1-based index."""
        if which is None:
            return next(iter(self.channels.values()))
        if isinstance(which, int) and not isinstance(which, bool):
            keys = list(self.channels)
            if 1 <= which <= len(keys):
                return self.channels[keys[which - 1]]
        if isinstance(which, tuple) and which in self.channels:
            return self.channels[which]
        if isinstance(which, str):
            parts = which.split("-")
            with contextlib.suppress(ValueError):
                key = (int(parts[-2]), int(parts[-1]))
                if key in self.channels and (len(parts) == 2 or int(parts[0]) == self.devid):
                    return self.channels[key]
        raise SimulatorError(f"the BTS host has no channel {which!r}")

    # -- the wire ---------------------------------------------------------------------------
    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        self.connections += 1
        try:
            await self._serve(reader, writer)
        except (asyncio.CancelledError, ConnectionError, OSError):
            return
        finally:
            self._writers.discard(writer)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while True:
            chunk = await reader.read(65536)
            if not chunk:
                return
            buffer += chunk
            if len(buffer) > MAX_REQUEST_BYTES:
                return  # not a client of this API: hang up
            while r.TERMINATOR in buffer:
                raw, buffer = buffer.split(r.TERMINATOR, 1)
                if self._stalled:
                    continue
                reply = self.answer(raw.decode("utf-8", errors="replace"))
                writer.write(reply.encode("utf-8") + r.TERMINATOR)
                await writer.drain()

    def answer(self, request: str) -> str:
        """The reply document to one request (without the terminator)."""
        try:
            root = ElementTree.fromstring(request)
            cmd = (root.findtext("cmd") or "").strip()
            reply = self._dispatch(cmd, root)
        except Exception as exc:  # the host never crashes its port on a bad request
            log.debug("BTS simulator refused %r: %s", request[:200], exc)
            return r.frame("error_resp", "<result>false</result>")
        return self._spoil(cmd, reply)

    def _spoil(self, cmd: str, reply: str) -> str:
        if self._corrupt is None or cmd == "connect":
            return reply
        mode, only = self._corrupt
        if only is not None and only != cmd:
            return reply
        self._corrupt = None
        if mode == "truncate":
            return reply[: len(reply) // 2]
        if mode == "entity":
            return BOMB
        if mode == "count":
            return _bump_count(reply)
        return reply.replace('chlid="', 'chlid="9', 1).replace('-0" ', '9-0" ', 1)

    def _dispatch(self, cmd: str, root: Any) -> str:
        if cmd == "connect":
            return r.frame("connect_resp", "<result>ok</result>")
        if cmd == "getdevinfo":
            return self._devinfo()
        if cmd in PER_CHANNEL:
            return self._per_channel(cmd, root)
        if cmd == "download":
            return self._download(root.find("download"))
        if cmd == "downloadStepLayer":
            return self._layers(root.find("downloadStepLayer"))
        if cmd == "downloadlog":
            return self._log(root.find("download"))
        return r.frame(f"{cmd}_resp", "<result>false</result>")

    def _devinfo(self) -> str:
        items = [
            f"<channel {r.attrs(**r.address(ch, chl_key='Channelid'))}>"
            f"{'true' if ch.usable else 'false'}</channel>"
            for ch in self.channels.values()
        ]
        inner = "".join(f"    {i}\r\n" for i in items)
        return r.frame(
            "getdevinfo_resp",
            '<serverip count="1">\r\n    <server ip="127.0.0.1" port="3306" />\r\n  </serverip>',
            f'<middle count="{len(items)}">\r\n{inner}</middle>',
        )

    def _find(self, element: Any) -> Channel | None:
        try:
            key = (int(element.get("subdevid")), int(element.get("chlid")))
            ok = int(element.get("devid")) == self.devid
        except (TypeError, ValueError):
            return None
        return self.channels.get(key) if ok else None

    def _per_channel(self, cmd: str, root: Any) -> str:
        items = []
        for element in root.find("list") if root.find("list") is not None else []:
            channel = self._find(element)
            items.append(self._channel_item(cmd, element, channel))
        return r.frame(f"{cmd}_resp", r.listing(items))

    def _channel_item(self, cmd: str, element: Any, channel: Channel | None) -> str:
        tag = "chl" if cmd == "inquiredf" else "status" if cmd == "getchlstatus" else cmd
        if channel is None:
            return f"<{tag} {r.attrs(**{k: v for k, v in element.attrib.items()})}>false</{tag}>"
        if cmd == "inquire":
            return r.inquire_item(channel, element.get("aux") == "1")
        where = r.attrs(**r.address(channel, ip=cmd != "inquiredf"))
        if cmd == "getchlstatus":
            return f'<status {where} reservepause="1">{channel.state}</status>'
        if cmd == "inquiredf":
            extra = r.attrs(testid=channel.testid, count=len(channel.records))
            return f"<chl {where} {extra}>true</chl>"
        ok = self._act(cmd, element, channel)
        return f"<{cmd} {where}>{'ok' if ok else 'false'}</{cmd}>"

    def _act(self, cmd: str, element: Any, channel: Channel) -> bool:
        if cmd == "start":
            return self._start(element, channel)
        if cmd == "stop":
            return channel.stop()
        if cmd == "continue":
            return channel.resume()
        if cmd == "goto":
            try:
                return channel.goto(int(element.get("stepid", "")))
            except ValueError:
                return False
        if cmd == "clearflag":
            return channel.state != "working"
        return True  # light

    def _start(self, element: Any, channel: Channel) -> bool:
        path = (element.text or "").strip()
        try:
            file = parse_step_file(Path(path).read_text(encoding="utf-8"))
        except (OSError, SimulatorError, ValueError) as exc:
            self.refusals.append(f"{path}: {exc}")
            return False
        return channel.start(file, element.get("barcode", ""))

    def _header(self, tag: str, channel: Channel, **extra: object) -> str:
        where = r.address(channel, ip=False)
        return f"<{tag} {r.attrs(**where, testid=channel.testid, **extra)} />"

    def _download(self, element: Any) -> str:
        channel = self._find(element) if element is not None else None
        if channel is None:
            return r.frame("donwload_resp", r.listing([]))
        start = max(int(element.get("startpos", "1")), 1)
        count = min(max(int(element.get("count", "0")), 0), MAX_PAGE)
        aux = element.get("auxid", "0") == "1"
        page = channel.records[start - 1 : start - 1 + count]
        header = self._header(
            "download", channel, startpos=start, count=count, auxid=element.get("auxid", "0")
        )
        return r.frame("donwload_resp", header, r.listing([r.record_item(d, aux) for d in page]))

    def _layers(self, element: Any) -> str:
        channel = self._find(element) if element is not None else None
        if channel is None:
            return r.frame("downloadStepLayer_resp", r.listing([]))
        items = [r.layer_item(layer) for layer in channel.layers]
        return r.frame(
            "downloadStepLayer_resp", self._header("downloadStepLayer", channel), r.listing(items)
        )

    def _log(self, element: Any) -> str:
        channel = self._find(element) if element is not None else None
        if channel is None:
            return r.frame("donwloadlog_resp", r.listing([]))
        return r.frame(
            "donwloadlog_resp",
            self._header("download", channel, log_lever=0),
            r.listing(r.log_items(channel.log)),
        )


def _bump_count(reply: str) -> str:
    """The reply with its list count one higher than the elements it holds."""
    marker = '<list count="'
    at = reply.find(marker)
    if at < 0:
        return reply
    end = reply.index('"', at + len(marker))
    count = int(reply[at + len(marker) : end])
    return f"{reply[: at + len(marker)]}{count + 1}{reply[end:]}"
