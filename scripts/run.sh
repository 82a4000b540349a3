#!/usr/bin/env bash
# Local desktop mode: install the app's dependencies into .venv (once; later runs are a quick no-op) and start the
# dashboard on the built-in demo data, reachable from this computer only (127.0.0.1), with the "Folder path" source
# on (DUPFINDER_LOCAL=1) and full error details. Extra arguments go to `streamlit run` and win over these defaults,
# e.g. `bash scripts/run.sh --server.port 8600`. To host the app for other people, do NOT use this script: see the
# README's "Hosting publicly" section.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.11 || command -v python3)}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
export DUPFINDER_LOCAL="${DUPFINDER_LOCAL:-1}"
exec .venv/bin/python -m streamlit run app.py --browser.gatherUsageStats false --server.address 127.0.0.1 \
    --client.showErrorDetails full "$@"
