#!/usr/bin/env python3
"""The container image, built and run for real with Podman.

Builds the static binary (dev profile, .config/static.toml) and the image from Containerfile,
then runs the gateway in it with DATA_DIR=/data on a named volume, pointed at the Google
simulator running on the host. From the host: the health check turns healthy, a Gemini API key
is imported through the management API, a chat goes through, and after the container is
replaced by a new one on the same volume the key is still there and still serves. Also checks
the image's metadata (non-root user, /data volume, port, labels) and that compose.yaml is
accepted by podman-compose.

Exit codes: 0 passed, 1 failed, 77 skipped because containers cannot run on this machine (the
reason is printed; REQUIRE_CONTAINERS=1 turns a skip into a failure).

Podman runs with tests/container/containers.conf, the vfs storage driver and its own storage
under target/containers, so it works on machines whose defaults cannot run a container and
never touches the machine's other images.
"""
import json
import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
IMAGE = "localhost/gcli2api:test"
STATIC_BIN = "target/x86_64-unknown-linux-gnu/debug/gcli2api"
HOST_BIN = os.environ.get("GCLI2API_BIN", "target/debug/gcli2api")
STORE = os.path.join(ROOT, "target", "containers")
PODMAN = [
    "podman",
    "--storage-driver", "vfs",
    "--root", os.path.join(STORE, "storage"),
    "--runroot", os.path.join(STORE, "run"),
]
ENV = dict(os.environ, CONTAINERS_CONF=os.path.join(ROOT, "tests", "container", "containers.conf"))
SKIP = 77
UPSTREAM_SETTINGS = [
    "CODE_ASSIST_ENDPOINT", "OAUTH_PROXY_URL", "GOOGLEAPIS_PROXY_URL", "RESOURCE_MANAGER_API_URL",
    "SERVICE_USAGE_API_URL", "METADATA_SERVICE_URL", "GEMINI_API_URL", "VERTEX_API_URL",
]


class Skip(Exception):
    pass


def log(msg):
    print(f"[container] {msg}", flush=True)


def podman(*args, check=True, timeout=300):
    r = subprocess.run(PODMAN + list(args), env=ENV, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    if check and r.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} exited {r.returncode}:\n{r.stdout}{r.stderr}")
    return r


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method, url, body=None, key=None, timeout=30):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if key:
        req.add_header("Authorization", f"Bearer {key}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(errors="replace")


def check_podman_works():
    """Raises Skip when this machine cannot use Podman at all."""
    if shutil.which("podman") is None:
        raise Skip("podman is not installed (tests/run.sh installs Debian's podman and runc when run as root)")
    r = podman("info", "--format", "{{.Host.OCIRuntime.Name}} {{.Host.CgroupManager}} cgroup{{.Host.CgroupsVersion}}", check=False)
    if r.returncode != 0:
        raise Skip(f"'podman info' fails here:\n{r.stderr.strip()}")
    log(f"podman: {r.stdout.strip()}, storage vfs under {os.path.relpath(STORE, ROOT)}")


def needs_loader(path):
    """Whether an ELF64 executable names a program interpreter (PT_INTERP): a dynamic one does,
    a static one does not."""
    with open(path, "rb") as f:
        head = f.read(64)
        assert head[:5] == b"\x7fELF\x02", f"{path} is not an ELF64 file"
        phoff = int.from_bytes(head[0x20:0x28], "little")
        phentsize = int.from_bytes(head[0x36:0x38], "little")
        phnum = int.from_bytes(head[0x38:0x3A], "little")
        f.seek(phoff)
        table = f.read(phentsize * phnum)
    pt_interp = 3
    return any(int.from_bytes(table[i:i + 4], "little") == pt_interp for i in range(0, len(table), phentsize))


def build_image():
    t0 = time.monotonic()
    subprocess.run(["cargo", "build", "--locked", "--config", ".config/static.toml", "--bin", "gcli2api"],
                   cwd=ROOT, check=True)
    log(f"static dev build: {time.monotonic() - t0:.0f} s")
    path = os.path.join(ROOT, STATIC_BIN)
    assert not needs_loader(path), f"{STATIC_BIN} is dynamically linked: it cannot run FROM scratch"
    log(f"binary: {STATIC_BIN}, {os.path.getsize(path) / 1e6:.1f} MB, static (no program interpreter)")
    version = next(l.split('"')[1] for l in open(os.path.join(ROOT, "Cargo.toml")) if l.startswith("version"))
    podman("rmi", "--force", IMAGE, check=False)
    t0 = time.monotonic()
    podman("build", "--format", "docker", "--build-arg", f"BINARY={STATIC_BIN}", "--build-arg", f"VERSION={version}",
           "-t", IMAGE, "-f", "Containerfile", ".")
    podman("image", "prune", "--force", check=False)
    size = int(podman("image", "inspect", IMAGE, "--format", "{{.Size}}").stdout.strip())
    log(f"image built in {time.monotonic() - t0:.1f} s: {IMAGE}, {size / 1e6:.1f} MB (dev-profile binary; "
        f"the release image is built the same way)")
    return version


def check_metadata(version):
    cfg = json.loads(podman("image", "inspect", IMAGE).stdout)[0]["Config"]
    assert cfg.get("User") == "10001:10001", cfg.get("User")
    assert "/data" in (cfg.get("Volumes") or {}), cfg.get("Volumes")
    assert "7861/tcp" in (cfg.get("ExposedPorts") or {}), cfg.get("ExposedPorts")
    env = dict(e.split("=", 1) for e in cfg.get("Env", []))
    assert env.get("HOST") == "0.0.0.0" and env.get("DATA_DIR") == "/data", env
    labels = cfg.get("Labels") or {}
    assert labels.get("org.opencontainers.image.version") == version, labels
    assert labels.get("org.opencontainers.image.licenses"), labels
    assert "org.opencontainers.image.source" in labels, labels
    health = json.loads(podman("image", "inspect", IMAGE, "--format", "{{json .HealthCheck}}").stdout)
    assert health and health["Test"][-1] == "healthcheck", health
    log(f"metadata: user {cfg['User']}, volume /data, port 7861, healthcheck {' '.join(health['Test'][1:])}, "
        f"labels {', '.join(f'{k}={v!r}' for k, v in sorted(labels.items()) if k.startswith('org.opencontainers'))}")


def probe():
    """The image's own binary, run once: says whether containers can run here at all."""
    r = podman("run", "--rm", IMAGE, "tls-roots", check=False)
    # Podman's own failures: 125 (podman), 126 and 127 (the runtime). When the runtime could
    # not even set the container up (cgroups, rlimits, namespaces) this machine cannot run
    # containers; a failure to exec the image's binary is the image's fault.
    if r.returncode in (125, 126, 127) and 'exec: "' not in r.stderr:
        raise Skip(f"podman cannot start a container here:\n{r.stderr.strip()}")
    assert r.returncode == 0, f"tls-roots exited {r.returncode}:\n{r.stdout}{r.stderr}"
    total, bundled, extra = roots_counts(r.stdout)
    # No system store in the image: exactly the bundled roots, and well over 100 of them.
    assert bundled > 100 and extra == 0 and total == bundled, r.stdout
    log(f"tls-roots in the image: {r.stdout.strip()}")
    # A CA file mounted and named by SSL_CERT_FILE (a company proxy's, say) is trusted too.
    host_bundle = "/etc/ssl/certs/ca-certificates.crt"
    if os.path.exists(host_bundle):
        r = podman("run", "--rm", "--volume", f"{host_bundle}:/ca.crt:ro", "--env", "SSL_CERT_FILE=/ca.crt",
                   IMAGE, "tls-roots")
        log(f"tls-roots with the host's CA file as SSL_CERT_FILE: {r.stdout.strip()}")
        assert roots_counts(r.stdout)[1] == bundled, r.stdout


def roots_counts(text):
    """(total, bundled, from the system store) from `gcli2api tls-roots`."""
    words = text.replace(":", " ").split()
    return int(words[0]), int(words[words.index("bundled") - 1]), int(words[words.index("more") - 1])


def wait_healthy(name, since, timeout=60):
    """`podman healthcheck run` runs the image's HEALTHCHECK (`gcli2api healthcheck`) now."""
    deadline = since + timeout
    last = ""
    while time.monotonic() < deadline:
        r = podman("healthcheck", "run", name, check=False)
        if r.returncode == 0:
            return time.monotonic() - since
        last = (r.stdout + r.stderr).strip()
        state = podman("inspect", name, "--format", "{{.State.Status}}", check=False).stdout.strip()
        if state in ("exited", "stopped"):
            break
        time.sleep(0.2)
    logs = podman("logs", name, check=False)
    raise AssertionError(f"{name} not healthy ({last}); its log:\n{logs.stdout}{logs.stderr}")


def compose_config():
    # Next to the interpreter: tests/run.sh installs it into target/pyenv.
    tool = os.path.join(os.path.dirname(sys.executable), "podman-compose")
    if not os.path.exists(tool):
        raise AssertionError(f"no {tool}: pip install -r tests/container/requirements.txt")
    with tempfile.TemporaryDirectory() as d:
        # compose.yaml reads .env; an example one, as the README shows.
        shutil.copy(os.path.join(ROOT, "compose.yaml"), d)
        with open(os.path.join(d, ".env"), "w") as f:
            f.write("PASSWORD=example-password\n")
        r = subprocess.run([tool, "-f", "compose.yaml", "config"], cwd=d, capture_output=True, text=True, env=ENV)
    assert r.returncode == 0, f"podman-compose config refused compose.yaml:\n{r.stdout}{r.stderr}"
    assert "image: gcli2api:latest" in r.stdout and "gcli2api-data:/data" in r.stdout, r.stdout
    log("podman-compose config accepts compose.yaml:\n" + r.stdout.rstrip())


def run_gateway(tag, volume, env_file, port):
    name = f"gcli2api-test-{tag}-{os.getpid()}"
    t0 = time.monotonic()
    # Host networking: the gateway's upstream URLs must be https unless they are loopback, and
    # the simulator speaks plain http, so the container shares the host's loopback (the env
    # file gives it HOST=127.0.0.1 and its own PORT).
    podman("run", "--detach", "--name", name, "--network", "host",
           "--volume", f"{volume}:/data", "--env-file", env_file, IMAGE)
    took = wait_healthy(name, t0)
    log(f"{tag}: healthy {took:.2f} s after 'podman run'")
    return name


def stop(name):
    podman("stop", "--time", "10", name, check=False)
    podman("rm", "--force", "--volumes", name, check=False)


def main():
    check_podman_works()
    version = build_image()
    check_metadata(version)
    probe()
    compose_config()

    sim_port = free_port()
    # The container shares the host's network, so it reaches the simulator on loopback.
    sim = subprocess.Popen([HOST_BIN, "simulate-google", "--listen", f"127.0.0.1:{sim_port}"], cwd=ROOT,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    volume = f"gcli2api-test-{os.getpid()}"
    containers = []
    tmp = tempfile.TemporaryDirectory()
    try:
        sim_local = f"http://127.0.0.1:{sim_port}"
        for _ in range(100):
            try:
                urllib.request.urlopen(sim_local + "/__sim/models", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
        status, key = http("POST", sim_local + "/__sim/api-keys", {})
        assert status == 200, key

        password = "container-" + secrets.token_hex(8)
        env_file = os.path.join(tmp.name, ".env")
        port = free_port()
        with open(env_file, "w") as f:
            f.write(f"PASSWORD={password}\nLOG_LEVEL=info\nHOST=127.0.0.1\nPORT={port}\n")
            for k in UPSTREAM_SETTINGS:
                # A name, not an address: the static binary resolves it in-process (/etc/hosts).
                f.write(f"{k}=http://localhost:{sim_port}\n")
        podman("volume", "create", volume)
        base = f"http://127.0.0.1:{port}"

        first = run_gateway("first", volume, env_file, port)
        containers.append(first)
        status, report = http("POST", base + "/api/v1/credentials/keys",
                              {"kind": "gemini_api_key", "keys": key["key"]}, key=password)
        assert status == 200, report
        log(f"first: key imported through the management API: {json.dumps(report)[:160]}")
        chat(base, password, "through the container")

        stop(first)
        containers.remove(first)
        # A new container on the same volume, with no credential in its environment.
        second = run_gateway("second", volume, env_file, port)
        containers.append(second)
        status, listed = http("GET", base + "/api/v1/credentials", key=password)
        assert status == 200, listed
        kinds = [c["kind"] for c in listed]
        assert kinds == ["gemini_api_key"], listed
        log(f"second: the imported key survived the restart ({len(kinds)} credential, {kinds[0]})")
        chat(base, password, "after the restart")
    finally:
        for c in containers:
            stop(c)
        podman("volume", "rm", "--force", volume, check=False)
        sim.terminate()
        sim.wait(timeout=10)
        tmp.cleanup()


def chat(base, password, text):
    status, body = http("POST", base + "/v1/chat/completions",
                        {"model": "gemini-2.5-flash", "messages": [{"role": "user", "content": text}]}, key=password)
    assert status == 200, body
    answer = body["choices"][0]["message"]["content"]
    assert f"Echo: {text}" in answer, answer
    log(f"chat from the host: {answer!r}")


if __name__ == "__main__":
    try:
        main()
    except Skip as e:
        print(f"\n[container] SKIPPED: containers cannot run on this machine: {e}\n", flush=True)
        if os.environ.get("REQUIRE_CONTAINERS") == "1":
            print("[container] REQUIRE_CONTAINERS=1: a skip is a failure", flush=True)
            sys.exit(1)
        sys.exit(SKIP)
    except AssertionError as e:
        print(f"[container] FAILED: {e}", flush=True)
        sys.exit(1)
    log("passed")
