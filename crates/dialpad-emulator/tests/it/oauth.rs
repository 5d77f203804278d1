//! The OAuth code flow as a client meets it: authorize (control API and consent page), the
//! token endpoint's body formats and client authentication, PKCE, code reuse, refresh.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use dialpad_emulator::EmulatorConfig;
use reqwest::header::{CONTENT_TYPE, LOCATION};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};
use url::Url;

use crate::support::*;

#[tokio::test]
async fn code_flow_with_pkce_s256_and_a_form_body() {
    let emu = TestEmulator::spawn().await;
    let pkce = Pkce::new();
    let url = emu.dev_authorize_url("offline_access calls:list", "state-123", &pkce);
    let location = emu.approve(&url).await;
    assert!(location
        .as_str()
        .starts_with(&format!("{REDIRECT_URI}?code=")));
    let query = query_of(&location);
    assert_eq!(query["state"], "state-123");

    let tokens = emu.exchange(&query["code"], &pkce).await;
    assert_eq!(tokens["token_type"], "bearer");
    assert_eq!(tokens["expires_in"], 3600);
    assert!(
        tokens.get("scope").is_none(),
        "the spec's response has no scope"
    );
    let access = tokens["access_token"].as_str().unwrap();
    let refresh = tokens["refresh_token"].as_str().unwrap();
    assert!(access.len() >= 43 && refresh.len() >= 43);
    assert_ne!(access, refresh);

    // The token works, and speaks for the default user: the first company's admin.
    let (status, me) = emu.api("/api/v2/users/me", access).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], emu.user_id(0, 0).await);
    assert_eq!(me["is_admin"], true);
}

#[tokio::test]
async fn json_body_with_basic_auth_whose_parts_are_form_decoded() {
    let emu = TestEmulator::spawn().await;
    let (status, _) = emu
        .control(
            Method::POST,
            "/_control/apps",
            Some(json!({
                "client_id": "my app",
                "client_secret": "s3cr=t&+",
                "redirect_uris": [REDIRECT_URI],
            })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED);
    let pkce = Pkce::new();
    let url = emu.authorize_url(&[
        ("client_id", "my app"),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", &pkce.challenge),
        ("code_challenge_method", "S256"),
    ]);
    let code = query_of(&emu.approve(&url).await)["code"].clone();

    // RFC 6749 §2.3.1: form-encode id and secret, then base64 "id:secret".
    let basic = STANDARD.encode("my+app:s3cr%3Dt%26%2B");
    let response = emu
        .http
        .post(emu.url("/oauth2/token"))
        .header("Authorization", format!("Basic {basic}"))
        .json(&json!({
            "grant_type": "authorization_code",
            "code": code,
            "code_verifier": pkce.verifier,
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let tokens: Value = response.json().await.unwrap();
    assert!(tokens["access_token"].is_string());
    assert!(
        tokens.get("refresh_token").is_none(),
        "no offline_access, no refresh token"
    );
}

#[tokio::test]
async fn consent_page_form_flow_as_a_browser_posts_it() {
    let emu = TestEmulator::spawn().await;
    let pkce = Pkce::new();
    let page_url = emu.dev_authorize_url("offline_access recordings_export", "s1", &pkce);
    let response = emu.http.get(&page_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();
    assert!(html.contains("Dialbridge (development)"));
    assert!(html.contains("offline_access") && html.contains("recordings_export"));
    assert!(
        html.contains("Hugo Hale — Globex"),
        "users of all companies"
    );

    // Sign in as a non-admin user of the second company.
    let hugo = emu.user_id(1, 1).await;
    assert!(html.contains(&format!(r#"<option value="{hugo}""#)));
    let location = submit_consent(&emu, &page_url, &html, &hugo, "approve").await;
    let query = query_of(&location);
    assert_eq!(query["state"], "s1");
    let tokens = emu.exchange(&query["code"], &pkce).await;
    let (_, me) = emu
        .api("/api/v2/users/me", tokens["access_token"].as_str().unwrap())
        .await;
    assert_eq!(me["id"], hugo);
    assert_eq!(me["display_name"], "Hugo Hale");

    // The page's request is answered once only.
    let again = submit(&emu, &page_url, &html, &hugo, "approve").await;
    assert_eq!(again.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn consent_page_deny_redirects_with_access_denied() {
    let emu = TestEmulator::spawn().await;
    let page_url = emu.dev_authorize_url("", "s2", &Pkce::new());
    let html = emu
        .http
        .get(&page_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let user = emu.user_id(0, 0).await;
    let location = submit_consent(&emu, &page_url, &html, &user, "deny").await;
    let query = query_of(&location);
    assert_eq!(query["error"], "access_denied");
    assert_eq!(query["state"], "s2");
    assert!(!query.contains_key("code"));
}

#[tokio::test]
async fn control_deny_and_invalid_scope_come_back_as_redirects() {
    let emu = TestEmulator::spawn().await;
    let url = emu.dev_authorize_url("offline_access", "s3", &Pkce::new());
    let (status, body) = emu
        .control_authorize(json!({ "url": url, "decision": "deny" }))
        .await;
    assert_eq!(status, StatusCode::OK);
    let denied = Url::parse(body["location"].as_str().unwrap()).unwrap();
    assert_eq!(query_of(&denied)["error"], "access_denied");
    assert_eq!(query_of(&denied)["state"], "s3");

    let url = emu.dev_authorize_url("offline_access settings:write", "s4", &Pkce::new());
    let invalid = emu.approve(&url).await;
    let query = query_of(&invalid);
    assert_eq!(query["error"], "invalid_scope");
    assert!(query["error_description"].contains("settings:write"));
    assert_eq!(query["state"], "s4");

    // The browser path answers the same redirect, without a consent page.
    let response = emu.http.get(&url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    assert_eq!(response.headers()[LOCATION], invalid.as_str());
}

#[tokio::test]
async fn untrusted_redirect_uris_get_a_400_and_never_a_redirect() {
    let emu = TestEmulator::spawn().await;
    emu.control(
        Method::POST,
        "/_control/apps",
        Some(json!({
            "client_id": "strict",
            "client_secret": "s",
            "redirect_uris": ["https://app.example/cb"],
        })),
    )
    .await;
    let cases = [
        ("strict", "https://evil.example/cb", "not registered"),
        ("nobody", "https://app.example/cb", "unknown client_id"),
    ];
    for (client_id, redirect_uri, message) in cases {
        let url = emu.authorize_url(&[
            ("client_id", client_id),
            ("redirect_uri", redirect_uri),
            ("scope", "bogus"),
        ]);
        let response = emu.http.get(&url).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert!(response.headers().get(LOCATION).is_none());
        assert!(response.headers()[CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/html"));
        assert!(response.text().await.unwrap().contains(message));

        let (status, body) = emu.control_authorize(json!({ "url": url })).await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(body["error"]["code"], "invalid_request", "{body}");
        assert!(
            body["error"]["message"].as_str().unwrap().contains(message),
            "{body}"
        );
    }
    // The registered URI itself is fine.
    let ok = emu.authorize_url(&[
        ("client_id", "strict"),
        ("redirect_uri", "https://app.example/cb"),
    ]);
    assert!(emu
        .approve(&ok)
        .await
        .as_str()
        .starts_with("https://app.example/cb?code="));
}

#[tokio::test]
async fn a_wrong_verifier_is_invalid_grant_and_a_missing_one_invalid_request() {
    let emu = TestEmulator::spawn().await;
    let pkce = Pkce::new();
    let code = emu.code("offline_access", &pkce).await;
    let wrong = Pkce::new();
    let response = emu
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", &wrong.verifier),
        ])
        .await;
    let description = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(description.contains("code_verifier"));
    let response = emu
        .token_form(&[("grant_type", "authorization_code"), ("code", &code)])
        .await;
    assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The right verifier still works: failed attempts do not consume the code.
    emu.exchange(&code, &pkce).await;
}

#[tokio::test]
async fn plain_pkce_and_redirect_uri_must_match() {
    let emu = TestEmulator::spawn().await;
    let verifier = "a-plain-verifier-that-is-long-enough-for-rfc-7636";
    let url = emu.authorize_url(&[
        ("client_id", CLIENT_ID),
        ("redirect_uri", REDIRECT_URI),
        ("code_challenge", verifier),
        ("code_challenge_method", "plain"),
    ]);
    let code = query_of(&emu.approve(&url).await)["code"].clone();
    let response = emu
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", "http://127.0.0.1:9/other"),
            ("code_verifier", verifier),
        ])
        .await;
    let description = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(description.contains("redirect_uri"));
    let response = emu
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("code_verifier", verifier),
        ])
        .await;
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "redirect_uri may be left out"
    );
}

#[tokio::test]
async fn reusing_a_code_fails_and_revokes_its_tokens() {
    let emu = TestEmulator::spawn().await;
    let pkce = Pkce::new();
    let code = emu.code("offline_access", &pkce).await;
    let tokens = emu.exchange(&code, &pkce).await;
    let access = tokens["access_token"].as_str().unwrap();
    assert_eq!(emu.api("/api/v2/company", access).await.0, StatusCode::OK);

    let response = emu
        .token_form(&[
            ("grant_type", "authorization_code"),
            ("code", &code),
            ("redirect_uri", REDIRECT_URI),
            ("code_verifier", &pkce.verifier),
        ])
        .await;
    let description = assert_oauth_error(response, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(description.contains("already used"));
    let (status, body) = emu.api("/api/v2/company", access).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 401);
    let refresh = emu.refresh(tokens["refresh_token"].as_str().unwrap()).await;
    assert_oauth_error(refresh, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

#[tokio::test]
async fn refresh_rotates_and_the_old_refresh_token_stops_working() {
    let emu = TestEmulator::spawn().await;
    let tokens = emu.connect().await;
    let first = tokens["refresh_token"].as_str().unwrap();

    let response = emu.refresh(first).await;
    assert_eq!(response.status(), StatusCode::OK);
    let refreshed: Value = response.json().await.unwrap();
    let second = refreshed["refresh_token"].as_str().unwrap();
    assert_ne!(second, first);
    assert_ne!(refreshed["access_token"], tokens["access_token"]);
    let (status, _) = emu
        .api(
            "/api/v2/company",
            refreshed["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);

    let reuse = emu.refresh(first).await;
    let description = assert_oauth_error(reuse, StatusCode::BAD_REQUEST, "invalid_grant").await;
    assert!(description.contains("already exchanged"));
    assert_eq!(emu.refresh(second).await.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_rotation_the_refresh_token_is_kept() {
    let config = EmulatorConfig {
        rotate_refresh_tokens: false,
        ..EmulatorConfig::default()
    };
    let emu = TestEmulator::spawn_with(config, None).await;
    let tokens = emu.connect().await;
    let refresh = tokens["refresh_token"].as_str().unwrap();
    for _ in 0..2 {
        let response = emu.refresh(refresh).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert!(body.get("refresh_token").is_none(), "{body}");
        assert!(body["access_token"].is_string());
    }
}

#[tokio::test]
async fn config_patch_switches_rotation_and_lifetime() {
    let emu = TestEmulator::spawn().await;
    let (status, config) = emu
        .control(
            Method::PATCH,
            "/_control/config",
            Some(json!({ "rotate_refresh_tokens": false, "access_token_ttl_secs": 120 })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(config["access_token_ttl_secs"], 120);
    assert_eq!(config["rotate_refresh_tokens"], false);
    assert_eq!(config["rate_limits"], true, "fields not named are kept");
    let tokens = emu.connect().await;
    assert_eq!(tokens["expires_in"], 120);
    let refreshed: Value = emu
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    assert!(refreshed.get("refresh_token").is_none());
}

#[tokio::test]
async fn client_authentication_failures_are_401_invalid_client() {
    let emu = TestEmulator::spawn().await;
    let pkce = Pkce::new();
    let code = emu.code("", &pkce).await;
    let wrong_secret = emu
        .http
        .post(emu.url("/oauth2/token"))
        .basic_auth(CLIENT_ID, Some("wrong"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert!(wrong_secret.headers().contains_key("www-authenticate"));
    assert_oauth_error(wrong_secret, StatusCode::UNAUTHORIZED, "invalid_client").await;
    let missing = emu
        .http
        .post(emu.url("/oauth2/token"))
        .form(&[("grant_type", "authorization_code"), ("code", &code)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(missing, StatusCode::UNAUTHORIZED, "invalid_client").await;

    let unsupported = emu.token_form(&[("grant_type", "password")]).await;
    assert_oauth_error(
        unsupported,
        StatusCode::BAD_REQUEST,
        "unsupported_grant_type",
    )
    .await;
    let no_grant = emu.token_form(&[("code", &code)]).await;
    assert_oauth_error(no_grant, StatusCode::BAD_REQUEST, "invalid_request").await;
    let unknown_code = emu
        .token_form(&[("grant_type", "authorization_code"), ("code", "nope")])
        .await;
    assert_oauth_error(unknown_code, StatusCode::BAD_REQUEST, "invalid_grant").await;
}

/// Posts the consent form found in `html` (served at `page_url`) as a browser would.
async fn submit(
    emu: &TestEmulator,
    page_url: &str,
    html: &str,
    user_id: &str,
    decision: &str,
) -> reqwest::Response {
    let action = attribute(html, "<form", "action");
    let request_id = attribute(html, r#"name="request_id""#, "value");
    let target = Url::parse(page_url).unwrap().join(&action).unwrap();
    emu.http
        .post(target)
        .form(&[
            ("request_id", request_id.as_str()),
            ("user_id", user_id),
            ("decision", decision),
        ])
        .send()
        .await
        .unwrap()
}

async fn submit_consent(
    emu: &TestEmulator,
    page_url: &str,
    html: &str,
    user_id: &str,
    decision: &str,
) -> Url {
    let response = submit(emu, page_url, html, user_id, decision).await;
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = response.headers()[LOCATION].to_str().unwrap();
    assert!(location.starts_with(REDIRECT_URI), "{location}");
    Url::parse(location).unwrap()
}

/// The value of `name="..."` in the first tag that contains `marker`.
fn attribute(html: &str, marker: &str, name: &str) -> String {
    let start = html.find(marker).expect("marker in page");
    let tag_start = html[..=start].rfind('<').unwrap_or(start);
    let tag_end = start + html[start..].find('>').expect("end of tag");
    let tag = &html[tag_start..tag_end];
    let needle = format!(r#"{name}=""#);
    let value_start = tag.find(&needle).expect("attribute in tag") + needle.len();
    let value_end = value_start + tag[value_start..].find('"').expect("closing quote");
    tag[value_start..value_end].to_owned()
}
