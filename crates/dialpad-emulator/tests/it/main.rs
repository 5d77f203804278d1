//! dialpad-emulator's integration tests, linked into one binary (each module was a test binary
//! of its own, each linking the whole dependency graph); `support` holds what they share.

mod support;

mod api;
mod events;
mod faults;
mod fidelity;
mod nested;
mod oauth;
mod python_sdk;
mod resources;
