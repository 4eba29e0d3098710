"""Runs the real ``bedrock-gateway`` binary (simulated backend) for the session.

The binary is not built here: ``scripts/test-clients`` builds it once with
cargo. ``BEDROCK_GATEWAY_BIN`` names it; the default is
``target/debug/bedrock-gateway`` at the repository's root.
"""

from __future__ import annotations

import atexit
import json
import os
import queue
import signal
import subprocess
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator, List

import pytest

from bedrock_gateway_client import Client

REPO_ROOT = Path(__file__).resolve().parents[3]
STARTUP_TIMEOUT_S = 30.0
# Well under the --drain-timeout below: a stop that takes longer means a call
# (a cancelled stream, say) was still held open by the server.
STOP_TIMEOUT_S = 10.0


@dataclass
class Gateway:
    """A running gateway: its address and every log line it wrote so far."""

    addr: str
    process: "subprocess.Popen[str]"
    logs: List[dict] = field(default_factory=list)  # type: ignore[type-arg]


def _binary() -> Path:
    configured = os.environ.get("BEDROCK_GATEWAY_BIN")
    path = Path(configured) if configured else REPO_ROOT / "target" / "debug" / "bedrock-gateway"
    if not path.is_absolute():
        path = REPO_ROOT / path
    if not os.access(path, os.X_OK):
        pytest.fail(
            f"no gateway binary at {path}: run `cargo build --bin bedrock-gateway` "
            "(scripts/test-clients does) or set BEDROCK_GATEWAY_BIN"
        )
    return path


@pytest.fixture(scope="session")
def gateway() -> Iterator[Gateway]:
    process = subprocess.Popen(
        [
            str(_binary()),
            "--backend", "simulated",
            "--listen", "127.0.0.1:0",
            "--log-format", "json",
            "--simulated-token-delay", "2ms",
            "--drain-timeout", "20s",
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    # Should the tests end without the teardown below (a crash), still stop it.
    def kill_if_running() -> None:
        if process.poll() is None:
            process.kill()

    atexit.register(kill_if_running)
    lines: "queue.Queue[str | None]" = queue.Queue()
    logs: List[dict] = []  # type: ignore[type-arg]

    def drain() -> None:
        # Reads stderr to its end for the whole session, so the server never
        # blocks on a full pipe.
        assert process.stderr is not None
        for line in process.stderr:
            try:
                logs.append(json.loads(line))
            except ValueError:
                logs.append({"message": line.rstrip("\n")})
            lines.put(line)
        lines.put(None)

    reader = threading.Thread(target=drain, name="gateway-stderr", daemon=True)
    reader.start()

    addr = None
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    seen: List[str] = []
    while addr is None:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            process.kill()
            process.wait(timeout=10)
            pytest.fail(f"gateway did not log its address in {STARTUP_TIMEOUT_S}s:\n{''.join(seen)}")
        try:
            line = lines.get(timeout=remaining)
        except queue.Empty:
            continue
        if line is None:
            process.wait(timeout=10)
            pytest.fail(f"gateway exited with {process.returncode} before listening:\n{''.join(seen)}")
        seen.append(line)
        try:
            record = json.loads(line)
        except ValueError:
            continue
        if record.get("message") == "bedrock-gateway listening":
            addr = str(record["addr"])
            assert addr.startswith("127.0.0.1:"), addr

    gw = Gateway(addr=addr, process=process, logs=logs)
    try:
        yield gw
    finally:
        if process.poll() is None:
            started = time.monotonic()
            process.send_signal(signal.SIGTERM)
            try:
                code = process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
                reader.join(timeout=5)
                pytest.fail(f"gateway did not stop within {STOP_TIMEOUT_S}s of SIGTERM")
            elapsed = time.monotonic() - started
            reader.join(timeout=5)
            assert code == 0, f"gateway exited with {code} after SIGTERM"
            assert any(r.get("message") == "stopped" for r in logs), "gateway logged no 'stopped'"
            print(f"gateway stopped cleanly in {elapsed:.2f}s")
        else:
            pytest.fail(f"gateway died during the tests with exit code {process.returncode}")


@pytest.fixture(scope="session")
def client(gateway: Gateway) -> Iterator[Client]:
    with Client(gateway.addr) as c:
        yield c
