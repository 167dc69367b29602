#!/usr/bin/env bash
# The whole test suite: Rust unit + integration tests, then the official Python SDKs against a
# live gateway + simulator. Installs the Python packages it needs into target/pyenv.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo test"
cargo test --all-targets --locked

echo "== client SDK tests (openai, google-genai)"
cargo build --locked --bin gcli2api
PY=${PYTHON:-python3}
if [ ! -x target/pyenv/bin/python ]; then
  "$PY" -m venv target/pyenv
fi
target/pyenv/bin/python -m pip install -q --disable-pip-version-check -r tests/clients/requirements.txt
GCLI2API_BIN="$PWD/target/debug/gcli2api" target/pyenv/bin/python -m pytest -q tests/clients

echo "== browser tests (panel in headless Chromium)"
if [ ! -d tests/browser/node_modules/playwright-core ]; then
  npm ci --prefix tests/browser --no-audit --no-fund
fi
GCLI2API_BIN="$PWD/target/debug/gcli2api" node tests/browser/panel.test.mjs
