//! The emulator nested under `/emulator` in a bigger router still works end to end: the
//! consent page's form resolves relatively, redirects and the API answer under the prefix.

use dialpad_emulator::EmulatorConfig;
use reqwest::header::LOCATION;
use reqwest::{Method, StatusCode};
use serde_json::Value;
use url::Url;

use crate::support::*;

#[tokio::test]
async fn the_whole_flow_under_a_prefix() {
    let emu = TestEmulator::spawn_with(EmulatorConfig::default(), Some("/emulator")).await;
    assert!(emu.base.ends_with("/emulator"));
    let pkce = Pkce::new();
    let page_url = emu.dev_authorize_url("offline_access", "n1", &pkce);
    let response = emu.http.get(&page_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let html = response.text().await.unwrap();

    // Resolve the form's action against the page, as a browser does.
    let action_start = html.find(r#"action=""#).unwrap() + r#"action=""#.len();
    let action = &html[action_start..action_start + html[action_start..].find('"').unwrap()];
    let target = Url::parse(&page_url).unwrap().join(action).unwrap();
    assert!(target.path().starts_with("/emulator/"), "{target}");
    let id_marker = r#"name="request_id" value=""#;
    let id_start = html.find(id_marker).unwrap() + id_marker.len();
    let request_id = &html[id_start..id_start + html[id_start..].find('"').unwrap()];
    let user = emu.user_id(0, 1).await;
    let response = emu
        .http
        .post(target)
        .form(&[
            ("request_id", request_id),
            ("user_id", &user),
            ("decision", "approve"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let location = Url::parse(response.headers()[LOCATION].to_str().unwrap()).unwrap();
    let code = query_of(&location)["code"].clone();

    let tokens = emu.exchange(&code, &pkce).await;
    let refreshed: Value = emu
        .refresh(tokens["refresh_token"].as_str().unwrap())
        .await
        .json()
        .await
        .unwrap();
    let (status, me) = emu
        .api(
            "/api/v2/users/me",
            refreshed["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], user);

    let (_, log) = emu.control(Method::GET, "/_control/requests", None).await;
    let paths: Vec<&str> = log
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["path"].as_str().unwrap())
        .collect();
    assert_eq!(
        paths,
        [
            "/oauth2/authorize",
            "/oauth2/decision",
            "/oauth2/token",
            "/oauth2/token",
            "/api/v2/users/me"
        ]
    );
}
