//! The served OpenAPI document agrees with the server: `scripts/schemathesis/run.sh` runs
//! schemathesis against this build's `dialbridge serve --dev` and fails on any 5xx and on any
//! answer the document does not describe (status, content type, headers, body schema). The
//! script installs schemathesis into `target/schemathesis-venv` on first use (it needs PyPI
//! then); the test is ignored, with the reason, only when the build found no `python3`.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use tokio::process::Command;

use crate::support::BIN;

/// The first run builds the venv (a minute or so); a run takes about one more.
const LIMIT: Duration = Duration::from_secs(900);

#[tokio::test]
#[cfg_attr(
    not(python3),
    ignore = "no python3 on PATH when the tests were built; the schemathesis test needs one"
)]
async fn the_served_openapi_document_agrees_with_the_server() {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let script = repo.join("scripts/schemathesis/run.sh");
    let child = Command::new("bash")
        .arg(&script)
        .args(["--bin", BIN])
        .current_dir(&repo)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("run scripts/schemathesis/run.sh");
    let output = tokio::time::timeout(LIMIT, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("schemathesis took over {LIMIT:?}"))
        .expect("schemathesis output");
    assert!(
        output.status.success(),
        "schemathesis found answers the OpenAPI document does not describe ({})\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
