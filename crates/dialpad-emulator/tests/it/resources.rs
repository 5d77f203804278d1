//! The API v2 resources over real HTTP: users, contacts, channels, calls, SMS, webhooks and
//! event subscriptions; cursor pagination on every list; each company sees only its own data.
//! (Every answer is also checked against the spec's response schemas by `TestEmulator`; rate
//! limits are off here and tested in `fidelity.rs`.)

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::*;

const ACME: usize = 0;
const GLOBEX: usize = 1;

#[tokio::test]
async fn users_list_filters_and_pages() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let (users, pages) = emu.list_all("/api/v2/users", &key, 2).await;
    assert_eq!(users.len(), 3);
    assert_eq!(pages, 2);
    assert!(users.iter().all(|u| u["id"].is_string()));
    assert!(users
        .iter()
        .all(|u| u["company_id"] == users[0]["company_id"]));

    let (_, admins) = emu.api("/api/v2/users?company_admin=true", &key).await;
    assert_eq!(admins["items"].as_array().unwrap().len(), 1);
    assert_eq!(admins["items"][0]["first_name"], "Avery");
    assert!(admins.get("cursor").is_none(), "one page, no cursor");

    let (_, by_email) = emu
        .api("/api/v2/users?email=blake@acme.example", &key)
        .await;
    assert_eq!(by_email["items"][0]["last_name"], "Brown");
    let (_, by_number) = emu.api("/api/v2/users?number=%2B14155550103", &key).await;
    assert_eq!(by_number["items"][0]["first_name"], "Casey");

    let (status, body) = emu.api("/api/v2/users?cursor=garbage", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("cursor"));
    let (status, _) = emu.api("/api/v2/users?limit=0", &key).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn users_create_and_update_only_the_fields_given() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let office = emu.companies().await[ACME]["offices"][0]["id"].clone();
    let (status, user, _) = emu
        .send(
            Method::POST,
            "/api/v2/users",
            &key,
            Some(json!({ "email": "new@acme.example", "office_id": office, "first_name": "Nia", "last_name": "Ng", "license": "agents" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{user}");
    assert_eq!(user["display_name"], "Nia Ng");
    assert_eq!(user["license"], "agents");
    let id = user["id"].as_str().unwrap();

    let (status, updated, _) = emu
        .send(
            Method::PATCH,
            &format!("/api/v2/users/{id}"),
            &key,
            Some(json!({ "job_title": "Agent" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["job_title"], "Agent");
    assert_eq!(updated["first_name"], "Nia", "untouched fields stay");

    // The same email twice is refused; an office of another company is not found.
    let (status, _, _) = emu
        .send(
            Method::POST,
            "/api/v2/users",
            &key,
            Some(json!({ "email": "new@acme.example", "office_id": office })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let globex_office = emu.companies().await[GLOBEX]["offices"][0]["id"].clone();
    let (status, _, _) = emu
        .send(
            Method::POST,
            "/api/v2/users",
            &key,
            Some(json!({ "email": "x@acme.example", "office_id": globex_office })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn contacts_crud_and_isolation() {
    let emu = TestEmulator::spawn_unlimited().await;
    let acme = emu.company_key(ACME).await;
    let globex = emu.company_key(GLOBEX).await;
    let (seeded, _) = emu.list_all("/api/v2/contacts", &acme, 100).await;
    assert_eq!(seeded.len(), 3, "shared contacts only by default");
    assert!(seeded.iter().all(|c| c["type"] == "shared"));
    let (with_local, _) = emu
        .list_all("/api/v2/contacts?include_local=true", &acme, 100)
        .await;
    assert_eq!(with_local.len(), 4);

    let (status, created, _) = emu
        .send(
            Method::POST,
            "/api/v2/contacts",
            &acme,
            Some(json!({ "first_name": "Kim", "last_name": "Kwan", "phones": ["+14155550177"], "emails": ["kim@example.com"] })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{created}");
    assert_eq!(created["display_name"], "Kim Kwan");
    assert_eq!(created["primary_phone"], "+14155550177");
    let path = format!("/api/v2/contacts/{}", created["id"].as_str().unwrap());

    let (status, got) = emu.api(&path, &acme).await;
    assert_eq!((status, &got), (StatusCode::OK, &created));
    let (status, _) = emu.api(&path, &globex).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another company's contact");

    let (status, updated, _) = emu
        .send(
            Method::PATCH,
            &path,
            &acme,
            Some(json!({ "last_name": "King" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(updated["display_name"], "Kim King");
    assert_eq!(updated["phones"], json!(["+14155550177"]));

    let (status, deleted, _) = emu.send(Method::DELETE, &path, &acme, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["id"], created["id"]);
    let (status, _) = emu.api(&path, &acme).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn channels_list_create_get_delete() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let (channels, _) = emu.list_all("/api/v2/channels", &key, 1).await;
    assert_eq!(channels.len(), 2);
    let body = json!({ "name": "launch", "description": "Launch day", "privacy_type": "public" });
    let (status, channel, _) = emu
        .send(Method::POST, "/api/v2/channels", &key, Some(body.clone()))
        .await;
    assert_eq!(status, StatusCode::OK, "{channel}");
    assert_eq!(channel["name"], "launch");
    let (status, _, _) = emu
        .send(Method::POST, "/api/v2/channels", &key, Some(body))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "names are unique");
    let path = format!("/api/v2/channels/{}", channel["id"].as_str().unwrap());
    assert_eq!(emu.api(&path, &key).await.1, channel);
    let (status, _, _) = emu.send(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(emu.api(&path, &key).await.0, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn calls_list_with_time_and_target_filters() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let (calls, _) = emu.list_all("/api/v2/call", &key, 4).await;
    assert_eq!(calls.len(), 6);
    let started: Vec<i64> = calls
        .iter()
        .map(|c| c["date_started"].as_str().unwrap().parse().unwrap())
        .collect();
    assert!(started.windows(2).all(|w| w[0] >= w[1]), "newest first");

    let pivot = started[2];
    let (after, _) = emu
        .list_all(&format!("/api/v2/call?started_after={pivot}"), &key, 100)
        .await;
    assert_eq!(after.len(), 2);
    let (before, _) = emu
        .list_all(&format!("/api/v2/call?started_before={pivot}"), &key, 100)
        .await;
    assert_eq!(before.len(), 3);

    let blake = emu.user_id(ACME, 1).await;
    let (blakes, _) = emu
        .list_all(
            &format!("/api/v2/call?target_type=user&target_id={blake}"),
            &key,
            100,
        )
        .await;
    assert_eq!(blakes.len(), 2);
    assert!(blakes.iter().all(|c| c["target"]["id"] == blake.as_str()));

    let id = calls[0]["call_id"].as_str().unwrap();
    let (status, call) = emu.api(&format!("/api/v2/call/{id}"), &key).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(call, calls[0]);
    let globex = emu.company_key(GLOBEX).await;
    assert_eq!(
        emu.api(&format!("/api/v2/call/{id}"), &globex).await.0,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test]
async fn live_calls_take_participants_transfers_and_hang_ups() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let avery = emu.user_id(ACME, 0).await;
    let (status, rung, _) = emu
        .send(
            Method::POST,
            "/api/v2/call",
            &key,
            Some(json!({ "phone_number": "+14155550150", "user_id": avery })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{rung}");
    let id = rung["call_id"].as_str().unwrap().to_owned();
    let (_, call) = emu.api(&format!("/api/v2/call/{id}"), &key).await;
    assert_eq!(call["state"], "calling");
    assert_eq!(
        call["contact"]["name"], "Dana Diaz",
        "the number is a contact's"
    );

    let (status, leg, _) = emu
        .send(
            Method::POST,
            &format!("/api/v2/call/{id}/participants/add"),
            &key,
            Some(json!({ "participant": { "number": "+14155550199" } })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{leg}");
    assert_ne!(leg["call_id"], rung["call_id"]);

    let blake = emu.user_id(ACME, 1).await;
    let (status, transferred, _) = emu
        .send(
            Method::POST,
            &format!("/api/v2/call/{}/transfer", leg["call_id"].as_str().unwrap()),
            &key,
            Some(json!({ "to": { "target_id": blake, "target_type": "user" }, "transfer_state": "hold" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{transferred}");
    assert_eq!(transferred["transferred_to_number"], "+14155550102");
    assert_eq!(transferred["transferred_to_state"], "hold");

    let hangup = format!("/api/v2/call/{id}/actions/hangup");
    let (status, _, _) = emu.send(Method::PUT, &hangup, &key, None).await;
    assert_eq!(status, StatusCode::OK);
    let (_, call) = emu.api(&format!("/api/v2/call/{id}"), &key).await;
    assert_eq!(call["state"], "hangup");
    assert!(call["date_ended"].is_string());
    let (status, body, _) = emu.send(Method::PUT, &hangup, &key, None).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "an ended call: {body}");
    assert!(body["error"]["message"]
        .as_str()
        .unwrap()
        .contains("not in progress"));
}

#[tokio::test]
async fn sms_send_checks_recipients_and_sender() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let blake = emu.user_id(ACME, 1).await;
    let (status, sms, _) = emu
        .send(
            Method::POST,
            "/api/v2/sms",
            &key,
            Some(json!({ "to_numbers": ["+14155550150"], "text": "Hello", "user_id": blake })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sms}");
    assert_eq!(sms["direction"], "outbound");
    assert_eq!(sms["from_number"], "+14155550102");
    assert_eq!(sms["text"], "Hello");
    assert!(sms["contact_id"].is_string(), "the recipient is a contact");

    let eleven: Vec<String> = (0..11).map(|i| format!("+1415555{i:04}")).collect();
    for (body, needle) in [
        (
            json!({ "to_numbers": eleven, "text": "x", "user_id": blake }),
            "at most 10",
        ),
        (
            json!({ "to_numbers": ["12"], "text": "x", "user_id": blake }),
            "E.164",
        ),
        (
            json!({ "to_numbers": ["+14155550150"], "user_id": blake }),
            "text",
        ),
        (
            json!({ "to_numbers": ["+14155550150"], "text": "x" }),
            "user_id",
        ),
    ] {
        let (status, error, _) = emu
            .send(Method::POST, "/api/v2/sms", &key, Some(body))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        let message = error["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(needle),
            "{message} should mention {needle}"
        );
    }
}

#[tokio::test]
async fn webhooks_and_subscriptions_crud() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let (status, webhook, _) = emu
        .send(
            Method::POST,
            "/api/v2/webhooks",
            &key,
            Some(json!({ "hook_url": "https://vendor.example/hook", "secret": "s3cret" })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{webhook}");
    assert_eq!(
        webhook["signature"],
        json!({ "algo": "HS256", "secret": "s3cret", "type": "jwt" })
    );
    let webhook_id = webhook["id"].as_str().unwrap().to_owned();

    let creates = [
        (
            "call",
            json!({ "endpoint_id": webhook_id, "call_states": ["ringing", "hangup"] }),
        ),
        (
            "sms",
            json!({ "endpoint_id": webhook_id, "direction": "inbound" }),
        ),
        (
            "contact",
            json!({ "endpoint_id": webhook_id, "contact_type": "shared" }),
        ),
        (
            "agent_status",
            json!({ "endpoint_id": webhook_id, "agent_type": "callcenter" }),
        ),
    ];
    for (kind, body) in creates {
        let base = format!("/api/v2/subscriptions/{kind}");
        let (status, sub, _) = emu.send(Method::POST, &base, &key, Some(body)).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {sub}");
        assert_eq!(sub["enabled"], true);
        assert_eq!(sub["webhook"]["id"], webhook_id.as_str());
        let path = format!("{base}/{}", sub["id"].as_str().unwrap());
        assert_eq!(emu.api(&path, &key).await.1, sub);
        // The spec makes `contact_type` required even in an update.
        let patch = match kind {
            "contact" => json!({ "enabled": false, "contact_type": "shared" }),
            _ => json!({ "enabled": false }),
        };
        let (status, updated, _) = emu.send(Method::PATCH, &path, &key, Some(patch)).await;
        assert_eq!(status, StatusCode::OK, "{kind}: {updated}");
        assert_eq!(updated["enabled"], false);
        let (listed, _) = emu.list_all(&base, &key, 10).await;
        assert_eq!(listed, vec![updated.clone()]);
        let (status, _, _) = emu.send(Method::DELETE, &path, &key, None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(emu.api(&path, &key).await.0, StatusCode::NOT_FOUND);
    }

    // A subscription must point at a webhook of the company.
    let (status, error, _) = emu
        .send(
            Method::POST,
            "/api/v2/subscriptions/sms",
            &key,
            Some(json!({ "endpoint_id": "123", "direction": "all" })),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(error["error"]["message"]
        .as_str()
        .unwrap()
        .contains("endpoint_id"));

    // Another company sees none of it; deleting the webhook answers its proto.
    let globex = emu.company_key(GLOBEX).await;
    let path = format!("/api/v2/webhooks/{webhook_id}");
    assert_eq!(emu.api(&path, &globex).await.0, StatusCode::NOT_FOUND);
    let (globex_hooks, _) = emu.list_all("/api/v2/webhooks", &globex, 10).await;
    assert!(globex_hooks.is_empty());
    let (status, deleted, _) = emu.send(Method::DELETE, &path, &key, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(deleted["hook_url"], "https://vendor.example/hook");
}

/// Dialpad does not document that deleting a webhook deletes its subscriptions: the emulator
/// keeps them (listable, delivering nothing), and they count toward the cap of 100 per kind.
#[tokio::test]
async fn deleting_a_webhook_keeps_its_subscriptions_and_they_count_toward_the_cap() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    let create = |path: &'static str, body: serde_json::Value| {
        let (emu, key) = (&emu, &key);
        async move {
            let (status, created, _) = emu.send(Method::POST, path, key, Some(body)).await;
            (status, created)
        }
    };
    let sms = |endpoint: &str| json!({ "endpoint_id": endpoint, "direction": "inbound" });
    let (_, old) = create(
        "/api/v2/webhooks",
        json!({ "hook_url": "https://v.example/old" }),
    )
    .await;
    let old = old["id"].as_str().unwrap().to_owned();
    let (status, sub) = create("/api/v2/subscriptions/sms", sms(&old)).await;
    assert_eq!(status, StatusCode::OK, "{sub}");
    let webhook = format!("/api/v2/webhooks/{old}");
    assert_eq!(
        emu.send(Method::DELETE, &webhook, &key, None).await.0,
        StatusCode::OK
    );
    let (left, _) = emu.list_all("/api/v2/subscriptions/sms", &key, 100).await;
    assert_eq!(left.len(), 1, "the subscription outlives its webhook");
    assert_eq!(left[0]["id"], sub["id"]);
    assert_eq!(left[0]["webhook"], json!({ "id": old }));

    // 99 more reach the cap of 100 SMS subscriptions: the orphan counts.
    let (_, new) = create(
        "/api/v2/webhooks",
        json!({ "hook_url": "https://v.example/new" }),
    )
    .await;
    let new = new["id"].as_str().unwrap().to_owned();
    for _ in 0..99 {
        let (status, body) = create("/api/v2/subscriptions/sms", sms(&new)).await;
        assert_eq!(status, StatusCode::OK, "{body}");
    }
    let (status, refused) = create("/api/v2/subscriptions/sms", sms(&new)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    assert_eq!(refused["error"]["code"], 400);
    let message = refused["error"]["message"].as_str().unwrap();
    assert!(message.contains("100 sms event subscriptions"), "{message}");

    // Another kind has its own cap; deleting the orphan frees a place.
    let call = json!({ "endpoint_id": new, "call_states": ["hangup"] });
    assert_eq!(
        create("/api/v2/subscriptions/call", call).await.0,
        StatusCode::OK
    );
    let orphan = format!("/api/v2/subscriptions/sms/{}", sub["id"].as_str().unwrap());
    assert_eq!(
        emu.send(Method::DELETE, &orphan, &key, None).await.0,
        StatusCode::OK
    );
    assert_eq!(
        create("/api/v2/subscriptions/sms", sms(&new)).await.0,
        StatusCode::OK
    );
}

#[tokio::test]
async fn every_list_pages_with_cursor_and_limit() {
    let emu = TestEmulator::spawn_unlimited().await;
    let key = emu.company_key(ACME).await;
    for path in [
        "/api/v2/users",
        "/api/v2/contacts",
        "/api/v2/channels",
        "/api/v2/call",
    ] {
        let (one_by_one, pages) = emu.list_all(path, &key, 1).await;
        let (all, single) = emu.list_all(path, &key, 1000).await;
        assert_eq!(single, 1, "{path}");
        assert_eq!(pages, all.len(), "{path}: one item per page");
        assert_eq!(one_by_one, all, "{path}");
    }
}
