//! Promises that only hold if they hold across OS processes: two real `dialbridge serve`
//! processes on one database (a SQLite file, and PostgreSQL), one `dialbridge emulator` process
//! for both.

use reqwest::Method;
use serde_json::json;

use crate::support::processes::{
    self, call, configure, connect_oauth, emulator_stats, Database, TestDatabase,
};

/// Both processes find the access token refused (401) at once and refresh; the emulator holds
/// each refresh answer until two refreshes have arrived (or 3 s), so two processes that both
/// asked would both be answered — and the second would have spent the rotated refresh token.
/// One refresh happens, and both requests succeed with its token.
async fn one_refresh_across_two_processes(kind: Database) {
    let database = TestDatabase::new(kind).await;
    let emulator = processes::emulator().await;
    let emu = emulator.base.clone();
    let first = processes::serve(&database.url, &[]).await;
    configure(&first.base, &emu).await;
    connect_oauth(&first.base, &emu).await;
    let second = processes::serve(&database.url, &[]).await;

    let (status, body) = call(
        Method::PATCH,
        &format!("{emu}/_control/config"),
        Some(json!({ "hold_refresh_requests": 2, "hold_refresh_max_ms": 3000 })),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = call(Method::POST, &format!("{emu}/_control/tokens/expire"), None).await;
    assert_eq!(status, 204);
    let check = |base: &str| {
        let url = format!("{base}/api/v1/accounts/acme/connection/check");
        async move { call(Method::POST, &url, None).await }
    };
    let ((a, a_body), (b, b_body)) = tokio::join!(check(&first.base), check(&second.base));
    assert_eq!((a, b), (200, 200), "{a_body} {b_body}");

    let stats = emulator_stats(&emu).await;
    assert_eq!(
        stats["token_requests"]["rotated_refresh_token"], 0,
        "a rotated refresh token was sent again: {stats}"
    );
    assert_eq!(
        stats["token_requests"]["refresh_token"], 1,
        "one refresh for both processes: {stats}"
    );
    let (_, account) = call(
        Method::GET,
        &format!("{}/api/v1/accounts/acme", second.base),
        None,
    )
    .await;
    assert_eq!(account["connection"]["status"], "connected", "{account}");

    first.kill().await;
    second.kill().await;
    emulator.kill().await;
    database.cleanup().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_one_refresh_across_two_processes() {
    one_refresh_across_two_processes(Database::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn postgres_one_refresh_across_two_processes() {
    one_refresh_across_two_processes(Database::Postgres).await;
}
