//! The dialbridge executable's integration tests, linked into one binary (each module was a
//! test binary of its own, each linking the whole workspace); `support` holds what they share.

mod support;

mod binary;
mod cli;
mod cluster;
mod cluster_faults;
mod cluster_refresh;
mod mcp;
mod readme;
mod schemathesis;
mod two_processes;
mod ui;
mod workflow_restart;
