"""What the Python test suites (tests/readers, tests/hive, airflow/tests) share: the fixture
chain (`make chain`) served by a real anvil, and its manifest."""

from __future__ import annotations

import contextlib
import json
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CHAIN = ROOT / ".chain"


def rpc(url: str, method: str, params: list):
    body = json.dumps({"jsonrpc": "2.0", "id": 1, "method": method, "params": params}).encode()
    req = urllib.request.Request(url, body, {"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)["result"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_manifest() -> dict:
    return json.loads((CHAIN / "manifest.json").read_text())


@pytest.fixture(scope="module")
def manifest() -> dict:
    """The fixture chain's expected counts (a pytest fixture: import it into a test module)."""
    return load_manifest()


@pytest.fixture(scope="module")
def node():
    """The URL of an anvil serving the fixture chain, for a test module (a pytest fixture)."""
    with anvil() as url:
        yield url


@contextlib.contextmanager
def anvil():
    """A real anvil loaded with the fixture chain; yields its URL once it answers."""
    binary = next((ROOT / "scripts/chain/node_modules/@foundry-rs").glob("anvil-*/bin/anvil"))
    port = free_port()
    proc = subprocess.Popen(
        [binary, "--host", "127.0.0.1", "--port", str(port), "--order", "fifo", "--silent",
         "--load-state", CHAIN / "state.json"],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                rpc(url, "eth_blockNumber", [])
                break
            except OSError:
                assert proc.poll() is None, f"anvil exited ({proc.returncode})"
                assert time.time() < deadline, "anvil did not start within 60 s"
                time.sleep(0.05)
        yield url
    finally:
        proc.kill()
        proc.wait()
