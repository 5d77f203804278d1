//! What the binary's tests share: the executable, a free port, a `dialbridge` command with no
//! dialbridge settings inherited from the environment, waiting until a process answers, and the
//! PostgreSQL server the PostgreSQL test uses.

use std::net::TcpListener;
use std::time::Duration;

use tokio::process::Command;

pub mod cluster;
pub mod processes;
pub mod proxy;

pub const BIN: &str = env!("CARGO_BIN_EXE_dialbridge");

pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// `dialbridge <args>`, killed when dropped, with the settings a developer's shell may hold
/// removed so tests see only what they pass.
pub fn dialbridge(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(args)
        .env_remove("DIALBRIDGE_API_KEY")
        .env_remove("DIALBRIDGE_MASTER_KEY")
        .env_remove("DIALBRIDGE_DATABASE_URL")
        .kill_on_drop(true);
    command
}

/// Where the PostgreSQL tests create their databases. Those tests are ignored unless
/// `DIALBRIDGE_TEST_DATABASE_URL` was set at build time (see this crate's build.rs); one run
/// anyway (`--include-ignored`) without it fails here rather than passing untested.
pub fn postgres_admin_url() -> String {
    match std::env::var("DIALBRIDGE_TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "DIALBRIDGE_TEST_DATABASE_URL is not set, so this PostgreSQL test cannot run \
             (set it, e.g. to postgres://postgres@127.0.0.1:5432/test, and rebuild)"
        ),
    }
}

/// Whether `url` answered 2xx within ten seconds.
pub async fn ready(url: &str) -> bool {
    let http = reqwest::Client::new();
    for _ in 0..200 {
        if let Ok(response) = http.get(url).send().await {
            if response.status().is_success() {
                return true;
            }
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}
