"""Configuration, payload encoding and the bounded buffer, without a broker."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import pint
import pytest

from scheduler.errors import SchedulerError
from scheduler.telemetry import Telemetry, TelemetryConfig

# ----------------------------------------------------------------------------- configuration


def test_bench_table_defaults_and_fields() -> None:
    config = TelemetryConfig.from_bench_table(
        {
            "broker": "mqtts://broker.lab:8884",
            "username": "bench7",
            "password_env": "BENCH7_MQTT_PASSWORD",
            "control": True,
            "buffer": 500,
        }
    )
    assert (config.host, config.port, config.tls) == ("broker.lab", 8884, True)
    assert config.control and config.buffer == 500
    assert TelemetryConfig.from_bench_table({"broker": "mqtts://b"}).port == 8883
    assert TelemetryConfig.from_bench_table({}).port == 1883


def test_parsed_bench_model_is_accepted(tmp_path: Path) -> None:
    """The daemon hands over ``bench.telemetry`` as parsed by the bench file loader."""
    from scheduler.bench import Bench

    example = Path(__file__).parents[2] / "examples" / "sim-bench-small.toml"
    bench_file = tmp_path / "bench.toml"
    bench_file.write_text(
        example.read_text() + '\n[telemetry]\nbroker = "mqtt://127.0.0.1:1884"\n'
        'username = "u"\ncontrol = true\nbuffer = 50\n'
    )
    bench = Bench.load(bench_file)
    config = TelemetryConfig.from_bench_table(bench.telemetry)
    assert (config.port, config.username, config.control, config.buffer) == (1884, "u", True, 50)


def test_control_without_username_is_refused_in_one_sentence() -> None:
    with pytest.raises(SchedulerError) as info:
        TelemetryConfig.from_bench_table({"control": True, "username": ""})
    text = str(info.value)
    assert "[telemetry]" in text and "control" in text and "username" in text
    assert "\n" not in text and text.endswith(".")


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"broker": "http://127.0.0.1:1883"}, ["broker", "mqtt://"]),
        ({"broker": "mqtt://user:secret@host"}, ["password_env"]),
        ({"broker": "mqtt://:1883"}, ["no host"]),
        ({"broker": "mqtt://host:99999"}, ["invalid port"]),
        ({"ca_file": "/etc/ca.pem"}, ["ca_file", "mqtts://"]),
        ({"buffer": 0}, ["buffer"]),
        ({"keepalive": 1}, ["keepalive"]),
        ({"password_env": "not a name", "username": "u"}, ["password_env"]),
        ({"qos": 2}, ["qos"]),
    ],
)
def test_bad_tables_name_the_key(table: dict[str, object], words: list[str]) -> None:
    with pytest.raises(SchedulerError) as info:
        TelemetryConfig.from_bench_table(table)
    text = str(info.value)
    assert text.startswith("Bench file [telemetry]")
    assert "\n" not in text
    for word in words:
        assert word in text


def test_password_comes_from_the_named_environment_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = TelemetryConfig(username="bench", password_env="CB_TEST_MQTT_PW")
    monkeypatch.delenv("CB_TEST_MQTT_PW", raising=False)
    with pytest.raises(SchedulerError, match=r"CB_TEST_MQTT_PW.*is not set"):
        Telemetry(config, "b1")
    monkeypatch.setenv("CB_TEST_MQTT_PW", "s3cret")
    assert config.password() == "s3cret"
    assert "s3cret" not in repr(config)


def test_missing_ca_file_is_reported() -> None:
    config = TelemetryConfig(broker="mqtts://127.0.0.1", ca_file="/nonexistent/ca.pem")
    with pytest.raises(SchedulerError, match=r"ca_file /nonexistent/ca.pem does not exist"):
        Telemetry(config, "b1")


@pytest.mark.parametrize("name", ["", "a/b", "a+", "#"])
def test_bench_and_slot_names_must_be_topic_segments(name: str) -> None:
    with pytest.raises(SchedulerError, match="MQTT topic segment"):
        Telemetry(TelemetryConfig(), name)
    telemetry = Telemetry(TelemetryConfig(), "ok")
    with pytest.raises(SchedulerError, match="slot name"):
        telemetry.slot_state(name, state="idle")


# ----------------------------------------------------------------------------- payloads


def _payloads(telemetry: Telemetry, kind: str) -> list[dict[str, object]]:
    source = telemetry.buffer.samples if kind == "sample" else telemetry.buffer.events
    return [json.loads(m.payload) for m in source]


def test_payloads_are_versioned_json_with_nan_as_null() -> None:
    telemetry = Telemetry(TelemetryConfig(), "b1")
    ureg = pint.UnitRegistry()
    telemetry.sample(
        "A1",
        voltage_V=np.float64(3.7),
        current_A=float("nan"),
        capacity_Ah=math.inf,
        cycle=np.int64(3),
        trace=np.array([1.0, np.nan]),
        pressure=ureg.Quantity(15.0, "MPa"),
    )
    (sample,) = _payloads(telemetry, "sample")
    assert sample["v"] == 1 and sample["slot"] == "A1"
    assert sample["voltage_V"] == 3.7 and sample["cycle"] == 3
    assert sample["current_A"] is None and sample["capacity_Ah"] is None
    assert sample["trace"] == [1.0, None]
    assert sample["pressure"] == {"value": 15.0, "unit": "megapascal"}
    assert str(sample["ts"]).endswith("Z")


def test_events_carry_increasing_sequence_numbers() -> None:
    telemetry = Telemetry(TelemetryConfig(), "b1")
    telemetry.event("safety_trip", "Slot A1 tripped.", slot="A1", v=99, seq=-5)
    telemetry.event("operator", "Job 3 paused.", job=3)
    first, second = _payloads(telemetry, "event")
    assert (first["kind"], first["message"], first["slot"]) == (
        "safety_trip",
        "Slot A1 tripped.",
        "A1",
    )
    assert first["v"] == 1, "reserved keys cannot be overridden by fields"
    assert second["seq"] == first["seq"] + 1


# ----------------------------------------------------------------------------- buffer


def test_full_buffer_drops_oldest_samples_first_and_keeps_latest_state() -> None:
    telemetry = Telemetry(TelemetryConfig(buffer=100), "b1")
    for i in range(30):
        telemetry.event("step_end", f"Step {i} ended.", step=i)
    for i in range(200):
        telemetry.sample("A1", n=i)
    for i in range(50):
        telemetry.slot_state("A1", step=i)
    assert telemetry.buffered == 100 == telemetry.peak_buffered
    samples = [p["n"] for p in _payloads(telemetry, "sample")]
    # 1 status + 1 slot state + 30 events leave room for the newest 68 samples.
    assert samples == list(range(132, 200))
    assert [p["step"] for p in _payloads(telemetry, "event")] == list(range(30))
    assert telemetry.dropped == {"samples": 132, "events": 0}
    state = telemetry.buffer.states["cellbench/v1/b1/slot/A1/state"]
    assert json.loads(state.payload)["step"] == 49


def test_events_are_dropped_oldest_first_only_when_no_samples_are_left() -> None:
    telemetry = Telemetry(TelemetryConfig(buffer=20), "b1")
    for i in range(5):
        telemetry.sample("A1", n=i)
    for i in range(25):
        telemetry.event("tick", f"Tick {i}.", i=i)
    assert telemetry.buffered == 20
    assert telemetry.dropped == {"samples": 5, "events": 6}
    assert [p["i"] for p in _payloads(telemetry, "event")] == list(range(6, 25))


def test_producers_do_not_block() -> None:
    telemetry = Telemetry(TelemetryConfig(buffer=1000), "b1")
    calls = []
    start = time.perf_counter()
    for i in range(5000):
        t0 = time.perf_counter()
        telemetry.sample("A1", voltage_V=3.0 + i * 1e-4, current_A=0.001)
        calls.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    # A call that waited for the network would take a connect or publish timeout (seconds);
    # the bounds leave room for a loaded CI machine.
    assert total < 1.0
    assert sorted(calls)[int(0.99 * len(calls))] < 0.005 and max(calls) < 0.25
    assert telemetry.buffered == 1000
