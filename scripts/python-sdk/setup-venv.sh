#!/usr/bin/env bash
# Makes (or reuses) the virtualenv with the official Dialpad Python SDK and the official MCP
# Python SDK that scripts/python-sdk/sdk_check.py and mcp_check.py run in, and prints its python's path as the last line
# of stdout (see scripts/python-venv.sh). Everything else goes to stderr.
#
#   DIALBRIDGE_PY_VENV   where the venv lives (default: <repo>/target/python-sdk-venv)
#   DIALBRIDGE_PYTHON    the interpreter to build it from (default: python3.11, else python3)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exec bash "$repo/scripts/python-venv.sh" "$here/requirements.txt" \
  "${DIALBRIDGE_PY_VENV:-$repo/target/python-sdk-venv}" \
  'import dialpad; from dialpad import DialpadClient, AsyncDialpadClient; import mcp'
