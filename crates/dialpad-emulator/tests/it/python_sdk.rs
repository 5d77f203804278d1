//! The official Dialpad Python SDK (python-dialpad, pinned in
//! `scripts/python-sdk/requirements.txt`) against the emulator: each test serves a fresh
//! emulator on a loopback port and runs `scripts/python-sdk/sdk_check.py` with a
//! company-admin API key of Acme Corp (see `support/python_sdk.rs`).

use dialpad_emulator::{Emulator, EmulatorConfig};
use serde_json::Value;
use tokio::sync::oneshot;

use crate::support::python_sdk;

/// The first seeded company, its admin, and how many users it has.
const ACME: &str = "5629499534213120";
const ACME_ADMIN: &str = "5910974510923776";
const ACME_USERS: usize = 3;

/// A fresh emulator on a loopback port, stopped when dropped.
struct Served {
    emulator: Emulator,
    base_url: String,
    _shutdown: oneshot::Sender<()>,
}

impl Served {
    async fn start() -> Self {
        let emulator = Emulator::new(EmulatorConfig::default());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        tokio::spawn(emulator.clone().serve(listener, async move {
            let _ = rx.await;
        }));
        Served {
            emulator,
            base_url: format!("http://{addr}"),
            _shutdown: tx,
        }
    }

    fn admin_key(&self) -> String {
        self.emulator
            .create_api_key(ACME, None)
            .expect("Acme is seeded")
    }
}

/// Runs sdk_check.py against a fresh emulator as an Acme admin.
async fn sdk_check(args: &[&str]) -> Value {
    let served = Served::start().await;
    let token = served.admin_key();
    let summary = python_sdk::sdk_check(&served.base_url, &token, ACME_ADMIN, args).await;
    served.emulator.assert_responses_matched_spec();
    summary
}

#[tokio::test]
async fn python_sdk_gets_the_company_and_a_user() {
    let summary = sdk_check(&["company", "users-get"]).await;
    assert_eq!(summary["scenarios"]["company"]["id"], ACME, "{summary}");
    assert_eq!(
        summary["scenarios"]["users-get"]["id"], ACME_ADMIN,
        "{summary}"
    );
}

#[tokio::test]
async fn python_sdk_lists_users_across_pages() {
    let expect = ACME_USERS.to_string();
    let summary = sdk_check(&["users-pages", "--page-size", "2", "--expect-users", &expect]).await;
    let pages = &summary["scenarios"]["users-pages"];
    assert_eq!(pages["count"], ACME_USERS, "{summary}");
    assert!(pages["pages"].as_u64().unwrap_or(0) >= 2, "{summary}");
}

#[tokio::test]
async fn python_sdk_creates_gets_updates_and_deletes_a_contact() {
    let summary = sdk_check(&["contacts-crud"]).await;
    assert!(
        summary["scenarios"]["contacts-crud"]["id"].is_string(),
        "{summary}"
    );
}

#[tokio::test]
async fn python_sdk_sends_an_sms() {
    let summary = sdk_check(&["sms", "--sms-to", "+14155550199"]).await;
    assert!(summary["scenarios"]["sms"]["id"].is_string(), "{summary}");
}

/// AsyncDialpadClient (httpx) sends the same requests, except that its list calls carry
/// every unset filter as an empty parameter (`?cursor=&state=&company_admin=&email=&number=`).
#[tokio::test]
async fn python_async_sdk_runs_every_scenario() {
    let expect = ACME_USERS.to_string();
    sdk_check(&[
        "--client",
        "async",
        "--expect-users",
        &expect,
        "company",
        "users-get",
        "users-pages",
        "contacts-crud",
        "sms",
    ])
    .await;
}
