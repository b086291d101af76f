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


def test_eis_on_a_keithley_slot_is_refused(cli, store: Store, protocol_file) -> None:
    line = _refusal(
        cli,
        "queue",
        "submit",
        protocol_file("eis"),
        "--cell",
        "C1",
        "--slot",
        "B2",
        "--bench",
        BENCH_FILE,
    )
    assert "formation-then-eis" in line  # the protocol
    assert "slot B2" in line and "Keithley 2450 cannot do EIS" in line
    assert "step 4" in line and "PEIS" in line  # which step, and what it is
    _no_job_written(store)


def test_more_current_than_the_slot_allows_is_refused(cli, store: Store, protocol_file) -> None:
    # 3C of 2.4 mA is 7.2 mA; B2's hard limit is 5 mA.
    line = _refusal(
        cli,
        "queue",
        "submit",
        protocol_file("fast"),
        "--cell",
        "C1",
        "--slot",
        "B2",
        "--bench",
        BENCH_FILE,
    )
    assert "fast-charge" in line and "slot B2" in line
    assert "7.2 mA" in line and "at most 5 mA" in line
    assert "step 0" in line
    _no_job_written(store)
    # The same protocol fits A2 (10 mA), and the 1C discharge is not a problem anywhere.
    code, _out, err = cli(
        "queue",
        "submit",
        protocol_file("fast"),
        "--cell",
        "C1",
        "--slot",
        "A2",
        "--bench",
        BENCH_FILE,
        "--by",
        "kim",
        "--json",
    )
    assert code == 0, err
    assert store.get_job(1).slot == "A2"


def test_temperature_step_without_a_chamber_is_refused(cli, store: Store, protocol_file) -> None:
    line = _refusal(
        cli,
        "queue",
        "submit",
        protocol_file("hot"),
        "--cell",
        "C1",
        "--slot",
        "A2",
        "--bench",
        BENCH_FILE,
    )
    assert "hot-rest" in line and "slot A2 has no chamber" in line and "60 °C" in line
    _no_job_written(store)


@pytest.mark.slow
def test_refusal_through_a_real_process_has_no_traceback(tmp_path, protocol_file) -> None:
    from storage import open_store

    url = f"sqlite:///{tmp_path / 'p.db'}"
    with open_store(url) as s:
        s.add_cell("C1", active_mass_g=0.012, specific_capacity_mAh_g=200.0)
    result = subprocess.run(
        [
            *CELLBENCH,
            "queue",
            "submit",
            str(protocol_file("eis")),
            "--cell",
            "C1",
            "--slot",
            "B2",
            "--bench",
            str(BENCH_FILE),
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
    store: Store, bench, key: str, slot: str, overrides, expected: str
) -> None:
    with pytest.raises(SchedulerError) as err:
        queue.submit(
            store,
            bench,
            protocol_path_or_text=protocol_text(key),
            cell_name="C1",
            slot=slot,
            by="kim",
            overrides=overrides,
        )
    text = str(err.value)
    assert expected in text
    assert text.startswith(f"protocol {queue._load_protocol(protocol_text(key)).name} ")
    assert "\n" not in text
    assert store.list_jobs() == []


def test_repeated_problems_are_counted_not_repeated(store: Store, bench) -> None:
    text = protocol_text("eis").replace(
        "  - eis:", "  - eis: {f_start: 10 kHz, f_end: 1 Hz, amplitude: 10 mV}\n  - eis:"
    )
    with pytest.raises(SchedulerError) as err:
        queue.submit(store, bench, protocol_path_or_text=text, cell_name="C1", slot="B2", by="x")
    assert str(err.value).count("cannot do EIS") == 1
    assert "(and 1 later step)" in str(err.value)


def test_any_slot_job_lists_the_slots_that_fit(store: Store, bench) -> None:
    eis = queue.submit(
        store, bench, protocol_path_or_text=protocol_text("eis"), cell_name="C1", by="kim"
    )
    assert store.get_job(eis).slot is None
    assert store.get_job(eis).params["fits"] == ["A1", "A2"]  # not the Keithley
    hot = queue.submit(
        store, bench, protocol_path_or_text=protocol_text("hot"), cell_name="C1", by="kim"
    )
    assert store.get_job(hot).params["fits"] == ["A1"]  # the only chamber
    with pytest.raises(SchedulerError) as err:
        queue.submit(
            store,
            bench,
            protocol_path_or_text=protocol_text("hot"),
            cell_name="C1",
            by="kim",
            overrides={"temperature": "90 degC"},
        )
    text = str(err.value)
    assert text.startswith("protocol hot-rest fits no slot of bench test-bench: ")
    assert "slot A1 allows at most 80 °C" in text and "slot A2 has no chamber" in text


def test_accepted_job_keeps_protocol_overrides_and_estimate(
    store: Store, bench, protocol_file
) -> None:
    path = protocol_file("cycle")
    job_id = queue.submit(
        store,
        bench,
        protocol_path_or_text=path,
        cell_name="C1",
        slot="A2",
        priority=2,
        by="kim",
        overrides={"cycles": 3},
    )
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
    held = queue.submit(
        store, bench, protocol_path_or_text=path, cell_name="C1", slot="A2", by="kim", hold=True
    )
    assert store.get_job(held).state == "held"


def test_bad_submissions_are_one_sentence(store: Store, bench) -> None:
    with pytest.raises(SchedulerError, match="bench test-bench has no slot 'Z9'; its slots"):
        queue.submit(
            store,
            bench,
            protocol_path_or_text=protocol_text("rest"),
            cell_name="C1",
            slot="Z9",
            by="kim",
        )
    store.add_cell("bare")
    with pytest.raises(SchedulerError, match="cell bare has no capacity basis"):
        queue.submit(
            store, bench, protocol_path_or_text=protocol_text("cycle"), cell_name="bare", by="kim"
        )
    with pytest.raises(SchedulerError, match="needs a name for its history"):
        queue.submit(
            store, bench, protocol_path_or_text=protocol_text("rest"), cell_name="C1", by=" "
        )
    # A protocol with no C-rates runs on a cell without a capacity basis.
    assert queue.submit(
        store, bench, protocol_path_or_text=protocol_text("rest"), cell_name="bare", by="kim"
    )


def test_cli_errors_for_unknown_cell_and_bench(cli, store: Store, protocol_file) -> None:
    line = _refusal(
        cli, "queue", "submit", protocol_file("rest"), "--cell", "nope", "--bench", BENCH_FILE
    )
    assert "nope" in line
    line = _refusal(
        cli,
        "queue",
        "submit",
        protocol_file("rest"),
        "--cell",
        "C1",
        "--bench",
        "/nonexistent/bench.toml",
    )
    assert "/nonexistent/bench.toml" in line
