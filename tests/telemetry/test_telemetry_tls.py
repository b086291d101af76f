"""mqtts:// with a lab CA: the bench trusts exactly the CA named by ca_file."""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from mqtt_support import Mosquitto, Recorder, unavailable, wait_until

from scheduler.telemetry import Telemetry, TelemetryConfig

pytestmark = pytest.mark.mqtt


def _make_certificates(folder: Path) -> tuple[Path, Path, Path]:
    """A throwaway CA and a server certificate for 127.0.0.1 (EC keys: fast to make)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        unavailable("no openssl executable to make test certificates")
    ca_key, ca_crt = folder / "ca.key", folder / "ca.crt"
    key, csr, crt = folder / "server.key", folder / "server.csr", folder / "server.crt"
    ext = folder / "san.ext"
    ext.write_text("subjectAltName=IP:127.0.0.1\n")
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    run = lambda *args: subprocess.run([openssl, *args], check=True, capture_output=True)  # noqa: E731
    run("req", "-x509", *ec, "-keyout", ca_key, "-out", ca_crt, "-days", "1", "-subj", "/CN=lab CA")
    run("req", *ec, "-keyout", key, "-out", csr, "-subj", "/CN=127.0.0.1")
    run("x509", "-req", "-in", csr, "-CA", ca_crt, "-CAkey", ca_key, "-CAcreateserial",
        "-out", crt, "-days", "1", "-extfile", ext)  # fmt: skip
    return ca_crt, crt, key


async def test_tls_with_the_lab_ca(mosquitto: Callable[..., Mosquitto], tmp_path: Path) -> None:
    ca, crt, key = _make_certificates(tmp_path)
    broker = mosquitto(
        ["allow_anonymous true", f"cafile {ca}", f"certfile {crt}", f"keyfile {key}"], name="tls"
    )
    url = f"mqtts://127.0.0.1:{broker.port}"
    context = ssl.create_default_context(cafile=str(ca))
    async with Recorder(
        "127.0.0.1", broker.port, "cellbench/v1/tls1/#", tls_context=context
    ) as rec:
        async with Telemetry(TelemetryConfig(broker=url, ca_file=str(ca)), "tls1") as telemetry:
            telemetry.slot_state("A1", state="idle")
            telemetry.event("note", "Over TLS.")
            await wait_until(lambda: rec.events("note") and rec.on("/slot/A1/state"))
            assert telemetry.connected and telemetry.error is None

    # Without the lab CA the broker's certificate is not trusted: a clear error, no connection.
    untrusting = Telemetry(TelemetryConfig(broker=url, reconnect_min_s=0.05), "tls2")
    await untrusting.start()
    try:
        await wait_until(lambda: untrusting.error is not None, what="the TLS error")
        assert untrusting.error.startswith(f"Cannot reach MQTT broker {url}")
        assert "CERTIFICATE_VERIFY_FAILED" in untrusting.error
        assert not untrusting.connected
    finally:
        await untrusting.stop(flush_s=1)
