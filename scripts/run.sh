#!/usr/bin/env bash
# Install the app's dependencies into .venv (once; later runs are a quick no-op) and start the dashboard on the
# built-in demo data. Extra arguments go to `streamlit run`, e.g. `bash scripts/run.sh --server.port 8600`.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
# scripts/serve.py = `streamlit run app.py` after loading the pages' modules, the demo sets and the CNN (exported to
# ONNX once), so neither the first visitor nor the first CNN search waits for them
exec .venv/bin/python scripts/serve.py --browser.gatherUsageStats false "$@"
