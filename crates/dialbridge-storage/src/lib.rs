//! dialbridge's storage: SQLite (the embedded default) and PostgreSQL behind the domain's store
//! traits, through sqlx's `Any` driver so one set of queries serves both; embedded migrations.

mod accounts;
mod admin_keys;
mod app_credentials;
mod audit;
mod checkpoint;
mod cluster;
mod connect_sessions;
mod connections;
mod database;
mod endpoints;
mod executions;
mod hooks;
mod mcp_tokens;
mod migrations;
mod reseal;
mod retention;
mod rows;
mod settings;
#[cfg(feature = "testing")]
pub mod testing;
mod workflows;
mod write_queue;
mod write_tx;

pub use database::{Database, Dialect, StorageError};
