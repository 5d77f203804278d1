//! The README's examples, run as written: every code block marked `<!-- readme-test -->` on the
//! line before its fence is taken from `README.md` in order and run by bash against `dialbridge
//! serve --dev` (the real executable, a fresh database, loopback only), with that `dialbridge`
//! first on `PATH`. Only the port changes (the README's 127.0.0.1:8080 becomes a free one), so
//! the README cannot drift from what works; its prose can change freely.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;

use crate::support::{self, free_port, BIN};

const MARK: &str = "<!-- readme-test -->";

/// The workspace's root, where `README.md` is and where the README's commands run.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The marked blocks of `readme`, in order: the lines between each marked fence and its end.
fn marked_blocks(readme: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut lines = readme.lines();
    while let Some(line) = lines.next() {
        if line.trim() != MARK {
            continue;
        }
        let fence = lines.next().unwrap_or_default();
        assert!(
            fence.starts_with("```sh") || fence.starts_with("```bash"),
            "{MARK} must stand right before a ```sh block, not before {fence:?}"
        );
        let body: Vec<&str> = lines
            .by_ref()
            .take_while(|l| !l.starts_with("```"))
            .collect();
        blocks.push(body.join("\n"));
    }
    blocks
}

#[test]
fn marked_blocks_are_found_whole_and_in_order() {
    let readme =
        "text\n<!-- readme-test -->\n```sh\na\nb\n```\n```sh\nskipped\n```\n<!-- readme-test -->\n```sh\nc\n```\n";
    assert_eq!(marked_blocks(readme), ["a\nb", "c"]);
}

/// The README's first command, `cargo run --release -- serve --dev`, names no package and no
/// executable: cargo runs the one executable of the workspace's default members, and refuses
/// when there are several (the bench's beside dialbridge). Building it in release here would
/// take minutes, so this asks cargo what that choice is made from.
#[test]
fn the_readmes_run_command_finds_dialbridge_alone() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let run = readme
        .lines()
        .find(|line| line.starts_with("cargo run"))
        .unwrap();
    assert!(
        run.starts_with("cargo run --release -- serve --dev "),
        "the README's first command changed: {run}"
    );
    let metadata = std::process::Command::new(env!("CARGO"))
        .args(["metadata", "--format-version", "1", "--no-deps", "--locked"])
        .current_dir(root())
        .output()
        .unwrap();
    assert!(metadata.status.success(), "{metadata:?}");
    let metadata: Value = serde_json::from_slice(&metadata.stdout).unwrap();
    let default_members = metadata["workspace_default_members"].as_array().unwrap();
    let executables: Vec<&str> = metadata["packages"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|package| default_members.contains(&package["id"]))
        .flat_map(|package| package["targets"].as_array().unwrap())
        .filter(|target| target["kind"] == serde_json::json!(["bin"]))
        .map(|target| target["name"].as_str().unwrap())
        .collect();
    assert_eq!(executables, ["dialbridge"], "what `cargo run` chooses from");
}

#[tokio::test]
async fn the_readme_quickstart_and_cli_examples_work_as_written() {
    let readme_path = root().join("README.md");
    let readme = std::fs::read_to_string(&readme_path).unwrap();
    let blocks = marked_blocks(&readme);
    assert!(
        blocks.len() >= 3,
        "the quickstart, the actions and the workflow examples are marked: {blocks:?}"
    );
    let script = blocks.join("\n");
    for needed in ["_control/authorize", "dialbridge action run", "missed-call"] {
        assert!(script.contains(needed), "the marked blocks run {needed}");
    }

    let dir = tempfile::tempdir().unwrap();
    let listen = format!("127.0.0.1:{}", free_port());
    let base = format!("http://{listen}");
    let db = format!("sqlite://{}/dialbridge.db", dir.path().display());
    let _server =
        support::dialbridge(&["serve", "--dev", "--listen", &listen, "--database-url", &db])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("dialbridge starts");
    assert!(
        support::ready(&format!("{base}/healthz")).await,
        "serve --dev did not become ready"
    );

    let script = format!(
        "set -euo pipefail\n{}\n",
        script.replace("127.0.0.1:8080", &listen)
    );
    let bin_dir = Path::new(BIN).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = Command::new("bash")
        .arg("-c")
        .arg(&script)
        .current_dir(dir.path())
        .env("PATH", path)
        .env("DIALBRIDGE_URL", &base)
        .env_remove("DIALBRIDGE_API_KEY")
        .env_remove("RUST_LOG")
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output();
    let out = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the README's examples finish within two minutes")
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    let shown = format!("--- script\n{script}\n--- stdout\n{stdout}\n--- stderr\n{stderr}");
    assert!(out.status.success(), "{shown}");
    assert!(
        !stdout.contains("{\"error\""),
        "every request succeeded: {shown}"
    );

    // What the examples say they did, read back through the API.
    let http = reqwest::Client::new();
    let get = |path: &str| {
        http.get(format!("{base}{path}"))
            .bearer_auth("dialbridge-dev")
            .send()
    };
    let account: Value = get("/api/v1/accounts/acme")
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let connection = &account["connection"];
    assert_eq!(connection["status"], "connected", "{account}");
    assert_eq!(connection["auth_type"], "oauth", "{account}");
    assert!(
        connection["scopes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s == "calls:list"),
        "{account}"
    );
    assert!(
        stdout.contains("\"ok\":true"),
        "the connection check: {shown}"
    );
    assert!(
        stdout.contains("\"items\""),
        "dialbridge action run list_calls printed the calls: {shown}"
    );
    // The emulator delivers the call's events in the background, as Dialpad does: the
    // execution may start a moment after the script's last request.
    let started = |executions: &Value| {
        executions["items"]
            .as_array()
            .is_some_and(|items| items.iter().any(|e| e["workflow"] == "missed-call"))
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let executions = loop {
        let executions: Value = get("/api/v1/executions?account_id=acme")
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if started(&executions) || tokio::time::Instant::now() > deadline {
            break executions;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        started(&executions),
        "the missed call started the workflow: {executions}"
    );
}
