//! Which of this package's tests can run here. With `DIALBRIDGE_TEST_DATABASE_URL` set (and not
//! empty) when the tests are built, `cfg(postgres_tests)` is on and the PostgreSQL tests run;
//! with a `python3` on `PATH`, `cfg(python3)` is on and the schemathesis test runs. Without them
//! those tests are built but `#[ignore]`d, so the test summary shows them as ignored, with the
//! reason, rather than passed.
//!
//! It also records the commit the binary is built from, for `dialbridge --version`: git's
//! short hash, or `unknown` where there is no git or no repository (a source tarball).
//! Uncommitted changes are not noted (that would need rerunning on every edited file);
//! `scripts/release.sh` builds only from a clean tree.
//!
//! And it lays the executable out for a small footprint (`link_order`).

use std::path::Path;
use std::process::{Command, Stdio};

fn main() {
    commit();
    link_order();
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

/// On x86-64 Linux, where rustc links with lld (Rust 1.90 on), two linker options for the
/// `dialbridge` executable:
/// - `--symbol-ordering-file=link-order.txt`: the functions `serve` runs, start-up and idle
///   first, placed first in the code (`scripts/link-order.py` writes the file and says why).
///   The names are those of a `dist` build; in other builds few or none match, and the linker
///   keeps its own order for the rest (`--no-warn-symbol-ordering` keeps it quiet about them).
/// - `-z pack-relative-relocs`: the position-independent executable's relocations as a compact
///   table (`.relr.dyn`, glibc 2.36 on) instead of 1.6 MB that every start reads.
fn link_order() {
    println!("cargo::rerun-if-changed=link-order.txt");
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return;
    }
    let order = Path::new(env!("CARGO_MANIFEST_DIR")).join("link-order.txt");
    if order.exists() {
        println!(
            "cargo::rustc-link-arg-bins=-Wl,--symbol-ordering-file={}",
            order.display()
        );
        println!("cargo::rustc-link-arg-bins=-Wl,--no-warn-symbol-ordering");
    }
    println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}

/// `DIALBRIDGE_COMMIT` for the binary, and what to watch so that it stays right.
fn commit() {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .stderr(Stdio::null())
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_owned())
    };
    let commit = git(&["rev-parse", "--short=12", "HEAD"])
        .filter(|hash| !hash.is_empty())
        .unwrap_or_else(|| "unknown".to_owned());
    println!("cargo::rustc-env=DIALBRIDGE_COMMIT={commit}");
    // A new commit moves HEAD or the branch it points at; `packed-refs` when refs are packed.
    let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
    if let Some(branch) = git(&["symbolic-ref", "-q", "HEAD"]) {
        watched.push(branch);
    }
    for name in watched {
        if let Some(path) = git(&["rev-parse", "--git-path", &name]) {
            println!("cargo::rerun-if-changed={path}");
        }
    }
}
