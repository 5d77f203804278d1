//! Commands that talk to a running dialbridge server's admin API over HTTP: `action run`,
//! `action list` and `calls export`. Each returns a [`CliError`], which [`exit`] prints for a
//! person and turns into the exit code.

pub mod action;
pub mod client;
pub mod error;
pub mod export;
pub mod progress;
pub mod since;

use std::process::ExitCode;

pub use action::ActionCommand;
pub use error::CliError;
pub use export::CallsCommand;

/// Reports an error on stderr and picks the exit code.
pub fn exit(result: Result<(), CliError>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report();
            ExitCode::from(error.exit_code())
        }
    }
}
