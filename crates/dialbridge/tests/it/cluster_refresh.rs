//! Proactive token refresh across a cluster, with real processes: OAuth connections whose
//! access tokens live a minute, refreshed ahead of expiry by the process holding each
//! account's shard, while one of three processes is killed.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use reqwest::Method;
use serde_json::{json, Value};

use crate::support::cluster::{Api, Db, Emu, Fleet};

/// Connects `account` by OAuth as the admin of `company` (so accounts spread over shards),
/// approving the emulator's consent without a browser.
async fn connect_oauth(api: &Api, emu: &Emu, account: &str, company: &Value) {
    api.ok(
        Method::PUT,
        &format!("/api/v1/accounts/{account}"),
        Some(json!({})),
    )
    .await;
    let link = api
        .ok(
            Method::POST,
            &format!("/api/v1/accounts/{account}/connect"),
            Some(json!({ "environment": "custom", "redirect_url": "https://vendor.example/done" })),
        )
        .await;
    let location = |response: reqwest::Response| {
        response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
            .unwrap_or_else(|| panic!("no redirect: {}", response.status()))
    };
    let authorize = location(
        api.http
            .get(link["connect_url"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    );
    let consent = emu
        .control(
            Method::POST,
            "/_control/authorize",
            Some(json!({ "url": authorize, "user_id": company["admin_user_id"] })),
        )
        .await;
    let done = location(
        api.http
            .get(consent["location"].as_str().unwrap())
            .send()
            .await
            .unwrap(),
    );
    assert!(done.contains("status=connected"), "{account}: {done}");
}

/// Connections whose access token has expired, now (by the database's clock).
const EXPIRED: &str = "SELECT COUNT(*) FROM connections WHERE status = 'connected' \
     AND auth_type = 'oauth' AND expires_at < (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::BIGINT";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[cfg_attr(
    not(postgres_tests),
    ignore = "set DIALBRIDGE_TEST_DATABASE_URL to run the PostgreSQL tests"
)]
async fn three_processes_refresh_every_token_once_ahead_of_expiry_while_one_dies() {
    // 200 connections, not the scale issue's 10,000: connecting each takes five requests
    // through a debug build on a shared two-core machine (300 took 58 s, and passed the same
    // way). Tokens live 45 s and are refreshed in the 30 s before they expire, so every one is
    // refreshed within the minute watched.
    const ACCOUNTS: usize = 200;
    const TTL_SECS: u64 = 45;
    const WATCH: Duration = Duration::from_secs(60);
    let mut fleet = Fleet::start(
        3,
        &["--no-rate-limits"],
        &[
            "--shard-lease-secs",
            "3",
            "--refresh-margin-secs",
            "30",
            "--refresh-interval-secs",
            "1",
        ],
        None,
    )
    .await;
    // Dialpad answers each refresh 200 ms after spending its token, so b has refreshes under
    // way when it dies.
    fleet
        .emu
        .configure(json!({ "access_token_ttl_secs": TTL_SECS, "token_latency_ms": 200 }))
        .await;
    let companies = fleet.emu.companies(ACCOUNTS).await;
    let connecting = Instant::now();
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..8 {
        let api = fleet.nodes[client % 3].api();
        let emu = Emu::new(&fleet.emu.base);
        let mine: Vec<(usize, Value)> = companies
            .iter()
            .cloned()
            .enumerate()
            .skip(client)
            .step_by(8)
            .collect();
        clients.spawn(async move {
            for (i, company) in mine {
                connect_oauth(&api, &emu, &format!("oauth-{i}"), &company).await;
            }
        });
    }
    while let Some(done) = clients.join_next().await {
        done.unwrap();
    }
    let connected_in = connecting.elapsed();
    let connected = fleet
        .db
        .number(
            "SELECT COUNT(*) FROM connections WHERE status = 'connected' AND auth_type = 'oauth'",
        )
        .await;
    assert_eq!(connected, ACCOUNTS as i64);
    let before = fleet.emu.stats().await["token_requests"]["refresh_token"]
        .as_u64()
        .unwrap();

    // Watch past every first token's expiry; kill b a third of the way in, and note the
    // refresh leases held at that instant: b's are the refreshes it had under way.
    let owners_before = names(&fleet.db, "SELECT owner, 0::BIGINT FROM nodes").await;
    let start = Instant::now();
    let (mut max_lag, mut max_expired) = (0.0f64, 0);
    let mut killed_at = None;
    let mut leased_at_kill = Vec::new();
    while start.elapsed() < WATCH {
        if killed_at.is_none() && start.elapsed() > WATCH / 3 {
            fleet.nodes[1].kill9().await;
            killed_at = Some(start.elapsed());
            leased_at_kill = fleet
                .db
                .pairs(
                    "SELECT account_id || ' ' || refresh_lock_owner, 0::BIGINT FROM connections \
                     WHERE refresh_lock_owner IS NOT NULL",
                )
                .await;
        }
        for (i, node) in fleet.nodes.iter().enumerate() {
            if i == 1 && killed_at.is_some() {
                continue;
            }
            let lag = node
                .api()
                .metric("dialbridge_token_refresh_lag_seconds", "")
                .await;
            max_lag = max_lag.max(lag);
        }
        max_expired = max_expired.max(fleet.db.number(EXPIRED).await);
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
    let stats = fleet.emu.stats().await;
    let refreshes = stats["token_requests"]["refresh_token"].as_u64().unwrap() - before;
    let reused = stats["token_requests"]["rotated_refresh_token"]
        .as_u64()
        .unwrap();
    let still_connected = fleet
        .db
        .number(
            "SELECT COUNT(*) FROM connections WHERE status = 'connected' AND auth_type = 'oauth'",
        )
        .await;
    // b is the owner gone from `nodes` (its heartbeat stopped long ago).
    let owners_after = names(&fleet.db, "SELECT owner, 0::BIGINT FROM nodes").await;
    let b: Vec<&String> = owners_before.difference(&owners_after).collect();
    assert_eq!(
        b.len(),
        1,
        "one owner gone: {owners_before:?} → {owners_after:?}"
    );
    let b_was_refreshing: BTreeSet<String> = leased_at_kill
        .iter()
        .filter_map(|(row, _)| {
            let (account, owner) = row.split_once(' ')?;
            (owner == b[0]).then(|| account.to_owned())
        })
        .collect();
    let lost = names(
        &fleet.db,
        "SELECT account_id, 0::BIGINT FROM connections WHERE status = 'reauth_required'",
    )
    .await;
    println!(
        "{ACCOUNTS} OAuth connections (connected in {connected_in:.1?}), tokens of {TTL_SECS} s, b killed at {:.0?} with {} refreshes under way: {refreshes} refreshes in {WATCH:?}, {reused} refresh tokens presented twice, {} connections lost, most expired at once {max_expired}, highest refresh lag {max_lag:.1} s",
        killed_at.unwrap(),
        b_was_refreshing.len(),
        lost.len()
    );
    // A refresh token is spent twice only when b died between Dialpad's answer and storing
    // it: that connection needs its customer again (reauth_required), and nothing else does.
    assert!(
        lost.is_subset(&b_was_refreshing),
        "a refresh token was spent twice outside b's refreshes under way when it died: lost {lost:?}, b's {b_was_refreshing:?}"
    );
    assert_eq!(
        reused,
        lost.len() as u64,
        "refresh tokens presented twice ≠ connections lost ({lost:?})"
    );
    assert_eq!(
        max_expired,
        0,
        "a token expired unrefreshed\n{}",
        fleet.logs()
    );
    // A token under a dead process's refresh lease waits for the lease (a quarter of the
    // margin: 7.5 s), its shard for the handover (about 3.6 s); one second between looks.
    assert!(max_lag < 20.0, "refresh lag reached {max_lag} s");
    assert!(
        refreshes >= ACCOUNTS as u64,
        "only {refreshes} refreshes for {ACCOUNTS} tokens that all expired"
    );
    assert_eq!(
        still_connected,
        (ACCOUNTS - lost.len()) as i64,
        "a connection was lost"
    );
    fleet.stop().await;
}

/// The first column of `sql`'s rows (text and BIGINT), as a set.
async fn names(db: &Db, sql: &str) -> BTreeSet<String> {
    db.pairs(sql)
        .await
        .into_iter()
        .map(|(name, _)| name)
        .collect()
}
