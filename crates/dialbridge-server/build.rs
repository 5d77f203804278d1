//! Whether this package's PostgreSQL tests run: with `DIALBRIDGE_TEST_DATABASE_URL` set (and not
//! empty) when the tests are built, `cfg(postgres_tests)` is on and they run; without it they are
//! built but `#[ignore]`d, so the test summary shows them as ignored rather than passed.

fn main() {
    println!("cargo::rerun-if-env-changed=DIALBRIDGE_TEST_DATABASE_URL");
    println!("cargo::rustc-check-cfg=cfg(postgres_tests)");
    if std::env::var_os("DIALBRIDGE_TEST_DATABASE_URL").is_some_and(|url| !url.is_empty()) {
        println!("cargo::rustc-cfg=postgres_tests");
    }
}
