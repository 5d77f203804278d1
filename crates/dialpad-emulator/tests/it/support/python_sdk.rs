//! Running the official Dialpad Python SDK (`scripts/python-sdk/sdk_check.py`) from Rust
//! tests, against the emulator or dialbridge's proxy, and the official MCP Python SDK
//! (`scripts/python-sdk/mcp_check.py`) against dialbridge's MCP server. Shared by the emulator's tests (as
//! `support::python_sdk`) and the server's (`#[path]`-included). The venv comes from
//! `scripts/python-sdk/setup-venv.sh` (built once, then reused while the requirements are
//! unchanged); it needs PyPI the first time, and the tests fail, never skip, when it cannot be
//! built.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tokio::process::Command;
use tokio::sync::OnceCell;

/// Building the venv from scratch takes seconds; pip's own retries are bounded too.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);
/// One run of a script; it stops itself a little earlier.
const CHECK_TIMEOUT: Duration = Duration::from_secs(90);
const CHECK_TIMEOUT_INSIDE: &str = "75";

fn repo_root() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    root.canonicalize()
        .unwrap_or_else(|e| panic!("repo root {}: {e}", root.display()))
}

fn sdk_dir() -> PathBuf {
    repo_root().join("scripts/python-sdk")
}

/// The venv's python, set up once per test binary (the script itself is idempotent and
/// takes a lock, so other test processes may run it at the same time).
async fn venv_python() -> &'static Path {
    static PYTHON: OnceCell<Result<PathBuf, String>> = OnceCell::const_new();
    match PYTHON.get_or_init(setup_venv).await {
        Ok(python) => python,
        Err(reason) => panic!("cannot set up the Python SDK venv: {reason}"),
    }
}

async fn setup_venv() -> Result<PathBuf, String> {
    let script = sdk_dir().join("setup-venv.sh");
    let child = Command::new("bash")
        .arg(&script)
        .current_dir(repo_root())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    let output = tokio::time::timeout(SETUP_TIMEOUT, child.wait_with_output())
        .await
        .map_err(|_| format!("{} took over {SETUP_TIMEOUT:?}", script.display()))?
        .map_err(|e| format!("{}: {e}", script.display()))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    if !output.status.success() {
        return Err(format!(
            "{} exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
            script.display(),
            output.status
        ));
    }
    let python = stdout
        .lines()
        .last()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .map(PathBuf::from)
        .ok_or_else(|| format!("{} printed no python path\n{stderr}", script.display()))?;
    if !python.is_file() {
        return Err(format!(
            "{} printed {}, which is not a file",
            script.display(),
            python.display()
        ));
    }
    Ok(python)
}

/// Runs sdk_check.py against `base_url` with `token` (and `--user-id`, for SMS) and `args`
/// (scenarios and options); panics with the script's output unless it succeeds. Returns its
/// JSON summary.
pub async fn sdk_check(base_url: &str, token: &str, user_id: &str, args: &[&str]) -> Value {
    let mut all = vec![
        // `--name=value`: a token may begin with '-', which argparse would read as an option.
        format!("--base-url={base_url}"),
        format!("--token={token}"),
        format!("--user-id={user_id}"),
    ];
    all.extend(args.iter().map(|a| (*a).to_owned()));
    run_script("sdk_check.py", &all).await
}

/// Runs mcp_check.py (an MCP client on the official `mcp` package) with `args`: its transport
/// (`--url=… --token=…`, or `--stdio=<JSON command line>`), options and scenarios. Panics with
/// the script's output unless it succeeds; returns its JSON summary.
#[allow(dead_code)] // the binary's tests use it; this file is shared
pub async fn mcp_check(args: &[String]) -> Value {
    run_script("mcp_check.py", args).await
}

async fn run_script(name: &str, args: &[String]) -> Value {
    let python = venv_python().await;
    let script = sdk_dir().join(name);
    let child = Command::new(python)
        .arg(&script)
        .args(["--timeout", CHECK_TIMEOUT_INSIDE])
        .args(args)
        .env("PYTHONUNBUFFERED", "1")
        .env("PYTHONDONTWRITEBYTECODE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} {}: {e}", python.display(), script.display()));
    let output = tokio::time::timeout(CHECK_TIMEOUT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("{name} {args:?} took over {CHECK_TIMEOUT:?}"))
        .expect("script output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "{name} {args:?} exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("{name} printed no JSON summary\n{stdout}\n{stderr}"));
    assert_eq!(summary["ok"], true, "{summary}\n--- stderr\n{stderr}");
    summary
}
