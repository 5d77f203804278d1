#!/usr/bin/env bash
# Proves the served OpenAPI document agrees with the server: runs schemathesis against
# GET /api/v1/openapi.json of a running dialbridge and fails on any 5xx and on any answer the
# document does not describe (its status, content type, headers or body schema).
#
#   scripts/schemathesis/run.sh --bin PATH            start `PATH serve --dev` on a free port with
#                                                     a fresh SQLite database, test it, stop it
#   scripts/schemathesis/run.sh --url URL --api-key KEY   test a server already running
#   ... -- ARGS                                       more schemathesis arguments
#
#   DIALBRIDGE_SCHEMATHESIS_EXAMPLES  test cases per operation and phase (default 10)
#   DIALBRIDGE_SCHEMATHESIS_SEED      the random seed (default 1, so runs repeat themselves)
#
# schemathesis is installed from requirements.txt into target/schemathesis-venv on first use
# (scripts/python-venv.sh). Exits 0 when every check passed.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="" url="" key=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin) bin="$2"; shift 2 ;;
    --url) url="${2%/}"; shift 2 ;;
    --api-key) key="$2"; shift 2 ;;
    --) shift; break ;;
    *) echo "run.sh: unknown argument $1 (see the header of $0)" >&2; exit 2 ;;
  esac
done
[[ -n "$bin" || -n "$url" ]] || { echo "run.sh: give --bin PATH or --url URL" >&2; exit 2; }

python="$(bash "$repo/scripts/python-venv.sh" "$here/requirements.txt" \
  "$repo/target/schemathesis-venv" 'import schemathesis' | tail -n1)"
schemathesis="$(dirname "$python")/schemathesis"

if [[ -z "$url" ]]; then
  work="$(mktemp -d)"
  port="$("$python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  url="http://127.0.0.1:$port"
  key="dialbridge-dev"
  env -u DIALBRIDGE_API_KEY -u DIALBRIDGE_MASTER_KEY -u DIALBRIDGE_DATABASE_URL \
    -u DIALBRIDGE_PUBLIC_URL RUST_LOG="${RUST_LOG:-warn}" \
    "$bin" serve --dev --listen "127.0.0.1:$port" --request-timeout-secs 10 \
    --database-url "sqlite://$work/data/dialbridge.db" >"$work/server.log" 2>&1 &
  server=$!
  trap 'kill "$server" 2>/dev/null; wait "$server" 2>/dev/null; rm -rf "$work"' EXIT
  for _ in $(seq 1 150); do
    "$python" -c "import urllib.request, sys; urllib.request.urlopen('$url/healthz', timeout=1)" \
      2>/dev/null && break
    kill -0 "$server" 2>/dev/null || { cat "$work/server.log" >&2; echo "run.sh: the server exited" >&2; exit 1; }
    sleep 0.2
  done
fi

echo "run.sh: schemathesis $("$python" -c 'import schemathesis; print(schemathesis.__version__)') against $url" >&2
status=0
# schemathesis keeps its own state (.schemathesis/) in the current folder: under target/.
mkdir -p "$repo/target/schemathesis-work"
cd "$repo/target/schemathesis-work"
"$schemathesis" run "$url/api/v1/openapi.json" \
  --header "Authorization: Bearer $key" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing \
  --max-examples "${DIALBRIDGE_SCHEMATHESIS_EXAMPLES:-10}" \
  --seed "${DIALBRIDGE_SCHEMATHESIS_SEED:-1}" \
  --workers 1 \
  --request-timeout 20 \
  --no-color \
  "$@" || status=$?
if [[ $status -ne 0 && -n "${server:-}" ]]; then
  echo "--- the server's log (errors and warnings)" >&2
  tail -n 100 "$work/server.log" >&2
fi
exit $status
