#!/usr/bin/env bash
# Install the app's dependencies into .venv (once; later runs are a quick no-op) and start the dashboard on the
# built-in demo data. Extra arguments go to `streamlit run`, e.g. `bash scripts/run.sh --server.port 8600`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# one-off work off the first visitor's path: the CNN's ONNX export and the demo sets (a no-op once done)
.venv/bin/python -m core warmup >/dev/null || true
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false "$@"
