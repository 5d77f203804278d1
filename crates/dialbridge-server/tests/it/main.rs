//! dialbridge-server's integration tests, linked into one binary (each module was a test binary
//! of its own, each linking the whole workspace); `support` holds `TestApp` and the
//! `on_both_backends!` macro they share.

#[macro_use]
mod support;

mod actions;
mod admin_keys;
mod app_and_accounts;
mod audit_log;
mod connect_flow;
mod edge;
mod errors;
mod events;
mod executor;
mod key_rotation;
mod limits;
mod mcp;
mod metrics;
mod openapi;
mod proxy;
mod secrets_at_rest;
mod token_lifecycle;
mod token_property;
mod vendor_webhooks;
mod workflows;
