//! Faults a client must survive, driven through the control API: every access token expired,
//! a company's grants revoked, deauthorize; plus the counters and log that tests observe.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

#[tokio::test]
async fn expire_all_gives_401_and_the_refresh_token_still_works() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(emu.api("/api/v2/company", access).await.0, StatusCode::OK);

    let (status, _) = emu
        .control(Method::POST, "/_control/tokens/expire", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = emu.api("/api/v2/company", access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 401);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("expired"));

    let response = emu.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_eq!(response.status(), StatusCode::OK);
    let fresh: Value = response.json().await.unwrap();
    let (status, _) = emu
        .api("/api/v2/company", fresh["access_token"].as_str().unwrap())
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "tokens issued after the expiry are live"
    );
}

#[tokio::test]
async fn a_zero_lifetime_token_is_expired_at_once() {
    let emu = TestEmulator::spawn().await;
    emu.control(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "access_token_ttl_secs": 0 })),
    )
    .await;
    let tokens = emu.connect().await;
    assert_eq!(tokens["expires_in"], 0);
    let (status, _) = emu
        .api("/api/v2/company", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn revoking_a_company_ends_its_grants_only() {
    let emu = TestEmulator::spawn().await;
    let acme = emu.connect().await; // the default user is Acme's admin
    let globex_user = emu.user_id(1, 0).await;
    let pkce = Pkce::new();
    let url = emu.dev_authorize_url("offline_access", "g", &pkce);
    let (_, body) = emu
        .control_authorize(json!({ "url": url, "user_id": globex_user }))
        .await;
    let location = url::Url::parse(body["location"].as_str().unwrap()).unwrap();
    let globex = emu.exchange(&query_of(&location)["code"], &pkce).await;

    let acme_id = emu.companies().await[0]["id"].as_str().unwrap().to_owned();
    let (status, body) = emu
        .control(
            Method::POST,
            &format!("/_control/companies/{acme_id}/revoke"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(body["revoked_grants"], 1);

    let (status, _) = emu
        .api("/api/v2/company", acme["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let refresh = emu.refresh(acme["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;

    let (status, company) = emu
        .api("/api/v2/company", globex["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(company["name"], "Globex");

    let (status, _) = emu
        .control(Method::POST, "/_control/companies/123/revoke", None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn deauthorize_revokes_the_grant() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let other = emu.connect().await;
    let access = tokens["access_token"].as_str().unwrap();
    let deauthorize = |token: &str| {
        emu.http
            .post(emu.url("/oauth2/deauthorize"))
            .bearer_auth(token)
            .send()
    };
    assert_eq!(
        deauthorize(access).await.unwrap().status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        emu.api("/api/v2/company", access).await.0,
        StatusCode::UNAUTHORIZED
    );
    let refresh = emu.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;

    // Again, or with a token that never existed: 401.
    assert_eq!(
        deauthorize(access).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        deauthorize("nope").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let (status, _) = emu
        .control(Method::POST, "/_control/tokens/expire", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let expired = other["access_token"].as_str().unwrap();
    assert_eq!(
        deauthorize(expired).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // Another grant was not touched by the first deauthorize.
    let refresh = emu.refresh(other["refresh_token"].as_str().unwrap()).await;
    assert_eq!(refresh.status(), StatusCode::OK);
}

#[tokio::test]
async fn stats_count_requests_successful_or_not() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert_eq!(emu.refresh(refresh).await.status(), StatusCode::OK);
    assert_eq!(emu.refresh(refresh).await.status(), StatusCode::BAD_REQUEST);
    emu.token_form(&[("grant_type", "authorization_code"), ("code", "bad")])
        .await;
    emu.http
        .post(emu.url("/oauth2/deauthorize"))
        .bearer_auth("nope")
        .send()
        .await
        .unwrap();
    let (status, stats) = emu.control(Method::GET, "/_control/stats", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        stats,
        json!({
            "token_requests": { "authorization_code": 2, "refresh_token": 2, "rotated_refresh_token": 1 },
            "deauthorize_requests": 1,
            "early_retries": 0,
            "api_requests": 0,
            "rate_limited": 0,
            "last_rate_limited": null,
            "faults_injected": 0,
            "response_schema_violations": 0,
            "last_violation": null,
        })
    );
}

#[tokio::test]
async fn the_request_log_shows_what_reached_dialpad_without_credentials() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let access = tokens["access_token"].as_str().unwrap();
    emu.http
        .get(emu.url("/api/v2/company?apikey=k"))
        .send()
        .await
        .unwrap();
    emu.api("/api/v2/users/me", access).await;
    emu.companies().await; // control requests are not logged

    let (_, log) = emu.control(Method::GET, "/_control/requests", None).await;
    let log = log.as_array().unwrap();
    assert_eq!(log.len(), 3, "{log:?}");
    assert_eq!(log[0]["method"], "POST");
    assert_eq!(log[0]["path"], "/oauth2/token");
    assert_eq!(log[0]["content_type"], "application/x-www-form-urlencoded");
    let body = log[0]["body"].as_str().unwrap();
    assert!(body.contains("grant_type=authorization_code"));
    assert_eq!(log[1]["path"], "/api/v2/company");
    assert_eq!(log[1]["query"], "apikey=k");
    assert_eq!(log[2]["path"], "/api/v2/users/me");
    assert_eq!(log[2]["auth_scheme"], "Bearer");
    assert!(!serde_json::to_string(&log).unwrap().contains(access));

    let (status, _) = emu
        .control(Method::DELETE, "/_control/requests", None)
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, log) = emu.control(Method::GET, "/_control/requests", None).await;
    assert_eq!(log, json!([]));
}

#[tokio::test]
async fn reset_returns_to_the_seeded_state() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    emu.control(
        Method::POST,
        "/_control/apps",
        Some(json!({ "client_id": "extra", "client_secret": "s" })),
    )
    .await;
    emu.control(
        Method::PATCH,
        "/_control/config",
        Some(json!({ "access_token_ttl_secs": 5 })),
    )
    .await;
    let (status, _) = emu.control(Method::POST, "/_control/reset", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);

    let (_, stats) = emu.control(Method::GET, "/_control/stats", None).await;
    assert_eq!(stats["token_requests"]["authorization_code"], 0);
    let (_, log) = emu.control(Method::GET, "/_control/requests", None).await;
    assert_eq!(log, json!([]));
    let (status, _) = emu
        .api("/api/v2/company", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (_, config) = emu.control(Method::GET, "/_control/config", None).await;
    assert_eq!(config["access_token_ttl_secs"], 3600);
    let url = emu.authorize_url(&[("client_id", "extra"), ("redirect_uri", REDIRECT_URI)]);
    let (status, _) = emu.control_authorize(json!({ "url": url })).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the extra app is gone");
}
