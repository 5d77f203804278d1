//! The dialbridge executable's integration tests, linked into one binary (each module was a
//! test binary of its own, each linking the whole workspace); `support` holds what they share.

mod support;

mod binary;
mod cli;
mod readme;
mod schemathesis;
mod workflow_restart;
