"""Starts `gcli2api --demo` (gateway + in-process Google simulator) for the SDK tests."""
import os
import socket
import subprocess
import time
import urllib.request

import pytest

API_KEY = "client-test-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# Every SDK test runs against the demo's pool of all four credential kinds, and again against a
# pool of API keys only (Gemini API and Vertex express keys): the official upstreams serve the
# same surfaces as Code Assist.
POOLS = {
    "all-kinds": "",
    "api-keys-only": "gemini_api_key,vertex_express_key",
}


def start_demo(kinds: str, extra_env: dict | None = None):
    """Starts `gcli2api --demo` with credentials of `kinds` (all four when empty) and any
    `extra_env`; returns the process and its base URL once it is healthy."""
    binary = os.environ.get("GCLI2API_BIN", "target/debug/gcli2api")
    port = _free_port()
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOST": "127.0.0.1",
        "PORT": str(port),
        "PASSWORD": API_KEY,
        "LOG_LEVEL": "warn",
        "GCLI2API_DEMO_KINDS": kinds,
        **(extra_env or {}),
    }
    proc = subprocess.Popen([binary, "--demo"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    base = f"http://127.0.0.1:{port}"
    deadline = time.time() + 60
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("gcli2api --demo exited early:\n" + proc.stdout.read())
        if time.time() > deadline:
            proc.kill()
            raise RuntimeError("gcli2api --demo did not become healthy")
        time.sleep(0.2)
    return proc, base


def stop_demo(proc):
    proc.terminate()
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="session", params=list(POOLS))
def gateway(request):
    proc, base = start_demo(POOLS[request.param])
    yield base
    stop_demo(proc)


@pytest.fixture(scope="session")
def gateway_without_embeddings():
    """A pool of the kinds that cannot embed: Code Assist and a Vertex express key."""
    proc, base = start_demo("code_assist,vertex_express_key")
    yield base
    stop_demo(proc)
