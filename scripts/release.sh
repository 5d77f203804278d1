#!/usr/bin/env bash
# Builds the release binary of dialbridge for Linux x86-64: stripped, named for its version
# and target, with its SHA-256, into dist/ (or the folder given with --out).
#
#   scripts/release.sh [--out DIR] [--allow-dirty]
#
# The binary names the commit it was built from (`dialbridge --version`), so the tree must be
# clean unless --allow-dirty. aarch64 is not built: its Rust standard library comes only
# through rustup from the Rust project's servers, and Debian's cross toolchain is for Debian's
# own rustc, not this one.
set -euo pipefail

out=dist
allow_dirty=false
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="${2:?--out needs a folder}"; shift 2 ;;
        --allow-dirty) allow_dirty=true; shift ;;
        -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "release.sh: unknown argument $1 (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-gnu
host=$(rustc -vV | sed -n 's/^host: //p')
if [ "$host" != "$target" ]; then
    echo "release.sh: builds $target on a $target host; this one is $host" >&2
    exit 1
fi
if ! $allow_dirty && [ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ]; then
    echo "release.sh: the tree has uncommitted changes; commit them (or pass --allow-dirty)" >&2
    exit 1
fi

cargo build --profile dist --locked -p dialbridge
version=$(target/dist/dialbridge --version | awk '{print $2}')
name="dialbridge-$version-$target"
mkdir -p "$out"
strip --strip-all -o "$out/$name" target/dist/dialbridge
(cd "$out" && sha256sum "$name" > "$name.sha256")
"$out/$name" --version
echo "$out/$name ($(du -h "$out/$name" | cut -f1))"
cat "$out/$name.sha256"
