//! dialbridge-storage's integration tests, linked into one binary (each module was a test
//! binary of its own, each linking the whole dependency graph); `support` holds the
//! conformance harness they share. `migration_trees` checks that the SQLite and PostgreSQL
//! migrations agree; `query_plans` that SQLite reads the busiest listings from their indexes; `cluster` covers what only PostgreSQL does (shards, signals).

#[macro_use]
mod support;

mod cluster;
mod conformance;
mod mcp_conformance;
mod migration_trees;
mod operators_conformance;
mod query_plans;
mod retention;
mod workflows_conformance;
