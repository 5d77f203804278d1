#!/usr/bin/env bash
# Fuzzes each target of crates/dialbridge-fuzz with libFuzzer through bolero, one after the
# other, on the stable toolchain (no sanitizer: sanitizers need nightly).
#
#   scripts/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]
#
#   SECONDS-PER-TARGET  how long each target runs (default 60)
#   TARGET              webhook_ingress, workflow_definition, template_evaluation, action_input
#                       (default: all four)
#   CARGO_BOLERO        the cargo-bolero to use (default: installed with `cargo install` when
#                       absent, the version matching the bolero crate in Cargo.lock)
#
# Each target starts from its seed corpus (tests/__fuzz__/TARGET/corpus, committed) plus what
# earlier runs found (target/fuzz-corpus/TARGET, not committed). An input that fails a target
# is written to tests/__fuzz__/TARGET/crashes, which `cargo test -p dialbridge-fuzz` replays:
# fix the bug, then keep the file as the regression. Exits non-zero when a target failed.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(webhook_ingress workflow_definition template_evaluation action_input)
fuzz_dir=crates/dialbridge-fuzz/tests/__fuzz__

cargo_bolero="${CARGO_BOLERO:-}"
if [[ -z "$cargo_bolero" ]]; then
  if ! command -v cargo-bolero >/dev/null; then
    version="$(awk '/^name = "bolero-engine"$/ { getline; gsub(/[^0-9.]/, ""); print }' Cargo.lock)"
    # cargo-bolero's minor version follows the bolero crates'.
    cargo install --locked --no-default-features cargo-bolero --version "~${version%.*}"
  fi
  cargo_bolero=cargo-bolero
fi

failed=()
for target in "${targets[@]}"; do
  corpus="target/fuzz-corpus/$target"
  crashes="$fuzz_dir/$target/crashes"
  mkdir -p "$corpus" "$crashes"
  cp -n "$fuzz_dir/$target/corpus/"* "$corpus/" 2>/dev/null || true
  echo "== $target: ${seconds}s" >&2
  if ! "$cargo_bolero" bolero test -p dialbridge-fuzz "$target" \
      --sanitizer NONE --engine libfuzzer -T "${seconds}s" --timeout 10s \
      --max-input-length 65536 --corpus-dir "$corpus" --crashes-dir "$crashes"; then
    failed+=("$target")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "failed: ${failed[*]} (inputs in $fuzz_dir/TARGET/crashes)" >&2
  exit 1
fi
echo "every target ran ${seconds}s without a failure" >&2
