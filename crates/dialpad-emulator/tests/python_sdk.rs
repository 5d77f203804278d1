//! The official Dialpad Python SDK (python-dialpad, pinned in
//! `scripts/python-sdk/requirements.txt`) against the emulator: each test serves a fresh
//! emulator on a loopback port and runs `scripts/python-sdk/sdk_check.py` with a
//! company-admin API key of Acme Corp. The venv comes from `scripts/python-sdk/setup-venv.sh`
//! (built once, then reused while the requirements are unchanged); it needs PyPI the first
//! time, and these tests fail, never skip, when it cannot be built.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use dialpad_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use tokio::process::Command;
use tokio::sync::{oneshot, OnceCell};

/// The first seeded company, its admin, and how many users it has.
const ACME: &str = "5629499534213120";
const ACME_ADMIN: &str = "5910974510923776";
const ACME_USERS: usize = 3;

/// Building the venv from scratch takes seconds; pip's own retries are bounded too.
const SETUP_TIMEOUT: Duration = Duration::from_secs(300);
/// One run of sdk_check.py; the script stops itself a little earlier.
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

/// A fresh emulator on a loopback port, stopped when dropped.
struct Served {
    emulator: Emulator,
    base_url: String,
    _shutdown: oneshot::Sender<()>,
}

impl Served {
    async fn start() -> Self {
        let emulator = Emulator::new(EmulatorConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(emulator.clone().serve(listener, async move {
            let _ = rx.await;
        }));
        Served {
            emulator,
            base_url: format!("http://{addr}"),
            _shutdown: tx,
        }
    }

    fn admin_key(&self) -> String {
        self.emulator
            .create_api_key(ACME, None)
            .expect("Acme is seeded")
    }
}

/// Runs sdk_check.py with `args` (scenarios and options) against a fresh emulator as an
/// Acme admin; panics with the script's output unless it succeeds. Returns its summary.
async fn sdk_check(args: &[&str]) -> Value {
    let python = venv_python().await;
    let served = Served::start().await;
    let token = served.admin_key();
    let script = sdk_dir().join("sdk_check.py");
    let child = Command::new(python)
        .arg(&script)
        .args(["--base-url", &served.base_url])
        .args(["--token", &token])
        .args(["--user-id", ACME_ADMIN])
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
        .unwrap_or_else(|_| panic!("sdk_check.py {args:?} took over {CHECK_TIMEOUT:?}"))
        .expect("sdk_check.py output");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "sdk_check.py {args:?} against the emulator exited with {}\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        output.status
    );
    let summary: Value = stdout
        .lines()
        .last()
        .and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("sdk_check.py printed no JSON summary\n{stdout}\n{stderr}"));
    assert_eq!(summary["ok"], true, "{summary}");
    summary
}

#[tokio::test]
async fn python_sdk_gets_the_company_and_a_user() {
    let summary = sdk_check(&["company", "users-get"]).await;
    assert_eq!(summary["scenarios"]["company"]["id"], ACME, "{summary}");
    assert_eq!(
        summary["scenarios"]["users-get"]["id"], ACME_ADMIN,
        "{summary}"
    );
}

#[tokio::test]
async fn python_sdk_lists_users_across_pages() {
    let expect = ACME_USERS.to_string();
    let summary = sdk_check(&["users-pages", "--page-size", "2", "--expect-users", &expect]).await;
    let pages = &summary["scenarios"]["users-pages"];
    assert_eq!(pages["count"], ACME_USERS, "{summary}");
    assert!(pages["pages"].as_u64().unwrap_or(0) >= 2, "{summary}");
}

#[tokio::test]
async fn python_sdk_creates_gets_updates_and_deletes_a_contact() {
    let summary = sdk_check(&["contacts-crud"]).await;
    assert!(
        summary["scenarios"]["contacts-crud"]["id"].is_string(),
        "{summary}"
    );
}

#[tokio::test]
async fn python_sdk_sends_an_sms() {
    let summary = sdk_check(&["sms", "--sms-to", "+14155550199"]).await;
    assert!(summary["scenarios"]["sms"]["id"].is_string(), "{summary}");
}

/// AsyncDialpadClient (httpx) sends the same requests, except that its list calls carry
/// every unset filter as an empty parameter (`?cursor=&state=&company_admin=&email=&number=`).
#[tokio::test]
async fn python_async_sdk_runs_every_scenario() {
    let expect = ACME_USERS.to_string();
    sdk_check(&[
        "--client",
        "async",
        "--expect-users",
        &expect,
        "company",
        "users-get",
        "users-pages",
        "contacts-crud",
        "sms",
    ])
    .await;
}
