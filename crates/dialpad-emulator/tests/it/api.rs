//! API v2 as a caller sees it: OAuth tokens and API keys (header or `apikey` query), the
//! company and users resources, `me`, and Dialpad's error shape.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::*;

async fn api_key(emu: &TestEmulator, company: usize, user: Option<usize>) -> String {
    let companies = emu.companies().await;
    let mut body = json!({ "company_id": companies[company]["id"] });
    if let Some(user) = user {
        body["user_id"] = companies[company]["users"][user]["id"].clone();
    }
    let (status, key) = emu
        .control(Method::POST, "/_control/api-keys", Some(body))
        .await;
    assert_eq!(status, StatusCode::CREATED);
    key["api_key"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn company_key_via_header_and_query() {
    let emu = TestEmulator::spawn().await;
    let key = api_key(&emu, 1, None).await;
    let (status, company) = emu.api("/api/v2/company", &key).await;
    assert_eq!(status, StatusCode::OK);
    let expected = emu.companies().await[1]["id"].clone();
    assert_eq!(company["id"], expected);
    assert!(company["id"].is_string());
    assert_eq!(company["name"], "Globex");
    assert_eq!(company["office_count"], "1");
    assert_eq!(company["state"], "active");
    assert_eq!(company["admin_email"], "gina@globex.example");

    let response = emu
        .http
        .get(emu.url(&format!("/api/v2/company?apikey={key}")))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let by_query: Value = response.json().await.unwrap();
    assert_eq!(by_query, company);

    // 'me' needs a user-level token.
    let (status, body) = emu.api("/api/v2/users/me", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(
        body,
        json!({ "error": { "code": 400, "message": "'me' requires a user-level token" } })
    );
}

#[tokio::test]
async fn the_library_api_makes_keys_too() {
    let emu = TestEmulator::spawn().await;
    let companies = emu.companies().await;
    let acme = companies[0]["id"].as_str().unwrap();
    let blake = companies[0]["users"][1]["id"].as_str().unwrap();
    let globex_user = companies[1]["users"][0]["id"].as_str().unwrap();
    assert!(emu.emulator.create_api_key("42", None).is_none());
    assert!(emu
        .emulator
        .create_api_key(acme, Some(globex_user))
        .is_none());
    let key = emu.emulator.create_api_key(acme, Some(blake)).unwrap();
    let (status, me) = emu.api("/api/v2/users/me", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(me["id"], blake);
    assert_eq!(me["first_name"], "Blake");
}

#[tokio::test]
async fn users_of_the_callers_company_only() {
    let emu = TestEmulator::spawn().await;
    let key = api_key(&emu, 0, Some(2)).await;
    let companies = emu.companies().await;
    let casey = &companies[0]["users"][2];
    let (status, me) = emu.api("/api/v2/users/me", &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(&me, casey);
    for field in ["id", "company_id", "office_id"] {
        assert!(me[field].is_string(), "{field} is an int64 string");
    }
    assert_eq!(me["state"], "active");
    assert_eq!(me["is_admin"], false);
    assert_eq!(me["emails"], json!(["casey@acme.example"]));
    assert_eq!(me["phone_numbers"][0], "+14155550103");

    let admin_id = companies[0]["users"][0]["id"].as_str().unwrap();
    let (status, admin) = emu.api(&format!("/api/v2/users/{admin_id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(admin["is_admin"], true);

    let other = companies[1]["users"][0]["id"].as_str().unwrap();
    for id in [other, "123", "not-a-number"] {
        let (status, body) = emu.api(&format!("/api/v2/users/{id}"), &key).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{id}");
        assert_eq!(body["error"]["code"], 404);
    }
}

#[tokio::test]
async fn bad_credentials_get_401_in_dialpads_shape() {
    let emu = TestEmulator::spawn().await;
    let missing = emu
        .http
        .get(emu.url("/api/v2/company"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"]["code"], 401);
    assert!(body["error"]["message"].is_string());
    let (status, body) = emu.api("/api/v2/users/me", "unknown-token").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"]["code"], 401);

    let tokens = emu.connect().await;
    let (status, body) = emu
        .api(
            "/api/v2/no-such-thing",
            tokens["access_token"].as_str().unwrap(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(body["error"]["code"], 404);
}

#[tokio::test]
async fn control_api_key_errors() {
    let emu = TestEmulator::spawn().await;
    let companies = emu.companies().await;
    let cases = [
        (json!({ "company_id": "42" }), StatusCode::NOT_FOUND),
        (
            json!({ "company_id": companies[0]["id"], "user_id": companies[1]["users"][0]["id"] }),
            StatusCode::NOT_FOUND,
        ),
        (json!({ "user_id": "1" }), StatusCode::BAD_REQUEST),
    ];
    for (body, expected) in cases {
        let (status, answer) = emu
            .control(Method::POST, "/_control/api-keys", Some(body.clone()))
            .await;
        assert_eq!(status, expected, "{body}");
        assert!(answer["error"]["code"].is_string(), "{answer}");
        assert!(answer["error"]["message"].is_string(), "{answer}");
    }
}

#[tokio::test]
async fn bulk_companies_each_have_an_admin_a_channel_and_their_own_key() {
    let emu = TestEmulator::spawn().await;
    let (status, created) = emu
        .control(
            Method::POST,
            "/_control/companies/bulk",
            Some(json!({ "count": 3 })),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let created = created.as_array().unwrap();
    assert_eq!(created.len(), 3);
    assert_eq!(emu.companies().await.as_array().unwrap().len(), 2 + 3);
    for company in created {
        let key = company["api_key"].as_str().unwrap();
        let (status, body) = emu.api("/api/v2/company", key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["id"], company["company_id"]);
        let channel = format!(
            "/api/v2/channels/{}",
            company["channel_id"].as_str().unwrap()
        );
        let (status, body) = emu.api(&channel, key).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["name"], "general");
        let (status, body, _) = emu
            .send(
                Method::POST,
                "/api/v2/sms",
                key,
                Some(json!({
                    "user_id": company["admin_user_id"],
                    "to_numbers": ["+14155550150"],
                    "text": "hello",
                })),
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(body["from_number"], company["admin_phone"]);
    }
    // A company's key sees its own channel only.
    let other = format!(
        "/api/v2/channels/{}",
        created[1]["channel_id"].as_str().unwrap()
    );
    let (status, _) = emu
        .api(&other, created[0]["api_key"].as_str().unwrap())
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    for count in [0, 20_001] {
        let (status, _) = emu
            .control(
                Method::POST,
                "/_control/companies/bulk",
                Some(json!({ "count": count })),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
    }
}
