#!/usr/bin/env bash
# Create a benchmark-only environment with the AWS CLI (v1, from PyPI), outside the
# repository (in the user's cache folder), so git never sees it.
#
# awscli is never a dependency of stager; it lives only here, so that
# bench/sync.py can time `aws s3 sync` against the same S3 endpoint as stager.
#
#   bash bench/setup_awscli_env.sh            # creates ~/.cache/stager-bench/awscli-venv
#   AWSCLI_VENV=/tmp/av bash bench/setup_awscli_env.sh
#   PYTHON=python3.11 bash bench/setup_awscli_env.sh
set -euo pipefail

VENV="${AWSCLI_VENV:-${XDG_CACHE_HOME:-$HOME/.cache}/stager-bench/awscli-venv}"
PYTHON="${PYTHON:-python3}"

if [ ! -x "$VENV/bin/python" ]; then
    mkdir -p "$(dirname "$VENV")"
    "$PYTHON" -m venv "$VENV"
fi
"$VENV/bin/python" -m pip install --quiet awscli
"$VENV/bin/aws" --version
echo "ready: $VENV  (bench/sync.py finds it there, or at \$AWSCLI_VENV)"
