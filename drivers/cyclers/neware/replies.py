"""Read the BTS host's replies: defusedxml only (the API answers from another machine, so a
document type or an entity declaration is refused outright), and every reply checked against
the request it answers (its `cmd`, the channels it names, its counts), so that nothing wrong
is ever handed on to be stored. Each failure is one `InstrumentReplyError` sentence.

Units as the host writes them: voltage V, current A (negative = discharge), capacity Ah,
energy Wh; a record's `testtime` is the step's time in ms.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from defusedxml import DefusedXmlException, ElementTree

from drivers.errors import InstrumentReplyError

# The host spells some reply names its own way (replies captured from a BTS 8.0 host).
SPELLINGS = {"download": ("download_resp", "donwload_resp")}
SPELLINGS["downloadlog"] = ("downloadlog_resp", "donwloadlog_resp")


@dataclass(frozen=True, order=True)
class ChannelId:
    """A channel's address on its host; `str()` is the usual `devid-subdevid-chlid`."""

    devtype: int
    devid: int
    subdevid: int
    chlid: int

    def __str__(self) -> str:
        return f"{self.devid}-{self.subdevid}-{self.chlid}"

    def attributes(self, *, ip: bool = True, chl_key: str = "chlid") -> str:
        head = 'ip="127.0.0.1" ' if ip else ""
        return (
            f'{head}devtype="{self.devtype}" devid="{self.devid}" '
            f'subdevid="{self.subdevid}" {chl_key}="{self.chlid}"'
        )


@dataclass(frozen=True)
class Live:
    """What `inquire` says a channel is doing now."""

    state: str
    cycle: int
    step: int | None
    step_type: str
    voltage_V: float
    current_A: float
    capacity_Ah: float
    energy_Wh: float
    step_s: float
    test_s: float
    barcode: str
    log_code: int
    temperature_degC: float | None


@dataclass(frozen=True)
class Record:
    """One logged point of a test, numbered by the host from 1 (`seqid`)."""

    seqid: int
    step: int
    cycle: int
    step_type: str
    step_s: float
    voltage_V: float
    current_A: float
    capacity_Ah: float
    energy_Wh: float
    temperature_degC: float | None
    atime: str


@dataclass(frozen=True)
class StepLayer:
    """One executed step of the test (`downloadStepLayer`)."""

    first: int
    last: int
    index: int
    step: int
    cycle: int
    step_type: str
    step_s: float
    capacity_Ah: float


def fail(who: str, what: str) -> InstrumentReplyError:
    return InstrumentReplyError(f"{who} {what}")


def parse(text: str, cmd: str, who: str) -> Any:
    """The `<bts>` element of a reply to `cmd`, or one sentence on what is wrong with it."""
    try:
        root = ElementTree.fromstring(text, forbid_dtd=True)
    except DefusedXmlException:
        raise fail(who, f"sent a {cmd} reply with a document type or entities; refused") from None
    except ElementTree.ParseError as exc:
        raise fail(who, f"sent a {cmd} reply that is not complete XML ({exc})") from None
    if root.tag != "bts":
        raise fail(who, f"sent a {cmd} reply whose root is <{root.tag}>, not <bts>")
    got = (root.findtext("cmd") or "").strip()
    if got not in SPELLINGS.get(cmd, (f"{cmd}_resp",)):
        raise fail(who, f"answered {cmd} with {got or 'no command'!r}")
    return root


def items(root: Any, cmd: str, who: str, tag: str = "list") -> list[Any]:
    """The elements of the reply's list, which must hold as many as its count says."""
    listing = root.find(tag)
    if listing is None:
        raise fail(who, f"sent a {cmd} reply without its <{tag}>")
    found = list(listing)
    declared = listing.get("count")
    if declared is not None and number(declared, who, f"{cmd} count") != len(found):
        raise fail(who, f"sent a {cmd} reply whose count says {declared} but holds {len(found)}")
    return found


def number(raw: str | None, who: str, what: str) -> float:
    try:
        value = float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise fail(who, f"sent {what} {raw!r}, which is not a number") from None
    if not math.isfinite(value):
        raise fail(who, f"sent {what} {raw!r}, which is not a finite number")
    return value


def whole(raw: str | None, who: str, what: str) -> int:
    value = number(raw, who, what)
    if value != int(value):
        raise fail(who, f"sent {what} {raw!r}, which is not a whole number")
    return int(value)


def optional(raw: str | None, who: str, what: str) -> float | None:
    return None if raw in (None, "--", "") else number(raw, who, what)


def channel_of(element: Any, who: str, chl_key: str = "chlid") -> ChannelId:
    return ChannelId(
        whole(element.get("devtype"), who, "a devtype"),
        whole(element.get("devid"), who, "a devid"),
        whole(element.get("subdevid"), who, "a subdevid"),
        whole(element.get(chl_key), who, "a channel id"),
    )


def check_channel(element: Any, wanted: ChannelId, cmd: str, who: str, *, strict: bool) -> None:
    """The element must be about `wanted`; `strict=False` lets the unit (`subdevid`) differ,
    as the host's `getchlstatus` is known to report unit 1 for every unit."""
    got = channel_of(element, who)
    same = (got.devid, got.chlid) == (wanted.devid, wanted.chlid)
    if same and strict:
        same = got.subdevid == wanted.subdevid
    if not same:
        raise fail(who, f"answered {cmd} for channel {wanted} with channel {got}")


def live(element: Any, wanted: ChannelId, who: str) -> Live:
    dev = (element.get("dev") or "").split("-")
    named = "-".join(dev[1:4]) if len(dev) >= 4 else element.get("dev")
    if named != str(wanted):
        raise fail(who, f"answered inquire for channel {wanted} with channel {named}")
    get = element.get
    step = optional(get("step_id"), who, "a step id")
    return Live(
        state=(get("workstatus") or "").strip(),
        cycle=whole(get("cycle_id"), who, "a cycle id"),
        step=int(step) if step is not None else None,
        step_type=get("step_type") or "--",
        voltage_V=number(get("voltage"), who, "a voltage"),
        current_A=number(get("current"), who, "a current"),
        capacity_Ah=number(get("capacity"), who, "a capacity"),
        energy_Wh=number(get("energy"), who, "an energy"),
        step_s=number(get("relativetime"), who, "a step time"),
        test_s=number(get("totaltime"), who, "a test time"),
        barcode=get("barcode") or "",
        log_code=whole(get("log_code") or "0", who, "a log code"),
        temperature_degC=optional(get("auxtemp"), who, "an aux temperature"),
    )


def record(element: Any, who: str) -> Record:
    get = element.get
    return Record(
        seqid=whole(get("seqid"), who, "a record number"),
        step=whole(get("stepid"), who, "a step id"),
        cycle=whole(get("cycleid"), who, "a cycle id"),
        step_type=get("steptype") or "--",
        step_s=number(get("testtime"), who, "a record time") / 1000.0,
        voltage_V=number(get("volt"), who, "a voltage"),
        current_A=number(get("curr"), who, "a current"),
        capacity_Ah=number(get("cap"), who, "a capacity"),
        energy_Wh=number(get("eng"), who, "an energy"),
        temperature_degC=optional(get("auxtemp"), who, "an aux temperature"),
        atime=get("atime") or "",
    )


def layer(element: Any, who: str) -> StepLayer:
    get = element.get
    return StepLayer(
        first=whole(get("startseqid"), who, "a first record"),
        last=whole(get("endseqid"), who, "a last record"),
        index=whole(get("stepindex"), who, "a step index"),
        step=whole(get("stepid"), who, "a step id"),
        cycle=whole(get("cycleid"), who, "a cycle id"),
        step_type=get("steptype") or "--",
        step_s=number(get("steptime"), who, "a step time") / 1000.0,
        capacity_Ah=number(get("cap"), who, "a capacity"),
    )
