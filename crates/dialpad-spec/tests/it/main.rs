//! dialpad-spec's integration tests, linked into one binary (each module was a test binary of
//! its own, each linking the whole dependency graph).

mod catalog;
mod matching;
mod validation;
