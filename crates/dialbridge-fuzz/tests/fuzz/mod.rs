//! Fuzz targets for what hostile input reaches, each a function of raw bytes that must never
//! panic and must keep its invariants: webhook ingress (`ingress`), workflow definitions
//! (`workflows`), template evaluation (`templates`) and action inputs (`actions`). Each calls
//! the same domain function the HTTP route or the executor calls. `tests/targets.rs` runs them
//! with bolero: `cargo test` replays the corpus and a bounded random run, `scripts/fuzz.sh`
//! fuzzes each with libFuzzer for a given time.

pub mod actions;
pub mod ingress;
pub mod templates;
pub mod workflows;

/// The first byte steers a target (which action, YAML or JSON, signed or raw); the rest is the
/// input. Empty input steers nothing and is skipped.
pub fn steer(input: &[u8]) -> Option<(u8, &[u8])> {
    input.split_first().map(|(first, rest)| (*first, rest))
}
