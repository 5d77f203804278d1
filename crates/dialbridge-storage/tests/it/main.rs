//! dialbridge-storage's integration tests, linked into one binary (each module was a test
//! binary of its own, each linking the whole dependency graph); `support` holds the
//! conformance harness they share.

#[macro_use]
mod support;

mod conformance;
mod workflows_conformance;
