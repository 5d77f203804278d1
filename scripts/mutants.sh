#!/usr/bin/env bash
# Mutation testing of the modules that hold dialbridge's promises, bounded in time.
#
# For each module below, cargo-mutants changes one line at a time (a function returning a
# default, a condition negated, an operator swapped) and runs the tests that cover that module:
# the crate's own unit tests plus a few integration tests of dialbridge-server, on SQLite only,
# so a mutant costs a rebuild and seconds of tests, not the whole suite. A mutant the tests
# still pass ("missed") is a promise no test holds: kill it with a test, or say in
# docs/mutants.md why it is equivalent.
#
#   scripts/mutants.sh                  every module, each within $MUTANTS_BUDGET seconds
#   scripts/mutants.sh throttle tokens  only these modules
#
# Settings (environment): MUTANTS_BUDGET (seconds per module, default 600; the run of a module
# is interrupted then, and what was tested is reported), MUTANTS_TIMEOUT (seconds per mutant's
# tests, default 120), MUTANTS_OUT (where results go, default target/mutants), MUTANTS_SCRATCH
# (a copy of the tree, build cache included, made once and mutated in place, default
# /tmp/dialbridge-mutants; the working tree itself is never changed), MUTANTS_ITERATE=1 (test
# again only what the last run of each module did not catch: after adding tests). Needs
# `cargo install --locked cargo-mutants`. Not part of .ci/run: it takes long.
set -euo pipefail

cd "$(dirname "$0")/.."
budget="${MUTANTS_BUDGET:-600}"
per_mutant="${MUTANTS_TIMEOUT:-120}"
out="$(pwd)/${MUTANTS_OUT:-target/mutants}"
scratch="${MUTANTS_SCRATCH:-/tmp/dialbridge-mutants}"

if ! cargo mutants --version >/dev/null 2>&1; then
    echo "cargo-mutants is not installed: cargo install --locked cargo-mutants" >&2
    exit 2
fi

# module name | source file | tests that cover it (libtest filters, any match runs)
modules=(
    "tokens|crates/dialbridge-core/src/connections/tokens.rs|connections::tokens token_lifecycle::"
    "ingress|crates/dialbridge-core/src/events/ingress.rs|events::ingress workflows::forged_unsigned workflows::sqlite::a_missed_inbound workflows::vendor_events events::events_are_listed"
    "executor|crates/dialbridge-core/src/executions/executor.rs|executor:: vendor_webhooks::finished_executions workflows::a_failing_step workflows::an_execution_keeps_its_version workflows::loops_retries"
    "throttle|crates/dialbridge-core/src/gateway/throttle.rs|gateway::throttle actions::the_throttle actions::each_operations_per_minute actions::the_requests_that_identify"
    "sealing|crates/dialbridge-core/src/crypto.rs|crypto:: secret:: secrets_at_rest::sqlite key_rotation::sqlite"
)

iterate=()
if [[ -n "${MUTANTS_ITERATE:-}" ]]; then
    iterate=(--iterate)
fi

wanted=("$@")
mkdir -p "$out" "$scratch"
# One copy of the tree and its build cache for every module (cargo-mutants would copy it for
# each); the scratch copy is what cargo-mutants changes, one mutant at a time.
# (Files a build running meanwhile removes from target are skipped: rsync's code 24.)
rsync -a --delete --exclude target/mutants --exclude target/debug/incremental --exclude .git \
    ./ "$scratch/" || [[ $? == 24 ]]
cd "$scratch"
for entry in "${modules[@]}"; do
    IFS='|' read -r name file filters <<<"$entry"
    if ((${#wanted[@]})) && [[ ! " ${wanted[*]} " == *" $name "* ]]; then
        continue
    fi
    echo "== $name ($file), at most ${budget}s"
    # Interrupted at the budget, cargo-mutants stops and keeps what it found so far.
    # shellcheck disable=SC2086
    timeout --signal=INT --kill-after=60 "$budget" \
        cargo mutants --file "$file" \
        --test-package dialbridge-core --test-package dialbridge-server \
        --in-place --baseline=skip --timeout "$per_mutant" \
        --output "$out/$name" --no-shuffle "${iterate[@]}" \
        -- --lib --test it -- $filters --skip postgres:: \
        || true
    dir="$out/$name/mutants.out"
    count() { [[ -f "$dir/$1.txt" ]] && wc -l <"$dir/$1.txt" || echo 0; }
    echo "-- $name: caught $(count caught) (and $(count previously_caught) in earlier runs), missed $(count missed), timeout $(count timeout), unviable $(count unviable)"
    if [[ -s "$dir/missed.txt" ]]; then
        sed 's/^/   missed: /' "$dir/missed.txt"
    fi
done
