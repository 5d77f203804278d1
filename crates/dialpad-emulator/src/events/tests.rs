//! Matching, payloads and the outbox against a seeded store (subscriptions inserted directly),
//! and one real delivery round with retries. `tests/events.rs` covers the same over HTTP,
//! subscriptions created through the API.

use std::sync::{Arc, Mutex};

use axum::http::HeaderMap;
use axum::routing::post;
use axum::Router;
use serde_json::Value;

use super::*;
use crate::config::EmulatorConfig;
use crate::ids::{ContactId, SmsId};
use crate::seed::{ACME, ACME_HQ, GLOBEX};
use crate::world::{
    AgentStatusSubscription, CallState, CallSubscription, ContactSubscription, ContactType,
    DeliveryResult, Direction, MessageStatus, SmsDirectionFilter, SmsSubscription, Webhook,
};
use crate::Emulator;

const AVERY: UserId = UserId(5910974510923776);
const BLAKE: UserId = UserId(4785074604081152);

fn store() -> Store {
    Store::seeded(EmulatorConfig::default())
}

fn webhook(store: &mut Store, company: CompanyId, secret: Option<&str>) -> WebhookId {
    let id = WebhookId(store.world.next_id());
    store.world.webhooks.push(Webhook {
        id,
        company_id: company,
        hook_url: format!("http://127.0.0.1:9/hook/{id}"),
        secret: secret.map(str::to_owned),
    });
    id
}

fn subscribe(
    store: &mut Store,
    company: CompanyId,
    webhook: WebhookId,
    kind: SubscriptionKind,
    scopes: Option<&[&str]>,
) -> SubscriptionId {
    let id = SubscriptionId(store.world.next_id());
    store.world.subscriptions.push(Subscription {
        id,
        company_id: company,
        webhook_id: webhook,
        enabled: true,
        kind,
        scopes: scopes.map(|s| s.iter().map(|s| s.to_string()).collect()),
    });
    id
}

fn calls(states: &[&str]) -> SubscriptionKind {
    SubscriptionKind::Call(CallSubscription {
        call_states: states.iter().map(|s| s.to_string()).collect(),
        group_calls_only: false,
        target_type: None,
        target_id: None,
    })
}

fn sms_kind(direction: SmsDirectionFilter, include_internal: bool) -> SubscriptionKind {
    SubscriptionKind::Sms(SmsSubscription {
        direction,
        include_internal,
        status: false,
        target_type: None,
        target_id: None,
    })
}

/// A seeded call of `company` (its target a user of that company) in `state`.
fn call_of(store: &Store, company: CompanyId, state: CallState) -> Call {
    let mut call = store
        .world
        .calls
        .iter()
        .find(|c| c.company_id == company)
        .cloned()
        .unwrap();
    call.state = state;
    call.call_recording_share_links = vec!["https://dialpad.example/r/1".into()];
    call.voicemail_share_link = Some("https://dialpad.example/v/1".into());
    call
}

fn a_message(direction: Direction, from: &str, to: &str) -> Sms {
    Sms {
        id: SmsId(1),
        company_id: ACME,
        direction,
        from_number: from.into(),
        to_numbers: vec![to.into()],
        text: Some("hello".into()),
        target_id: AVERY.to_string(),
        target_type: TargetType::User,
        contact_id: None,
        user_id: AVERY,
        created_date: "2026-01-01T00:00:00Z".into(),
        message_status: MessageStatus::Success,
        message_delivery_result: DeliveryResult::Accepted,
    }
}

#[test]
fn call_events_reach_matching_enabled_subscriptions_of_their_company_only() {
    let mut store = store();
    let hook = webhook(&mut store, ACME, None);
    let all = subscribe(&mut store, ACME, hook, calls(&["all"]), None);
    let other_hook = webhook(&mut store, ACME, None);
    subscribe(&mut store, ACME, other_hook, calls(&["hangup"]), None);
    let off_hook = webhook(&mut store, ACME, None);
    let off = subscribe(&mut store, ACME, off_hook, calls(&["all"]), None);
    store
        .world
        .subscriptions
        .iter_mut()
        .find(|s| s.id == off)
        .unwrap()
        .enabled = false;
    let group_hook = webhook(&mut store, ACME, None);
    let mut group = calls(&["all"]);
    if let SubscriptionKind::Call(k) = &mut group {
        k.group_calls_only = true;
    }
    subscribe(&mut store, ACME, group_hook, group, None);
    let globex_hook = webhook(&mut store, GLOBEX, None);
    subscribe(&mut store, GLOBEX, globex_hook, calls(&["all"]), None);

    let ringing = call_of(&store, ACME, CallState::Ringing);
    let ids = queue(&mut store, &Event::Call(ringing));
    assert_eq!(ids.len(), 1);
    let hangup = call_of(&store, ACME, CallState::Hangup);
    let ids = queue(&mut store, &Event::Call(hangup));
    assert_eq!(ids.len(), 2);

    let log = store.events.deliveries();
    let hooks: Vec<_> = log.iter().map(|d| d.webhook_id).collect();
    assert_eq!(hooks, vec![hook, hook, other_hook]);
    assert_eq!(log[0].subscription_ids, vec![all]);
    assert_eq!(log[0].payload["state"], "ringing");
    assert_eq!(log[0].event_type, EventType::Call);
    assert_eq!(log[0].state, DeliveryState::Pending);
    assert!(!log[0].signed);
}

#[test]
fn one_delivery_per_webhook_with_the_most_any_subscription_may_see() {
    let mut store = store();
    let hook = webhook(&mut store, ACME, Some("s"));
    let first = subscribe(&mut store, ACME, hook, calls(&["ringing"]), Some(&[]));
    let second = subscribe(
        &mut store,
        ACME,
        hook,
        calls(&["all"]),
        Some(&["recordings_export"]),
    );
    let call = call_of(&store, ACME, CallState::Ringing);
    assert_eq!(queue(&mut store, &Event::Call(call)).len(), 1);
    let record = &store.events.deliveries()[0];
    assert_eq!(record.subscription_ids, vec![first, second]);
    assert!(record.signed);
    assert_eq!(
        record.payload["call_recording_share_links"][0],
        "https://dialpad.example/r/1"
    );
}

#[test]
fn recording_links_need_recordings_export_unless_an_api_key_subscribed() {
    let mut store = store();
    let scoped = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        scoped,
        calls(&["all"]),
        Some(&["offline_access"]),
    );
    let keyed = webhook(&mut store, ACME, None);
    subscribe(&mut store, ACME, keyed, calls(&["all"]), None);
    let call = call_of(&store, ACME, CallState::Recording);
    queue(&mut store, &Event::Call(call));
    let log = store.events.deliveries();
    assert!(log[0].payload.get("call_recording_share_links").is_none());
    assert!(log[0].payload.get("voicemail_share_link").is_none());
    assert_eq!(log[0].payload["call_id"], log[1].payload["call_id"]);
    assert!(log[1].payload["call_recording_share_links"].is_array());
    assert!(log[1].payload["voicemail_share_link"].is_string());
}

#[test]
fn target_filters_match_the_user_or_the_users_office() {
    let mut store = store();
    let call = call_of(&store, ACME, CallState::Ringing);
    let target = call.target.id.clone();
    let filters = [
        (Some(TargetType::User), Some(target.clone()), true),
        (
            Some(TargetType::User),
            Some(BLAKE.to_string()),
            target == BLAKE.to_string(),
        ),
        (Some(TargetType::Office), Some(ACME_HQ.to_string()), true),
        (Some(TargetType::Office), Some("1".to_owned()), false),
        (Some(TargetType::Callcenter), None, false),
        (None, Some(target.clone()), true),
    ];
    for (target_type, target_id, expected) in filters {
        let hook = webhook(&mut store, ACME, None);
        subscribe(
            &mut store,
            ACME,
            hook,
            SubscriptionKind::Call(CallSubscription {
                call_states: vec!["all".into()],
                group_calls_only: false,
                target_type,
                target_id: target_id.clone(),
            }),
            None,
        );
        let matched = !queue(&mut store, &Event::Call(call.clone())).is_empty();
        store.world.subscriptions.clear();
        assert_eq!(matched, expected, "{target_type:?} {target_id:?}");
    }
}

#[test]
fn sms_direction_internal_messages_and_text() {
    let mut store = store();
    let inbound = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        inbound,
        sms_kind(SmsDirectionFilter::Inbound, false),
        None,
    );
    let outbound = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        outbound,
        sms_kind(SmsDirectionFilter::Outbound, false),
        Some(&[]),
    );
    let everything = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        everything,
        sms_kind(SmsDirectionFilter::All, true),
        Some(&["message_content_export"]),
    );

    let received = a_message(Direction::Inbound, "+14155550150", "+14155550101");
    let hooks = |store: &Store, ids: &[u64]| -> Vec<WebhookId> {
        let log = store.events.deliveries();
        ids.iter()
            .map(|id| log.iter().find(|d| d.id == *id).unwrap().webhook_id)
            .collect()
    };
    let ids = queue(&mut store, &Event::Sms(received));
    assert_eq!(hooks(&store, &ids), vec![inbound, everything]);

    let sent = a_message(Direction::Outbound, "+14155550101", "+14155550150");
    let ids = queue(&mut store, &Event::Sms(sent));
    assert_eq!(hooks(&store, &ids), vec![outbound, everything]);
    let log = store.events.deliveries();
    assert!(
        log[2].payload.get("text").is_none(),
        "no message_content_export"
    );
    assert_eq!(log[3].payload["text"], "hello");

    // Between two of the company's users: only the subscription that includes internal ones.
    let internal = a_message(Direction::Outbound, "+14155550101", "+14155550102");
    let ids = queue(&mut store, &Event::Sms(internal));
    assert_eq!(hooks(&store, &ids), vec![everything]);
}

#[test]
fn contact_events_follow_the_contact_type_and_carry_the_change() {
    let mut store = store();
    let shared = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        shared,
        SubscriptionKind::Contact(ContactSubscription {
            contact_type: ContactType::Shared,
        }),
        None,
    );
    let contact = |store: &Store, kind: ContactType| {
        store
            .world
            .contacts
            .iter()
            .find(|c| c.company_id == ACME && c.contact_type == kind)
            .cloned()
            .unwrap()
    };
    let local = contact(&store, ContactType::Local);
    assert!(queue(
        &mut store,
        &Event::Contact {
            change: ContactChange::Updated,
            contact: local,
        }
    )
    .is_empty());
    let shared_contact = contact(&store, ContactType::Shared);
    let id: ContactId = shared_contact.id;
    queue(
        &mut store,
        &Event::Contact {
            change: ContactChange::Deleted,
            contact: shared_contact,
        },
    );
    let payload = &store.events.deliveries()[0].payload;
    assert_eq!(payload["change_type"], "deleted");
    assert_eq!(payload["contact"]["id"], id.to_string());
    assert_eq!(payload["contact"]["type"], "shared");
    assert!(payload["event_timestamp"]
        .as_str()
        .unwrap()
        .parse::<i64>()
        .is_ok());
}

#[test]
fn agent_status_events_reach_agent_status_subscriptions() {
    let mut store = store();
    let hook = webhook(&mut store, ACME, None);
    subscribe(
        &mut store,
        ACME,
        hook,
        SubscriptionKind::AgentStatus(AgentStatusSubscription {
            agent_type: "callcenter".into(),
        }),
        None,
    );
    subscribe(&mut store, ACME, hook, calls(&["all"]), None);
    let user = store.world.user(BLAKE).cloned().unwrap();
    queue(
        &mut store,
        &Event::AgentStatus {
            user,
            status: "busy".into(),
        },
    );
    let log = store.events.deliveries();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].event_type, EventType::AgentStatus);
    assert_eq!(log[0].payload["agent_type"], "callcenter");
    assert_eq!(log[0].payload["user_id"], BLAKE.to_string());
    assert_eq!(log[0].payload["status"], "busy");
}

#[test]
fn a_subscription_whose_webhook_is_gone_or_foreign_delivers_nothing() {
    let mut store = store();
    subscribe(&mut store, ACME, WebhookId(1), calls(&["all"]), None);
    let foreign = webhook(&mut store, GLOBEX, None);
    subscribe(&mut store, ACME, foreign, calls(&["all"]), None);
    let call = call_of(&store, ACME, CallState::Hangup);
    assert!(queue(&mut store, &Event::Call(call)).is_empty());
}

#[test]
fn the_log_keeps_the_last_thousand_and_clearing_starts_a_new_generation() {
    let mut store = store();
    let hook = webhook(&mut store, ACME, None);
    subscribe(&mut store, ACME, hook, calls(&["all"]), None);
    let call = call_of(&store, ACME, CallState::Hangup);
    for _ in 0..(LOG_CAPACITY + 3) {
        emit(&mut store, Event::Call(call.clone()));
    }
    let log = store.events.deliveries();
    assert_eq!(log.len(), LOG_CAPACITY);
    assert_eq!(log[0].id, 4);
    let generation = store.events.generation;
    store.events.clear();
    assert!(store.events.deliveries().is_empty());
    assert!(store.events.queue.is_empty());
    assert_ne!(store.events.generation, generation);
    let attempt = Attempt {
        at_ms: 0,
        status: Some(200),
        error: None,
    };
    assert!(!store
        .events
        .record_attempt(generation, 1, attempt, DeliveryState::Delivered));
}

/// Requests a test webhook received: content type and body.
type Received = Arc<Mutex<Vec<(String, String)>>>;

/// A webhook receiver answering 500 to its first `failures` requests, 200 after.
async fn receiver(failures: usize) -> (String, Received) {
    let received: Received = Arc::default();
    let seen = received.clone();
    let app = Router::new().route(
        "/hook",
        post(move |headers: HeaderMap, body: String| {
            let seen = seen.clone();
            async move {
                let content_type = headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let mut seen = seen.lock().unwrap();
                seen.push((content_type, body));
                if seen.len() <= failures {
                    axum::http::StatusCode::INTERNAL_SERVER_ERROR
                } else {
                    axum::http::StatusCode::OK
                }
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    (url, received)
}

async fn settled(emulator: &Emulator, count: usize) -> Vec<DeliveryRecord> {
    for _ in 0..200 {
        let log = emulator.store().events.deliveries();
        if log.len() >= count && log.iter().all(|d| d.state != DeliveryState::Pending) {
            return log;
        }
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
    panic!(
        "deliveries did not settle: {:?}",
        emulator.store().events.deliveries()
    );
}

#[tokio::test]
async fn deliveries_are_signed_in_order_and_retried() {
    let emulator = Emulator::new(EmulatorConfig::default());
    let (url, received) = receiver(2).await;
    {
        let mut store = emulator.store();
        store.events.settings.retry_base_ms = 20;
        let hook = webhook(&mut store, ACME, Some("top-secret"));
        store.world.webhooks.last_mut().unwrap().hook_url = url;
        subscribe(&mut store, ACME, hook, calls(&["all"]), None);
        for state in [CallState::Ringing, CallState::Connected, CallState::Hangup] {
            let call = call_of(&store, ACME, state);
            emit(&mut store, Event::Call(call));
        }
    }
    emulator.flush_events();
    let log = settled(&emulator, 3).await;
    assert!(log.iter().all(|d| d.state == DeliveryState::Delivered));
    // The receiver failed the first two requests: the first attempts of ringing and connected.
    let attempts: Vec<usize> = log.iter().map(|d| d.attempts.len()).collect();
    assert_eq!(attempts, vec![2, 2, 1]);
    assert_eq!(log[0].attempts[0].status, Some(500));
    assert_eq!(log[0].attempts[1].status, Some(200));

    let received = received.lock().unwrap().clone();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    let key = jsonwebtoken::DecodingKey::from_secret(b"top-secret");
    let states: Vec<String> = received
        .iter()
        .map(|(content_type, body)| {
            assert_eq!(content_type, "application/jwt");
            let claims = jsonwebtoken::decode::<Value>(body, &key, &validation)
                .unwrap()
                .claims;
            claims["state"].as_str().unwrap().to_owned()
        })
        .collect();
    // First attempts go out in event order; the retries follow.
    assert_eq!(states.len(), 5);
    assert_eq!(states[..3], ["ringing", "connected", "hangup"]);
}
