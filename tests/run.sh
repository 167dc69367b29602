#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, the official Python SDKs (openai,
# google-genai, anthropic), schemathesis against the management API, and real clients (Claude
# Code, Gemini CLI, Codex CLI, the openai Node SDK, the Vercel AI SDK) against a live gateway +
# simulator, and the panel in headless Chromium.
# Installs what a fresh machine lacks: Python packages into target/pyenv, the pinned clients
# (and Node.js) into tests/clients/node/node_modules, playwright-core into
# tests/browser/node_modules, and Debian's chromium and postgresql (when run as root).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== PostgreSQL (the store tests start their own throwaway cluster with initdb and pg_ctl)"
# Debian keeps initdb off PATH, under /usr/lib/postgresql/<version>/bin; the tests look there too.
# The package may start its own cluster on 5432: the tests leave it alone.
if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q postgresql
  else
    echo "The store tests need PostgreSQL's initdb and pg_ctl: run 'sudo apt-get install postgresql'." >&2
    exit 1
  fi
fi

echo "== cargo test"
cargo test --all-targets --locked

echo "== client SDK tests (openai, google-genai, anthropic)"
cargo build --locked --bin gcli2api
PY=${PYTHON:-python3}
if [ ! -x target/pyenv/bin/python ]; then
  "$PY" -m venv target/pyenv
fi
target/pyenv/bin/python -m pip install -q --disable-pip-version-check -r tests/clients/requirements.txt
GCLI2API_BIN="$PWD/target/debug/gcli2api" target/pyenv/bin/python -m pytest -q tests/clients

echo "== management API fuzzing (schemathesis against the served spec; any 5xx fails)"
target/pyenv/bin/python -m pip install -q --disable-pip-version-check 'schemathesis>=4,<5'
GCLI2API_BIN="$PWD/target/debug/gcli2api" tests/schemathesis.sh

echo "== real client tests (Claude Code, Gemini CLI, Codex CLI, openai Node SDK, Vercel AI SDK)"
# Versions (and the Node.js that runs them) are pinned in tests/clients/node/package.json.
# npm ci runs again only when the lock file changed since the last install.
clients=tests/clients/node
if ! cmp -s "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"; then
  npm ci --prefix "$clients" --no-audit --no-fund
  cp "$clients/package-lock.json" "$clients/node_modules/.installed-lock.json"
fi
GCLI2API_BIN="$PWD/target/debug/gcli2api" npm test --prefix "$clients"

echo "== browser tests (panel in headless Chromium)"
if [ ! -x /usr/bin/chromium ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
  else
    echo "The panel tests need Chromium at /usr/bin/chromium: run 'sudo apt-get install chromium'." >&2
    exit 1
  fi
fi
# A font with Chinese glyphs, so the zh-CN screenshots are readable (the tests pass without).
if ! fc-list :lang=zh 2>/dev/null | grep -q . && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q fonts-wqy-microhei || true
fi
if [ ! -d tests/browser/node_modules/playwright-core ] || [ ! -d tests/browser/node_modules/axe-core ]; then
  npm ci --prefix tests/browser --no-audit --no-fund
fi
# Every browser test file (each helper area has its own), one after the other.
for t in tests/browser/*.test.mjs; do
  echo "-- $t"
  GCLI2API_BIN="$PWD/target/debug/gcli2api" node "$t"
done

echo "== container image (static binary, FROM scratch, run with Podman)"
# Debian's podman and runc when missing (as root). Where containers cannot run at all, the test
# prints why and exits 77: reported as SKIPPED below, never as a pass.
if ! command -v podman >/dev/null || ! command -v runc >/dev/null; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q podman runc
  fi
fi
target/pyenv/bin/python -m pip install -q --disable-pip-version-check -r tests/container/requirements.txt
container=0
GCLI2API_BIN="$PWD/target/debug/gcli2api" target/pyenv/bin/python tests/container/test_image.py || container=$?
case $container in
  0) ;;
  77) echo "== NOTE: the container test was SKIPPED: containers cannot run on this machine (reason above)" ;;
  *) exit "$container" ;;
esac
