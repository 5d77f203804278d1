//! A property of the token lifecycle, over generated sequences of connect, refresh, disconnect
//! and reconnect against the real store (a SQLite file, or PostgreSQL) and the emulator over
//! real HTTP: after every step at most one refresh token is usable at Dialpad, it is the one
//! dialbridge holds (none once disconnected), and no token is ever in the database in the
//! clear. Bounded: a few short sequences per backend, one app each.

use std::collections::BTreeSet;

use dialbridge_core::{AccountId, Sealed};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use reqwest::{Method, StatusCode};

use crate::secrets_at_rest::{contains, in_the_clear, postgres_text, sqlite_bytes};
use crate::support::{Backend, TestApp};

const ACCOUNT: &str = "acme";
/// Sequences per backend, and their longest length.
const CASES: u32 = 6;
const MAX_STEPS: usize = 6;

#[derive(Debug, Clone, Copy)]
enum Step {
    /// The OAuth connect flow (over a live connection: the customer consents again).
    Connect,
    /// Dialpad expires the access token; a call makes dialbridge refresh.
    Refresh,
    /// `DELETE …/connection`.
    Disconnect,
    /// Disconnect, then connect again.
    Reconnect,
}

fn steps() -> impl Strategy<Value = Vec<Step>> {
    let step = prop_oneof![
        Just(Step::Connect),
        Just(Step::Refresh),
        Just(Step::Disconnect),
        Just(Step::Reconnect),
    ];
    proptest::collection::vec(step, 1..=MAX_STEPS)
}

on_both_backends!(at_most_one_usable_refresh_token_and_none_in_the_clear);

async fn at_most_one_usable_refresh_token_and_none_in_the_clear(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account(ACCOUNT).await;
    let mut runner = TestRunner::new(Config {
        cases: CASES,
        failure_persistence: None,
        ..Config::default()
    });
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&steps(), |sequence| {
            handle.block_on(run_sequence(&app, backend, &sequence))
        })
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
    app.shutdown().await;
}

/// Runs one sequence from a disconnected account, checking the invariants after each step.
async fn run_sequence(
    app: &TestApp,
    backend: Backend,
    sequence: &[Step],
) -> Result<(), TestCaseError> {
    // Each sequence starts afresh: disconnected, and no grant of an earlier one left at Dialpad.
    if connected(app).await {
        disconnect(app).await;
    }
    let (_, companies) = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await;
    for company in companies.as_array().unwrap() {
        let id = company["id"].as_str().unwrap();
        app.emulator_call(
            Method::POST,
            &format!("/_control/companies/{id}/revoke"),
            None,
        )
        .await;
    }
    let mut seen = BTreeSet::new();
    for (i, step) in sequence.iter().enumerate() {
        match step {
            Step::Connect => {
                app.connect_oauth(ACCOUNT).await;
            }
            Step::Refresh => {
                let before = app.refresh_count().await;
                app.emulator_call(Method::POST, "/_control/tokens/expire", None)
                    .await;
                let (status, body) = app.check(&app.base, ACCOUNT).await;
                if connected(app).await {
                    prop_assert_eq!(status, StatusCode::OK, "{}", body);
                    prop_assert_eq!(app.refresh_count().await, before + 1, "one refresh");
                } else {
                    prop_assert_eq!(body["error"]["code"].as_str(), Some("not_connected"));
                }
            }
            Step::Disconnect => {
                if connected(app).await {
                    disconnect(app).await;
                }
            }
            Step::Reconnect => {
                if connected(app).await {
                    disconnect(app).await;
                }
                app.connect_oauth(ACCOUNT).await;
            }
        }
        let (access, refresh) = held_tokens(app).await;
        let usable = usable_refresh_tokens(app).await;
        seen.extend(access.iter().chain(&refresh).chain(&usable).cloned());
        let at = format!("after step {i} of {sequence:?}");
        prop_assert!(
            usable.len() <= 1,
            "{}: {} usable refresh tokens",
            at,
            usable.len()
        );
        match refresh {
            Some(held) => prop_assert_eq!(&usable, &vec![held], "{}", at),
            None => prop_assert!(
                usable.is_empty(),
                "{}: no token is held, yet one is usable",
                at
            ),
        }
    }
    no_token_in_the_clear(app, backend, &seen).await
}

async fn connected(app: &TestApp) -> bool {
    app.connection(ACCOUNT).await["status"] == "connected"
}

async fn disconnect(app: &TestApp) {
    let (status, body) = app
        .call(
            Method::DELETE,
            &format!("/api/v1/accounts/{ACCOUNT}/connection"),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
}

/// The access and refresh token dialbridge holds for the account, opened.
async fn held_tokens(app: &TestApp) -> (Option<String>, Option<String>) {
    let id = AccountId::parse(ACCOUNT).unwrap();
    let Some(stored) = app.platform.store().get_connection(&id).await.unwrap() else {
        return (None, None);
    };
    let cipher = app.cipher();
    let open = |sealed: Option<Sealed>| {
        sealed.map(|sealed| cipher.open(&sealed).unwrap().expose().to_owned())
    };
    (open(stored.access_token), open(stored.refresh_token))
}

/// The refresh tokens Dialpad would accept now.
async fn usable_refresh_tokens(app: &TestApp) -> Vec<String> {
    let (status, body) = app
        .emulator_call(Method::GET, "/_control/tokens/refresh", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|item| item["refresh_token"].as_str().unwrap().to_owned())
        .collect()
}

/// Fails if any token ever seen is in the database as it is or hex-encoded.
async fn no_token_in_the_clear(
    app: &TestApp,
    backend: Backend,
    seen: &BTreeSet<String>,
) -> Result<(), TestCaseError> {
    let haystack = match backend {
        Backend::Sqlite => sqlite_bytes(app),
        Backend::Postgres => postgres_text(&app.database_url).await.into_bytes(),
    };
    prop_assert!(
        contains(&haystack, ACCOUNT.as_bytes()),
        "the dump holds the rows"
    );
    for token in seen {
        prop_assert!(
            !in_the_clear(&haystack, token),
            "a token ({}…) is in the database in the clear",
            &token[..6]
        );
    }
    Ok(())
}
