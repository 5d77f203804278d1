//! dialbridge's HTTP surface (axum): the admin API under `/api/v1` with its OpenAPI document
//! (generated from the handlers) and its browsable reference at `/api/docs`, the
//! browser-facing connect flow and OAuth callback, the dashboard under `/ui`, health; and `start`, which wires storage,
//! domain and server.

mod access_log;
mod attempts;
mod audit;
mod auth;
mod config;
mod contract;
mod docs;
mod error;
mod extract;
mod gate;
mod heap;
mod listener;
mod mcp;
mod openapi;
mod pages;
mod responses;
mod routes;
mod serde_errors;
mod startup;
mod state;
mod ui;

pub use config::{ServeConfig, DEV_API_KEY};
pub use error::ApiError;
pub use mcp::serve_stdio;
pub use startup::{platform_of, start, Running, StartError};
