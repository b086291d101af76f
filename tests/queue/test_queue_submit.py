"""Submission: jobs are checked against the slot and refused with one clear reason."""

from __future__ import annotations

import subprocess

import pytest
from queue_fixtures import BENCH_FILE, CELLBENCH, protocol_text

from scheduler import queue
from scheduler.errors import SchedulerError
from storage import Store


def _refusal(cli, *args: str) -> str:
    code, out, err = cli(*args)
    assert code != 0
    assert "Traceback" not in out + err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("error: ")
    return lines[0]


def _no_job_written(store: Store) -> None:
    assert store.list_jobs() == []
    from sqlmodel import select

    from storage.models import Protocol

    with store.session() as s:
        assert s.exec(select(Protocol)).all() == []


def _submit_args(path, *, cell: str = "C1", slot: str | None = None, bench=BENCH_FILE) -> list:
    """`cellbench queue submit` arguments for the protocol at `path`."""
    return [
        "queue",
        "submit",
        path,
        "--cell",
        cell,
        *(["--slot", slot] if slot else []),
        "--bench",
        bench,
    ]


@pytest.mark.parametrize(
    ("key", "slot", "expected"),
    [
        # the protocol, the slot and why, which step and what it is
        (
            "eis",
            "B2",
            ["formation-then-eis", "slot B2", "Keithley 2450 cannot do EIS", "step 4", "PEIS"],
        ),
        # 3C of 2.4 mA is 7.2 mA; B2's hard limit is 5 mA.
        ("fast", "B2", ["fast-charge", "slot B2", "7.2 mA", "at most 5 mA", "step 0"]),
        ("hot", "A2", ["hot-rest", "slot A2 has no chamber", "60 °C"]),
    ],
)
def test_cli_refuses_a_job_the_slot_cannot_run(
    cli, store: Store, protocol_file, key: str, slot: str, expected: list[str]
) -> None:
    line = _refusal(cli, *_submit_args(protocol_file(key), slot=slot))
    for words in expected:
        assert words in line
    _no_job_written(store)


def test_a_protocol_refused_on_one_slot_fits_another(cli, store: Store, protocol_file) -> None:
    # The fast protocol fits A2 (10 mA), and the 1C discharge is not a problem anywhere.
    code, _out, err = cli(*_submit_args(protocol_file("fast"), slot="A2"), "--by", "kim", "--json")
    assert code == 0, err
    assert store.get_job(1).slot == "A2"


@pytest.mark.slow
def test_refusal_through_a_real_process_has_no_traceback(tmp_path, protocol_file) -> None:
    from storage import open_store

    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url) as s:
        s.add_cell("C1", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    result = subprocess.run(
        [
            *CELLBENCH,
            *map(str, _submit_args(protocol_file("eis"), slot="B2")),
            "--db",
            url,
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "Traceback" not in result.stderr + result.stdout
    [line] = [x for x in result.stderr.splitlines() if x.strip()]
    assert line.startswith("error: protocol formation-then-eis cannot run on slot B2: ")


@pytest.mark.parametrize(
    ("key", "slot", "overrides", "expected"),
    [
        ("pressed", "A2", None, "slot A2 has no pressure rig; the protocol's step 0"),
        ("pressed", "A1", {"pressure": "40 MPa"}, "sets 40 MPa but slot A1 allows at most 30"),
        ("hot", "A1", {"temperature": "90 degC"}, "sets 90 °C but slot A1 allows at most 80 °C"),
        ("high-voltage", "A1", None, "goes to 4.8 V, outside slot A1's hard limits 2–4.6 V"),
        ("high-voltage", "B2", None, "Keithley 2450 cannot run constant-voltage steps"),
    ],
)
def test_other_refusals_name_the_reason(
    store: Store, submit, key: str, slot: str, overrides, expected: str
) -> None:
    with pytest.raises(SchedulerError) as err:
        submit(key, slot=slot, overrides=overrides)
    text = str(err.value)
    assert expected in text
    assert text.startswith(f"protocol {queue._load_protocol(protocol_text(key)).name} ")
    assert "\n" not in text
    assert store.list_jobs() == []


def test_repeated_problems_are_counted_not_repeated(submit) -> None:
    text = protocol_text("eis").replace(
        "  - eis:", "  - eis: {f_start: 10 kHz, f_end: 1 Hz, amplitude: 10 mV}\n  - eis:"
    )
    with pytest.raises(SchedulerError) as err:
        submit(text, slot="B2", by="x")
    assert str(err.value).count("cannot do EIS") == 1
    assert "(and 1 later step)" in str(err.value)


def test_any_slot_job_lists_the_slots_that_fit(store: Store, submit) -> None:
    eis = submit("eis")
    assert store.get_job(eis).slot is None
    assert store.get_job(eis).params["fits"] == ["A1", "A2"]  # not the Keithley
    hot = submit("hot")
    assert store.get_job(hot).params["fits"] == ["A1"]  # the only chamber
    with pytest.raises(SchedulerError) as err:
        submit("hot", overrides={"temperature": "90 degC"})
    text = str(err.value)
    assert text.startswith("protocol hot-rest fits no slot of bench test-bench: ")
    assert "slot A1 allows at most 80 °C" in text and "slot A2 has no chamber" in text


def test_accepted_job_keeps_protocol_overrides_and_estimate(
    store: Store, submit, protocol_file
) -> None:
    path = protocol_file("cycle")
    job_id = submit(path, slot="A2", priority=2, overrides={"cycles": 3})
    job = store.get_job(job_id)
    assert (job.state, job.priority, job.slot, job.bench) == ("queued", 2, "A2", "test-bench")
    assert store.get_protocol(job.protocol_id).source_text == path.read_text()
    assert job.cell_id == store.get_cell("C1").id
    params = job.params
    assert params["overrides"] == {"cycles": 3}
    assert "= 2.4 mA" in params["capacity_basis"]
    # 3 cycles of a 0.5C charge and discharge: 3 × 2 × 2 h, from the plan's own estimate.
    assert params["estimate"]["typical_s"] == pytest.approx(3 * 2 * 7200.0)
    assert params["estimate"]["resources"]["max_abs_current_A"] == pytest.approx(1.2e-3)
    held = submit(path, slot="A2", hold=True)
    assert store.get_job(held).state == "held"


def test_bad_submissions_are_one_sentence(store: Store, submit) -> None:
    with pytest.raises(SchedulerError, match="bench test-bench has no slot 'Z9'; its slots"):
        submit("rest", slot="Z9")
    store.add_cell("bare")
    with pytest.raises(SchedulerError, match="cell bare has no capacity basis"):
        submit("cycle", cell_name="bare")
    with pytest.raises(SchedulerError, match="needs a name for its history"):
        submit("rest", by=" ")
    # A protocol with no C-rates runs on a cell without a capacity basis.
    assert submit("rest", cell_name="bare")


def test_cli_errors_for_unknown_cell_and_bench(cli, store: Store, protocol_file) -> None:
    line = _refusal(cli, *_submit_args(protocol_file("rest"), cell="nope"))
    assert "nope" in line
    line = _refusal(cli, *_submit_args(protocol_file("rest"), bench="/nonexistent/bench.toml"))
    assert "/nonexistent/bench.toml" in line
