"""The BTS host's replies, as the real host writes them: an XML declaration, `<bts>` with
`<cmd>NAME_resp</cmd>` and the command's elements, CRLF between lines, then the frame
terminator. Layouts follow replies captured from a BTS 8.0 host (aurora-neware's test
fixtures, MIT), including the host's own spelling `donwload_resp` and `donwloadlog_resp`.

Values: voltage in V, current in A (negative = discharge), capacity in Ah, energy in Wh; a
record's `testtime` is the step's time in ms; `inquire` gives `relativetime` (step) and
`totaltime` (test) in s. The aux temperature is not in the references: this host adds
`auxtemp` (°C, the channel's first aux sensor) to `inquire` when the request has `aux="1"`
and to each record when the `download` request has `auxid="1"`.
"""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

from simulators.neware.channel import Channel, DataRecord, StepLayer, atime

TERMINATOR = b"\n\n#\r\n"
HEAD = '<?xml version="1.0" encoding="UTF-8"?>\r\n<bts version="1.0">\r\n'


def attrs(**values: object) -> str:
    return " ".join(f"{key}={quoteattr(str(value))}" for key, value in values.items())


def frame(cmd: str, *parts: str) -> str:
    """One reply document (without the terminator)."""
    body = "".join(f"  {p}\r\n" for p in parts)
    return f"{HEAD}  <cmd>{cmd}</cmd>\r\n{body}</bts>"


def listing(items: list[str], count: int | None = None) -> str:
    n = len(items) if count is None else count
    if not items:
        return f'<list count="{n}" />'
    inner = "".join(f"    {item}\r\n" for item in items)
    return f'<list count="{n}">\r\n{inner}  </list>'


def address(channel: Channel, *, ip: bool = True, chl_key: str = "chlid") -> dict[str, object]:
    devtype, devid, subdevid, chlid = channel.address
    out: dict[str, object] = {"ip": "127.0.0.1"} if ip else {}
    out.update(devtype=devtype, devid=devid, subdevid=subdevid)
    out[chl_key] = chlid
    return out


def number(value: float) -> str:
    return f"{value:.10g}"


def inquire_item(channel: Channel, aux: bool) -> str:
    p = channel.progress
    devtype, devid, subdevid, chlid = channel.address
    step = channel.file.steps.get(p.step_id) if channel.file is not None else None
    values: dict[str, object] = {"dev": f"{devtype}-{devid}-{subdevid}-{chlid}-0"}
    values["cycle_id"] = p.cycle
    if step is not None and channel.state != "finish":
        values["step_id"] = p.step_id
    values["step_type"] = channel._type_name(step) if step is not None else "--"
    values.update(
        workstatus=channel.state,
        barcode=channel.barcode,
        current=number(channel.current_A),
        voltage=number(channel.voltage_V),
        capacity=number(p.cap_Ah),
        energy=number(p.eng_Wh),
        totaltime=number(round(p.test_s, 1)),
        relativetime=number(round(p.step_s, 1)),
        open_or_close=0,
        log_code=channel.log[-1][1] if channel.log else 0,
    )
    if aux:
        values["auxtemp"] = number(round(channel.temperature_degC, 2))
    return f"<inquire {attrs(**values)} />"


def record_item(record: DataRecord, aux: bool) -> str:
    values: dict[str, object] = dict(
        seqid=record.seqid,
        stepid=record.stepid,
        cycleid=record.cycleid,
        steptype=record.steptype,
        testtime=number(record.step_ms),
        atime=atime(record.sim_s),
        volt=number(record.volt),
        curr=number(record.curr),
        cap=number(record.cap),
        eng=number(record.eng),
    )
    if aux:
        values["auxtemp"] = number(round(record.temp, 2))
    return f"<data {attrs(**values)} />"


def layer_item(layer: StepLayer) -> str:
    return "<data {} />".format(
        attrs(
            startseqid=layer.startseqid,
            endseqid=layer.endseqid,
            stepindex=layer.stepindex,
            stepid=layer.stepid,
            cycleid=layer.cycleid,
            steptype=layer.steptype,
            steptime=number(round(layer.steptime_ms, 1)),
            endatime=atime(layer.end_s),
            startvolt=number(layer.startvolt),
            endvolt=number(layer.endvolt),
            startcurr=number(layer.startcurr),
            endcurr=number(layer.endcurr),
            cap=number(layer.cap),
            eng=number(layer.eng),
            dcir=0,
        )
    )


def log_items(entries: Iterable[tuple[int, int, float]]) -> list[str]:
    return [
        f"<data {attrs(seqid=seqid, log_code=code, atime=atime(sim_s))} />"
        for seqid, code, sim_s in entries
    ]
