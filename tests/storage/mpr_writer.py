"""Write small BioLogic .mpr files in the layout galvani reads (for import tests).

Module header (v1): shortname S10, longname S25, length u4, version u4, date S8. The data module
(version 2) holds n_points u4, n_columns u1, column ids u2, zero padding to byte 405, then records.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

MAGIC = b"BIO-LOGIC MODULAR FILE\x1a".ljust(48) + b"\x00\x00\x00\x00"
HEADER = np.dtype(
    [
        ("shortname", "S10"),
        ("longname", "S25"),
        ("length", "<u4"),
        ("version", "<u4"),
        ("date", "S8"),
    ]
)
# column id -> (galvani name, dtype); id 1 is the packed flags byte ("mode").
COLUMNS = {
    1: ("flags", "u1"),
    4: ("time/s", "<f8"),
    6: ("Ewe/V", "<f4"),
    8: ("I/mA", "<f4"),
    24: ("cycle number", "<f8"),
    131: ("Ns", "<u2"),
    32: ("freq/Hz", "<f4"),
    37: ("Re(Z)/Ohm", "<f4"),
    38: ("-Im(Z)/Ohm", "<f4"),
}


def _module(short: bytes, long: bytes, version: int, data: bytes, date: bytes) -> bytes:
    hdr = np.zeros(1, dtype=HEADER)
    hdr["shortname"], hdr["longname"] = short.ljust(10), long.ljust(25)
    hdr["length"], hdr["version"], hdr["date"] = len(data), version, date
    return b"MODULE" + hdr.tobytes() + data


def write_mpr(path: Path, columns: dict[int, np.ndarray], date: bytes = b"05/01/26") -> Path:
    """Write records whose fields are given by column id (in the order given)."""
    ids = list(columns)
    n = len(next(iter(columns.values())))
    dtype = np.dtype([(COLUMNS[c][0], COLUMNS[c][1]) for c in ids])
    rec = np.zeros(n, dtype=dtype)
    for c in ids:
        rec[COLUMNS[c][0]] = columns[c]
    head = np.array([n], "<u4").tobytes() + np.array([len(ids)], "u1").tobytes()
    head += np.array(ids, "<u2").tobytes()
    head = head.ljust(405, b"\x00")
    body = _module(b"VMP Set", b"Saved on", 0, b"\x00" * 16, date)
    body += _module(b"VMP data", b"Data", 2, head + rec.tobytes(), date)
    path.write_bytes(MAGIC + body)
    return path
