#!/usr/bin/env bash
# Makes (or reuses) a virtualenv with pinned requirements and prints its python's path as the
# last line of stdout; everything else goes to stderr. The Python tools the tests run (the
# Dialpad SDK, schemathesis) each get one from here.
#
#   python-venv.sh REQUIREMENTS VENV CHECK
#
#   REQUIREMENTS  a pip requirements file, every version pinned
#   VENV          where the venv lives (under target/, so `cargo clean` removes it)
#   CHECK         Python code that must run in the venv once installed (e.g. `import dialpad`)
#   DIALBRIDGE_PYTHON  the interpreter to build it from (default: python3.11, else python3)
#
# Idempotent: a venv whose stamp matches the hash of the requirements and of the interpreter's
# version is reused as it is; otherwise it is removed and built anew. Runs are serialized with
# flock, so parallel tests may call it at once.
set -euo pipefail

[[ $# -eq 3 ]] || { echo "usage: python-venv.sh REQUIREMENTS VENV CHECK" >&2; exit 2; }
requirements="$1"
venv="$2"
check="$3"
name="$(basename "$(dirname "$requirements")")"

die() {
  echo "python-venv.sh ($name): error: $*" >&2
  exit 1
}

[[ -f "$requirements" ]] || die "missing $requirements"

if [[ -n "${DIALBRIDGE_PYTHON:-}" ]]; then
  base_python="$DIALBRIDGE_PYTHON"
elif command -v python3.11 >/dev/null 2>&1; then
  base_python=python3.11
elif command -v python3 >/dev/null 2>&1; then
  base_python=python3
else
  die "no python3.11 or python3 on PATH (set DIALBRIDGE_PYTHON to a Python >= 3.9)"
fi
command -v "$base_python" >/dev/null 2>&1 || die "interpreter '$base_python' not found"
base_version="$("$base_python" -c 'import sys; print(sys.version.split()[0])')" \
  || die "'$base_python' does not run"
"$base_python" -c 'import sys; sys.exit(sys.version_info < (3, 9))' \
  || die "$requirements needs Python >= 3.9; '$base_python' is $base_version"
"$base_python" -c 'import venv, ensurepip' 2>/dev/null \
  || die "'$base_python' lacks the venv/ensurepip modules (on Debian: apt-get install python3-venv)"

# What the venv must have been built from: the requirements and the interpreter's version.
want_hash="$({ cat "$requirements"; echo "python=$base_version"; } | sha256sum | cut -d' ' -f1)"
stamp="$venv/.dialbridge-requirements.sha256"
venv_python="$venv/bin/python"

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9

if [[ -f "$stamp" && "$(cat "$stamp")" == "$want_hash" && -x "$venv_python" ]] \
  && "$venv_python" -c "$check" >/dev/null 2>&1; then
  echo "python-venv.sh: reusing $venv (requirements unchanged)" >&2
  echo "$venv_python"
  exit 0
fi

echo "python-venv.sh: building $venv with $base_python $base_version" >&2
rm -rf "$venv"
"$base_python" -m venv "$venv" || die "'$base_python -m venv $venv' failed"

pip_log="$(mktemp)"
trap 'rm -f "$pip_log"' EXIT
if ! PIP_DISABLE_PIP_VERSION_CHECK=1 "$venv_python" -m pip install \
  --quiet --no-input --retries 2 --timeout 20 \
  --requirement "$requirements" >"$pip_log" 2>&1; then
  cat "$pip_log" >&2
  index="${PIP_INDEX_URL:-https://pypi.org/simple}"
  first="$(grep -m1 -oE '^[A-Za-z0-9_.-]+' "$requirements" || echo pip)"
  # Tell "PyPI is unreachable" apart from any other failure of pip.
  if ! reach="$("$venv_python" - "$index" "$first" 2>&1 <<'PY'
import sys, urllib.request
url = sys.argv[1].rstrip('/') + '/' + sys.argv[2] + '/'
try:
    urllib.request.urlopen(url, timeout=15).read(1)
except Exception as e:
    print(f'{type(e).__name__}: {e}')
    sys.exit(1)
PY
  )"; then
    rm -rf "$venv"
    die "pip cannot reach the package index $index ($reach); these tests need PyPI (or PIP_INDEX_URL pointing at a mirror) to install $requirements"
  fi
  rm -rf "$venv"
  die "pip install -r $requirements failed (see pip's output above); the package index $index is reachable"
fi

"$venv_python" -c "$check" \
  || { rm -rf "$venv"; die "$requirements was installed but '$check' fails"; }
echo "$want_hash" >"$stamp"
echo "python-venv.sh: ready: $venv" >&2
echo "$venv_python"
