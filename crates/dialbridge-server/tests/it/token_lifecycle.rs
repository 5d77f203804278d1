//! The token lifecycle over real HTTP against the emulator: refresh ahead of expiry and after a
//! 401, exactly once under 50 concurrent requests and across two server processes; rotated and
//! non-rotated refresh tokens; backoff after failures; reauth on invalid_grant.

use futures::future::join_all;
use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{eventually_within, hang_up_once, Backend, Options, TestApp};

on_both_backends!(
    fifty_requests_on_an_expiring_token_refresh_once,
    fifty_requests_after_a_401_refresh_once,
    two_processes_refresh_once,
    refresh_tokens_rotated_or_kept,
    failed_refresh_backs_off,
    invalid_grant_requires_reauth,
    idle_connections_refresh_in_the_background,
    a_background_refresh_that_fails_before_dialpad_backs_off,
    an_expired_token_is_not_sent_while_its_refresh_fails,
    a_background_refresh_of_an_expired_token_refused_by_dialpad_counts_once,
    a_refresh_stuck_under_a_dead_process_lease_shows_as_lag,
    a_refresh_whose_caller_went_away_is_still_stored
);

async fn fifty_checks(app: &TestApp, base: &str, account: &str, n: usize) {
    let results = join_all((0..n).map(|_| app.check(base, account))).await;
    for (status, body) in results {
        assert_eq!(status, StatusCode::OK, "{body}");
    }
}

/// The value `GET /metrics` shows for the unlabelled metric `name`.
async fn metric(app: &TestApp, name: &str) -> f64 {
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await;
    let text = metrics.unwrap().text().await.unwrap();
    text.lines()
        .find_map(|line| line.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in\n{text}"))
}

/// A server whose background refresh loop looks every second.
async fn refreshing_every_second(backend: Backend) -> TestApp {
    let options = Options {
        serve_args: vec!["--refresh-interval-secs".into(), "1".into()],
        ..Options::default()
    };
    TestApp::spawn_with(backend, options).await
}

/// `app` with account `acme` connected by OAuth.
async fn with_acme_connected(app: TestApp) -> TestApp {
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    app
}

/// The app's client secret made wrong: Dialpad answers every refresh `invalid_client`.
async fn break_the_apps_secret(app: &TestApp) {
    let wrong_secret = json!({"client_id": "dialbridge-dev", "client_secret": "wrong", "base_url": app.emulator_url});
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/custom",
            Some(wrong_secret),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

/// Stores the connection's tokens again, as a refresh would: expiring `expires_in` seconds
/// from now and due for refresh `refresh_in` seconds from now (negative: in the past), the
/// refresh token replaced by `refresh_token` when given. Answers the new token version.
async fn store_tokens(
    app: &TestApp,
    account: &str,
    expires_in: i64,
    refresh_in: Option<i64>,
    refresh_token: Option<dialbridge_core::Sealed>,
) -> i64 {
    let stored = app.stored_connection(account).await;
    let now = dialbridge_core::Timestamp::now();
    let at = |secs: i64| {
        let offset = std::time::Duration::from_secs(secs.unsigned_abs());
        if secs < 0 {
            now - offset
        } else {
            now + offset
        }
    };
    let update = dialbridge_core::TokenUpdate {
        access_token: stored.access_token.clone().unwrap(),
        refresh_token: refresh_token.unwrap_or_else(|| stored.refresh_token.clone().unwrap()),
        expires_at: Some(at(expires_in)),
        refresh_at: refresh_in.map(at),
        scopes: stored.scopes.clone(),
        now,
    };
    let id = dialbridge_core::AccountId::parse(account).unwrap();
    let swapped = app
        .platform
        .store()
        .swap_tokens(&id, stored.token_version, &update)
        .await
        .unwrap();
    assert!(swapped);
    app.stored_connection(account).await.token_version
}

/// `GET /metrics` counts `n` refreshes with `outcome`.
async fn assert_refreshes_counted(app: &TestApp, outcome: &str, n: u32) {
    let metrics = app.http.get(format!("{}/metrics", app.base)).send().await;
    let text = metrics.unwrap().text().await.unwrap();
    let line = format!(r#"dialbridge_token_refreshes_total{{outcome="{outcome}"}} {n}"#);
    assert!(text.contains(&line), "{line}\n---\n{text}");
}

async fn fifty_requests_on_an_expiring_token_refresh_once(backend: Backend) {
    // The token is issued inside its refresh margin (it lives 200 s; tokens are refreshed 300 s
    // ahead), and the refreshed one is not (it lives an hour): time is the test's to set, not
    // something to wait for.
    let app = TestApp::spawn(backend).await;
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"access_token_ttl_secs": 200})),
    )
    .await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"access_token_ttl_secs": 3600})),
    )
    .await;
    let before = app.stored_connection("acme").await;
    assert_eq!(app.refresh_count().await, 0);
    fifty_checks(&app, &app.base, "acme", 50).await;
    assert_eq!(
        app.refresh_count().await,
        1,
        "one refresh for 50 concurrent requests"
    );
    let after = app.stored_connection("acme").await;
    assert_eq!(after.token_version, before.token_version + 1);
    assert_ne!(after.access_token, before.access_token);
    assert!(after.expires_at > before.expires_at);
    app.shutdown().await;
}

async fn fifty_requests_after_a_401_refresh_once(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    // Dialpad now refuses every access token, though dialbridge believes they are valid.
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    fifty_checks(&app, &app.base, "acme", 50).await;
    assert_eq!(app.refresh_count().await, 1);
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    fifty_checks(&app, &app.base, "acme", 10).await;
    assert_eq!(
        app.refresh_count().await,
        2,
        "the rotated refresh token was stored and works"
    );
    app.shutdown().await;
}

async fn two_processes_refresh_once(backend: Backend) {
    let mut app = TestApp::spawn(backend).await;
    let second = app.second_server().await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    let (a, b) = tokio::join!(
        fifty_checks(&app, &app.base, "acme", 25),
        fifty_checks(&app, &second, "acme", 25)
    );
    let _ = (a, b);
    assert_eq!(
        app.refresh_count().await,
        1,
        "one refresh across two processes"
    );
    assert_eq!(
        app.connection("acme").await["status"],
        "connected",
        "no refresh token was spent twice"
    );
    app.shutdown().await;
}

async fn refresh_tokens_rotated_or_kept(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    let cipher = app.cipher();
    let original = app.stored_connection("acme").await.refresh_token.unwrap();

    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    assert_eq!(app.check(&app.base, "acme").await.0, StatusCode::OK);
    let rotated = app.stored_connection("acme").await.refresh_token.unwrap();
    assert_ne!(
        cipher.open(&rotated).unwrap(),
        cipher.open(&original).unwrap(),
        "a rotated refresh token is stored"
    );

    // Dialpad stops rotating: the response omits refresh_token, and the stored one is kept.
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"rotate_refresh_tokens": false})),
    )
    .await;
    for _ in 0..2 {
        app.emulator_call(Method::POST, "/_control/tokens/expire", None)
            .await;
        assert_eq!(app.check(&app.base, "acme").await.0, StatusCode::OK);
        let kept = app.stored_connection("acme").await.refresh_token.unwrap();
        assert_eq!(cipher.open(&kept).unwrap(), cipher.open(&rotated).unwrap());
    }
    assert_eq!(app.refresh_count().await, 3);
    app.shutdown().await;
}

async fn failed_refresh_backs_off(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    // The app's secret is now wrong: Dialpad answers invalid_client, which may be fixed, so
    // dialbridge backs off instead of giving up or hammering Dialpad.
    break_the_apps_secret(&app).await;
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    for _ in 0..3 {
        let (status, body) = app.check(&app.base, "acme").await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{body}");
        assert_eq!(body["error"]["details"]["status"], 401);
    }
    assert_eq!(
        app.refresh_count().await,
        1,
        "no second refresh attempt during the backoff"
    );
    assert_refreshes_counted(&app, "failed", 1).await;
    let stored = app.stored_connection("acme").await;
    assert_eq!(stored.refresh_failures, 1);
    assert!(stored.next_refresh_at.unwrap() > dialbridge_core::Timestamp::now());
    assert!(stored.last_error.unwrap().contains("invalid_client"));
    assert_eq!(
        app.connection("acme").await["status"],
        "connected",
        "a transient failure is not a reauth"
    );
    app.shutdown().await;
}

async fn invalid_grant_requires_reauth(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    let company = app.connection("acme").await["dialpad_company_id"].clone();
    // The customer uninstalls the app at Dialpad.
    let (status, _) = app
        .emulator_call(
            Method::POST,
            &format!("/_control/companies/{}/revoke", company.as_str().unwrap()),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = app.check(&app.base, "acme").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("reauth_required")),
        "{body}"
    );
    let connection = app.connection("acme").await;
    assert_eq!(connection["status"], "reauth_required");
    assert!(connection["last_error"]
        .as_str()
        .unwrap()
        .contains("invalid_grant"));
    let (status, _) = app.check(&app.base, "acme").await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(app.refresh_count().await, 1, "a dead grant is not retried");
    assert_refreshes_counted(&app, "invalid_grant", 1).await;

    app.connect_oauth("acme").await;
    assert_eq!(app.connection("acme").await["status"], "connected");
    assert_eq!(app.check(&app.base, "acme").await.0, StatusCode::OK);
    app.shutdown().await;
}

/// No request needs the token: the background loop (every second here) refreshes it at its
/// refresh moment — tokens living 4 s are refreshed 2–3 s after they are issued — and again
/// for the token that replaced it, so a connection nobody uses stays alive.
async fn idle_connections_refresh_in_the_background(backend: Backend) {
    let app = refreshing_every_second(backend).await;
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"access_token_ttl_secs": 4})),
    )
    .await;
    app.configure_app().await;
    app.create_account("acme").await;
    app.connect_oauth("acme").await;
    let first = app.stored_connection("acme").await;
    for refreshes in 1..=2 {
        eventually_within(
            std::time::Duration::from_secs(15),
            &format!("background refresh {refreshes}"),
            || async { app.refresh_count().await >= refreshes },
        )
        .await;
    }
    // The emulator counts a refresh as it answers it; the new token is stored just after.
    eventually_within(
        std::time::Duration::from_secs(5),
        "the second refreshed token stored",
        || async { app.stored_connection("acme").await.token_version >= first.token_version + 2 },
    )
    .await;
    let stored = app.stored_connection("acme").await;
    assert!(stored.expires_at > first.expires_at);
    assert_eq!(app.connection("acme").await["status"], "connected");
    // Each refresh presented the refresh token the one before it stored: none is reauth.
    assert_eq!(app.check(&app.base, "acme").await.0, StatusCode::OK);
    app.shutdown().await;
}

/// A background refresh that fails before Dialpad is asked (here the stored refresh token no
/// longer opens: a damaged column) is put off like a failed refresh — counted, its error kept,
/// tried again after 5 s, then 10 s — instead of being taken again at every turn of the loop;
/// the connection stays `connected` and Dialpad never sees a refresh.
async fn a_background_refresh_that_fails_before_dialpad_backs_off(backend: Backend) {
    let app = with_acme_connected(refreshing_every_second(backend).await).await;
    let damaged = dialbridge_core::Sealed(vec![7; 40]);
    store_tokens(&app, "acme", 3600, Some(0), Some(damaged)).await;
    for (failures, backoff_secs) in [(1, 5), (2, 10)] {
        eventually_within(
            std::time::Duration::from_secs(15),
            &format!("failed background refresh {failures}"),
            || async { app.stored_connection("acme").await.refresh_failures >= failures },
        )
        .await;
        let after = app.stored_connection("acme").await;
        assert_eq!(after.refresh_failures, failures, "{after:?}");
        let next = after.next_refresh_at.expect("a next attempt");
        let wait = next.since(after.updated_at).as_secs();
        assert_eq!(wait, backoff_secs, "{after:?}");
        assert_eq!(
            after.refresh_at,
            Some(next),
            "the background waits for it too"
        );
        assert!(
            after
                .last_error
                .as_deref()
                .unwrap_or("")
                .contains("decrypted"),
            "{after:?}"
        );
    }
    assert_eq!(app.connection("acme").await["status"], "connected");
    assert_eq!(app.refresh_count().await, 0, "Dialpad was asked to refresh");
    app.shutdown().await;
}

/// The stored access token has expired and refreshing it fails (the app's secret is wrong):
/// the request is answered 503 `dialpad_unavailable`, saying so, instead of sending Dialpad a
/// token it will refuse; during the backoff that follows, no second refresh is tried.
async fn an_expired_token_is_not_sent_while_its_refresh_fails(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    store_tokens(&app, "acme", -1, None, None).await;
    break_the_apps_secret(&app).await;
    app.take_dialpad_requests().await;
    for _ in 0..2 {
        let (status, body) = app.check(&app.base, "acme").await;
        assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
        assert_eq!(body["error"]["code"], "dialpad_unavailable", "{body}");
        let message = body["error"]["message"].as_str().unwrap_or_default();
        assert!(
            message.contains("the access token expired and refreshing it failed"),
            "{body}"
        );
    }
    assert_eq!(
        app.refresh_count().await,
        1,
        "one refresh, then the backoff"
    );
    let sent = app.take_dialpad_requests().await;
    assert!(
        sent.iter()
            .all(|r| !r["path"].as_str().unwrap_or("").starts_with("/api/")),
        "an API request reached Dialpad with the expired token: {sent:#?}"
    );
    app.shutdown().await;
}

/// The background loop takes a token that has expired while Dialpad refuses the refresh (the
/// app's secret is wrong): the failure is counted once — 5 s of backoff, then 10 s after the
/// second refusal — not once by the refresh and again by the loop that asked for it. At no
/// moment does the stored count run ahead of the refreshes Dialpad saw.
async fn a_background_refresh_of_an_expired_token_refused_by_dialpad_counts_once(backend: Backend) {
    let app = with_acme_connected(refreshing_every_second(backend).await).await;
    break_the_apps_secret(&app).await;
    store_tokens(&app, "acme", -1, Some(0), None).await;
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    loop {
        // The stored count first: Dialpad's can only have grown since.
        let failures = app.stored_connection("acme").await.refresh_failures;
        let asked = app.refresh_count().await;
        assert!(
            failures <= asked as i64,
            "{failures} failures counted for {asked} refreshes Dialpad saw"
        );
        if failures == 2 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no second failed background refresh ({failures} counted, {asked} sent)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let after = app.stored_connection("acme").await;
    let next = after.next_refresh_at.expect("a next attempt");
    assert_eq!(next.since(after.updated_at).as_secs(), 10, "{after:?}");
    assert!(
        after
            .last_error
            .as_deref()
            .unwrap_or("")
            .contains("invalid_client"),
        "{after:?}"
    );
    assert_eq!(app.connection("acme").await["status"], "connected");
    app.shutdown().await;
}

/// A token two minutes overdue whose refresh lease a process that died still holds: the loop
/// cannot take it, and says so in `dialbridge_token_refresh_lag_seconds`.
async fn a_refresh_stuck_under_a_dead_process_lease_shows_as_lag(backend: Backend) {
    let app = with_acme_connected(refreshing_every_second(backend).await).await;
    let now = dialbridge_core::Timestamp::now();
    let version = store_tokens(&app, "acme", 3600, Some(-120), None).await;
    let id = dialbridge_core::AccountId::parse("acme").unwrap();
    let until = now + std::time::Duration::from_secs(3600);
    let leased = app
        .platform
        .store()
        .try_lock_refresh(&id, "a-process-that-died", version, now, until)
        .await
        .unwrap();
    assert!(leased);
    eventually_within(
        std::time::Duration::from_secs(15),
        "the refresh lag reported",
        || async { metric(&app, "dialbridge_token_refresh_lag_seconds").await >= 120.0 },
    )
    .await;
    assert_eq!(
        app.refresh_count().await,
        0,
        "the leased token was refreshed"
    );
    app.shutdown().await;
}

async fn a_refresh_whose_caller_went_away_is_still_stored(backend: Backend) {
    let app = with_acme_connected(TestApp::spawn(backend).await).await;
    let before = app.stored_connection("acme").await.token_version;
    // Dialpad retires the refresh token as the request arrives and answers 1.5 s later; the
    // caller, whose request meets a 401 and so refreshes, hangs up once the refresh request
    // has reached Dialpad.
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"token_latency_ms": 1500})),
    )
    .await;
    app.emulator_call(Method::POST, "/_control/tokens/expire", None)
        .await;
    let check = app
        .http
        .post(format!(
            "{}/api/v1/accounts/acme/connection/check",
            app.base
        ))
        .bearer_auth(&app.api_key);
    hang_up_once(check, "the refresh request reached Dialpad", || async {
        app.refresh_count().await == 1
    })
    .await;
    eventually_within(
        std::time::Duration::from_secs(10),
        "the refreshed token stored though its caller went away",
        || async { app.stored_connection("acme").await.token_version != before },
    )
    .await;
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"token_latency_ms": 0})),
    )
    .await;
    let (status, body) = app.check(&app.base, "acme").await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(app.refresh_count().await, 1, "one refresh, not a second");
    let rotated = app.emulator_stats().await["token_requests"]["rotated_refresh_token"].as_u64();
    assert_eq!(rotated, Some(0), "the retired refresh token was sent again");
    app.shutdown().await;
}
