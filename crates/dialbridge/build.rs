//! Which of this package's tests can run here. With `DIALBRIDGE_TEST_DATABASE_URL` set (and not
//! empty) when the tests are built, `cfg(postgres_tests)` is on and the PostgreSQL tests run;
//! with a `python3` on `PATH`, `cfg(python3)` is on and the schemathesis test runs. Without them
//! those tests are built but `#[ignore]`d, so the test summary shows them as ignored, with the
//! reason, rather than passed.

use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-env-changed=DIALBRIDGE_TEST_DATABASE_URL");
    println!("cargo::rerun-if-env-changed=PATH");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    println!("cargo::rustc-check-cfg=cfg(python3)");
    if std::env::var_os("DIALBRIDGE_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
    let python = Command::new("python3")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    if python.is_ok_and(|status| status.success()) {
        println!("cargo::rustc-cfg=python3");
    }
}
