//! The dashboard and the connect page in a real browser (Chromium, headless), against the real
//! binary in dev mode with its emulator: each test is an operator's or a customer's story and
//! leaves full-page screenshots of what it visited in `target/ui-screenshots/`.

mod browser;

use browser::Session;

const MISSED_CALL: &str = r#"name: Text back missed callers
trigger:
  type: call.hangup
  filter: "event.direction == 'inbound'"
config:
  reply_from: {type: string, required: true, description: Number to text from}
steps:
  - id: call
    action: get_cal
    input: {id: "{{ event.call_id }}"}
  - id: missed
    if: "steps.call.output.duration == 0"
    then:
      - id: sms
        action: send_sms
        input:
          user_id: "{{ event.target.id }}"
          from_number: "{{ config.reply_from }}"
          to_numbers: ["{{ event.external_number }}"]
          text: "Sorry we missed you."
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sign_in_refuses_a_wrong_key_and_sign_out_ends_the_session() {
    let s = Session::start().await;
    s.goto("/").await;
    s.wait_for_path("/ui/sign-in").await;
    assert!(
        s.text("main").await.contains("dialbridge-dev"),
        "dev mode names its key"
    );
    s.screenshot("sign-in").await;

    s.fill("#api_key", "not-the-key").await;
    s.click("button[type=submit]").await;
    let refused = s.text("[role=alert]").await;
    assert!(refused.contains("not an admin API key"), "{refused}");
    s.screenshot("sign-in-refused").await;

    s.fill("#api_key", "dialbridge-dev").await;
    s.click("button[type=submit]").await;
    s.wait_for_path("/ui/accounts").await;
    s.assert_nothing_fetched_from_elsewhere().await;

    s.click("nav.side form button").await;
    s.wait_for_path("/ui/sign-in").await;
    s.goto("/ui/app").await;
    assert_eq!(
        s.path().await,
        "/ui/sign-in",
        "signed out: the session is gone"
    );
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn app_settings_lock_offline_access_explain_a_bad_scope_and_brand_the_connect_page() {
    let s = Session::start().await;
    s.sign_in().await;
    s.goto("/ui/app").await;
    assert!(
        s.exists("li.chip.locked[data-scope='offline_access']")
            .await
    );
    assert!(
        !s.exists("li[data-scope='offline_access'] button").await,
        "offline_access cannot be removed"
    );

    // A scope Dialpad does not document: refused, the message beside the field, text kept.
    s.fill("#add_name", "calls:everything").await;
    s.click("#scopes form.filters button[type=submit]").await;
    let error = s.text("#scopes-error").await;
    assert!(error.contains("calls:everything"), "{error}");
    let kept = s.find("#add_name").await.prop("value").await.unwrap();
    assert_eq!(kept.as_deref(), Some("calls:everything"));

    // One from the catalog's dropdown becomes a removable chip.
    s.find("#add")
        .await
        .select_by_value("calls:list")
        .await
        .unwrap();
    s.fill("#add_name", "").await;
    s.click("#scopes form.filters button[type=submit]").await;
    s.find("li.chip[data-scope='calls:list'] button").await;

    // Sandbox credentials: the secret is write-only.
    s.fill("#sandbox-client_id", "sandbox-client").await;
    s.fill("#sandbox-client_secret", "sandbox-secret-value")
        .await;
    s.click("form[aria-label='sandbox credentials'] button[type=submit]")
        .await;
    s.wait_for_text("Saved sandbox credentials.").await;
    let page = s.client.source().await.unwrap();
    assert!(page.contains("sandbox-client"));
    assert!(
        !page.contains("sandbox-secret-value"),
        "a secret is never shown"
    );

    s.fill("#display_name", "Acme CRM").await;
    s.client
        .execute(
            "document.getElementById('accent_color').value = '#d9480f'",
            vec![],
        )
        .await
        .unwrap();
    s.fill("#support_url", "https://acme.example/help").await;
    // A file that is not an image is refused at the field, and nothing is saved.
    let files = tempfile::tempdir().unwrap();
    let not_an_image = files.path().join("logo.png");
    std::fs::write(&not_an_image, "<svg onload=alert(1)></svg>").unwrap();
    s.find("#logo_file")
        .await
        .send_keys(not_an_image.to_str().unwrap())
        .await
        .unwrap();
    s.click("#branding button[type=submit]").await;
    s.wait_for_text("the uploaded file is not a PNG, JPEG, GIF or WebP image")
        .await;
    // The logo uploaded as a file (a 1×1 PNG): kept inline, shown as a preview.
    let logo = files.path().join("acme.png");
    std::fs::write(&logo, ONE_PIXEL_PNG).unwrap();
    s.fill("#display_name", "Acme CRM").await;
    s.find("#logo_file")
        .await
        .send_keys(logo.to_str().unwrap())
        .await
        .unwrap();
    s.click("#branding button[type=submit]").await;
    s.wait_for_text("Branding saved.").await;
    s.find("img.logo-preview[src^='data:image/png;base64,']")
        .await;
    s.screenshot("app-settings").await;

    // The dashboard's changes are in the audit log under the session's key.
    let log = s.api_get("/audit-log").await;
    let branding = log["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["action"] == "app.branding.put")
        .unwrap_or_else(|| panic!("no app.branding.put in {log}"));
    assert_eq!(branding["summary"]["via"], "dashboard", "{branding}");
    assert_eq!(
        branding["summary"]["display_name"], "Acme CRM",
        "{branding}"
    );
    assert!(
        branding.to_string().contains("dev"),
        "the key's name: {branding}"
    );

    // The customer's page carries the brand, and none of dialbridge's words.
    s.goto("/ui/accounts").await;
    s.fill("#account_id", "globex").await;
    s.fill("#name", "Globex").await;
    s.click("#create-account button[type=submit]").await;
    s.click("form[action$='/connect-link'] button").await;
    let portal = s
        .find("a[href*='/portal']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    s.goto(&portal).await;
    let shown = s.text("body").await;
    s.find("header.brand img[src^='data:image/png;base64,']")
        .await;
    assert!(
        shown.contains("Acme CRM") && shown.contains("See your call history"),
        "{shown}"
    );
    for word in ["dialbridge", "custom", "offline_access"] {
        assert!(
            !shown.to_lowercase().contains(word),
            "{word} on the connect page: {shown}"
        );
    }
    let accent = s
        .client
        .execute(
            "return getComputedStyle(document.querySelector('.button')).backgroundColor",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(
        accent.as_str(),
        Some("rgb(217, 72, 15)"),
        "the accent colour"
    );
    s.screenshot("connect-page").await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accounts_connect_by_oauth_and_by_api_key_then_disconnect() {
    let s = Session::start().await;
    s.sign_in().await;
    s.fill("#account_id", "acme").await;
    s.fill("#name", "Acme").await;
    s.click("#create-account button[type=submit]").await;
    s.wait_for_path("/ui/accounts/acme").await;

    // OAuth: the portal, the emulator's consent page, the result page.
    s.click("form[action$='/connect-link'] button").await;
    let portal = s
        .find("a[href*='/portal']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    s.goto(&portal).await;
    s.click("a.button").await;
    s.click("button[value=approve]").await;
    s.wait_for_text("Dialpad is connected").await;
    s.screenshot("connect-result").await;

    s.goto("/ui/accounts/acme").await;
    s.wait_for_text("connected").await;
    assert!(s.text(".facts").await.contains("OAuth"));
    s.click("form[action$='/check'] button").await;
    s.wait_for_text("The connection works").await;
    s.screenshot("account").await;

    // An API key refused, then accepted, through the same portal.
    s.goto("/ui/accounts").await;
    s.fill("#account_id", "initech").await;
    s.click("#create-account button[type=submit]").await;
    s.click("form[action$='/connect-link'] button").await;
    let portal = s
        .find("a[href*='/portal']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    s.goto(&portal).await;
    s.fill("#api_key", "not-a-dialpad-key").await;
    s.click("form button[type=submit]").await;
    s.wait_for_text("Dialpad did not accept that API key").await;
    s.screenshot("connect-bad-key").await;
    s.click("a.button").await;
    let companies = s.control_get("/companies").await;
    let key = s
        .control(
            "/api-keys",
            serde_json::json!({ "company_id": companies[0]["id"] }),
        )
        .await;
    let key = key["api_key"].as_str().expect("an API key").to_owned();
    s.fill("#api_key", &key).await;
    s.click("form button[type=submit]").await;
    s.wait_for_text("Dialpad is connected").await;

    s.goto("/ui/accounts").await;
    s.screenshot("accounts").await;

    // A webhook endpoint: its secret shown once, never in the list.
    s.goto("/ui/webhooks").await;
    s.fill("#wh-id", "backend").await;
    s.fill("#wh-url", "http://127.0.0.1:9/hooks").await;
    s.click("#endpoint-form button[type=submit]").await;
    s.wait_for_text("shown this once").await;
    let secret = s.text(".notice .copy-row code").await;
    assert!(secret.starts_with("whsec_"), "{secret}");
    s.screenshot("webhooks").await;
    s.goto("/ui/webhooks").await;
    s.find("a[href='/ui/webhooks/backend']").await;
    assert!(
        !s.text("main").await.contains(&secret),
        "the secret shown twice"
    );
    s.goto("/ui/accounts/initech").await;
    assert!(s.text(".facts").await.contains("API key"));

    // Disconnect asks first.
    s.click("input[name=confirm]").await;
    s.click("form[action$='/disconnect'] button").await;
    s.client.accept_alert().await.expect("a confirmation");
    s.wait_for_text("Disconnected").await;
    assert!(s.text("h1").await.contains("disconnected"));
    s.close().await;
}

/// Creates `id` in the dashboard and connects it by OAuth through the portal and the
/// emulator's consent page.
async fn create_and_connect(s: &Session, id: &str) {
    s.goto("/ui/accounts").await;
    s.fill("#account_id", id).await;
    s.click("#create-account button[type=submit]").await;
    s.wait_for_path(&format!("/ui/accounts/{id}")).await;
    s.click("form[action$='/connect-link'] button").await;
    let portal = s
        .find("a[href*='/portal']")
        .await
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    s.goto(&portal).await;
    s.click("a.button").await;
    s.click("button[value=approve]").await;
    s.wait_for_text("Dialpad is connected").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_workflow_is_fixed_enabled_and_followed_from_a_missed_call_to_its_replay() {
    let s = Session::start().await;
    s.sign_in().await;
    create_and_connect(&s, "acme").await;

    // The playground runs an action and shows its output.
    s.goto("/ui/playground?account_id=acme&action=list_users")
        .await;
    s.click("#run-form button[type=submit]").await;
    let output = s.text("#output").await;
    assert!(output.contains("items"), "{output}");
    s.screenshot("playground").await;

    // A definition with a mistake: the problem at its path, the text kept; then fixed.
    s.goto("/ui/workflows").await;
    s.fill("#new-key", "missed-call").await;
    s.click("form[action='/ui/workflows'] button").await;
    s.wait_for_path("/ui/workflows/missed-call/edit").await;
    s.set_value("#definition", MISSED_CALL).await;
    s.click("form[action='/ui/workflows/missed-call'] button[type=submit]")
        .await;
    let problems = s.text("#problems").await;
    assert!(
        problems.contains("steps[0].action") && problems.contains("get_call"),
        "the path and a suggestion: {problems}"
    );
    let kept = s
        .find("#definition")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(kept.trim_end(), MISSED_CALL.trim_end(), "the text survives");
    s.screenshot("workflow-editor-problem").await;
    s.set_value(
        "#definition",
        &MISSED_CALL.replace("get_cal\n", "get_call\n"),
    )
    .await;
    s.click("form[action='/ui/workflows/missed-call'] button[type=submit]")
        .await;
    s.wait_for_text("Saved as version 1.").await;
    assert!(
        s.exists(".diagram svg .node.branch").await,
        "the if is drawn"
    );

    // Enabled for the account with the form made from its config fields.
    s.fill("#cfg-reply_from", "+14155550101").await;
    s.click("#enable button[type=submit]").await;
    s.wait_for_path("/ui/accounts/acme").await;
    assert!(s.text("#wf-h + div").await.contains("missed-call"));
    s.goto("/ui/workflows/missed-call").await;
    s.screenshot("workflow").await;

    // The dev panel makes the customer miss a call; the execution appears by itself.
    s.goto("/ui/dev").await;
    s.click("button[value=missed_call]").await;
    let execution = s.find("#dev-live a[href^='/ui/executions/']").await;
    execution.click().await.unwrap();
    s.find("li[data-step='call']").await;
    s.wait_for_text("succeeded").await;
    s.screenshot("execution").await;
    let original = s.path().await;

    s.click("form[action$='/replay'] button").await;
    s.wait_for_text("Replay of").await;
    assert_ne!(s.path().await, original, "the replay is a new execution");
    s.find("li[data-step='call']").await;
    s.goto("/ui/executions").await;
    s.screenshot("executions").await;
    s.goto("/ui/accounts/acme").await;
    s.find("#ex-h + div a[href^='/ui/executions/']").await;
    s.screenshot("account-with-workflow").await;
    s.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_events_page_shows_a_dialpad_event_and_links_to_its_execution() {
    let s = Session::start().await;
    s.sign_in().await;
    create_and_connect(&s, "acme").await;
    let definition = serde_json::json!({
        "name": "Note hang-ups",
        "trigger": { "type": "call.hangup" },
        "steps": [{ "id": "note", "set": { "call": "{{ event.call_id }}" } }],
    });
    let saved = s
        .api(reqwest::Method::PUT, "/workflows/note-hangups", definition)
        .await;
    assert_eq!(saved["version"], 1, "{saved}");
    let enabled = s
        .api(
            reqwest::Method::PUT,
            "/accounts/acme/workflows/note-hangups",
            serde_json::json!({}),
        )
        .await;
    assert!(enabled.get("error").is_none(), "{enabled}");

    // The emulator's Dialpad sends the call's events, signed, to the account's webhook.
    s.goto("/ui/dev").await;
    s.click("button[value=missed_call]").await;
    let execution = s
        .find("#dev-live a[href^='/ui/executions/']")
        .await
        .attr("href")
        .await
        .unwrap()
        .expect("a link to the execution");

    // A forged delivery to the account's webhook: refused, not stored, but listed.
    let account = s.api_get("/accounts/acme").await;
    let hook_url = account["dialpad_events"]["hook_url"].as_str().unwrap();
    let forged = reqwest::Client::new()
        .post(hook_url)
        .header("content-type", "application/jwt")
        .body("eyJhbGciOiJIUzI1NiJ9.eyJzdGF0ZSI6Imhhbmd1cCJ9.bm90LXRoZS1zaWduYXR1cmU")
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), reqwest::StatusCode::UNAUTHORIZED);

    s.click("nav.side a[href='/ui/events']").await;
    s.wait_for_path("/ui/events").await;
    let refused = s.text("#refused").await;
    assert!(
        refused.contains("invalid_signature") && refused.contains("acme"),
        "{refused}"
    );
    let link = format!("a[href='{execution}']");
    let row = s.find(&format!("#events tr:has({link})")).await;
    let text = row.text().await.unwrap();
    for expected in ["acme", "dialpad", "JWT verified", "call.hangup"] {
        assert!(
            text.contains(expected),
            "{expected} missing from the row: {text}"
        );
    }
    s.screenshot("events").await;

    // Filtered by another account: nothing; by this one: the event again.
    s.fill("#f-account", "globex").await;
    s.click("form[aria-label='Filter events'] button").await;
    s.wait_for_text("No events for this account").await;
    s.fill("#f-account", "acme").await;
    s.click("form[aria-label='Filter events'] button").await;
    s.click(&format!("#events {link}")).await;
    s.wait_for_path(&execution).await;

    // The account's page lists its recent events too, with the same link.
    s.goto("/ui/accounts/acme").await;
    s.find(&format!("#recent-events {link}")).await;
    s.screenshot("account-events").await;

    // The executions list filtered by when they were created (UTC, as the fields say).
    s.goto("/ui/executions").await;
    s.set_value("#f-from", "2999-01-01T00:00").await;
    s.click("form[aria-label='Filter executions'] button").await;
    s.wait_for_text("No executions match these filters").await;
    s.set_value("#f-from", "2000-01-01T00:00").await;
    s.set_value("#f-to", "2999-01-01T00:00").await;
    s.click("form[aria-label='Filter executions'] button").await;
    s.find(&format!("#executions-live {link}")).await;
    s.screenshot("executions-by-time").await;
    s.close().await;
}

/// The vendor's receiver: answers 500 until `accept` is set, then 200; keeps each request's
/// `webhook-id` and body.
struct Receiver {
    url: String,
    accept: std::sync::Arc<std::sync::atomic::AtomicBool>,
    got: std::sync::Arc<std::sync::Mutex<Vec<(String, serde_json::Value)>>>,
}

impl Receiver {
    async fn start() -> Receiver {
        use axum::http::{HeaderMap, StatusCode};
        use std::sync::atomic::Ordering;
        let accept = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let (a, g) = (accept.clone(), got.clone());
        let app = axum::Router::new().fallback(move |headers: HeaderMap, body: String| {
            let (a, g) = (a.clone(), g.clone());
            async move {
                let id = headers
                    .get("webhook-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or_default()
                    .to_owned();
                let body = serde_json::from_str(&body).unwrap_or_default();
                g.lock().unwrap().push((id, body));
                if a.load(Ordering::SeqCst) {
                    StatusCode::OK
                } else {
                    StatusCode::INTERNAL_SERVER_ERROR
                }
            }
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/hooks", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver { url, accept, got }
    }
}

/// Reloads `path` until `css` is on it (a delivery's retries take seconds).
async fn reload_until(s: &Session, path: &str, css: &str) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    loop {
        s.goto(path).await;
        if s.exists(css).await {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{path} never showed {css}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_test_event_is_sent_and_a_failed_delivery_retried_from_the_endpoint_page() {
    let receiver = Receiver::start().await;
    // A 1 ms retry unit: the eight attempts before `failed` take about 13 s, not hours.
    let s = Session::start_with(&["--webhook-retry-base-ms", "1"]).await;
    s.sign_in().await;
    let endpoint = "backend-with-a-rather-long-endpoint-id-0123456789abcdef";
    s.goto("/ui/webhooks").await;
    s.fill("#wh-id", endpoint).await;
    s.fill("#wh-url", &receiver.url).await;
    s.click("#endpoint-form button[type=submit]").await;
    s.wait_for_text("shown this once").await;

    let page = format!("/ui/webhooks/{endpoint}");
    s.goto(&page).await;
    s.click("#send-test button").await;
    s.wait_for_text("queued.").await;
    let id = s
        .find("tr[data-delivery]")
        .await
        .attr("data-delivery")
        .await
        .unwrap()
        .expect("the test delivery");
    assert!(s.text("tr[data-delivery]").await.contains("webhook.test"));

    // The receiver refuses: eight attempts, then failed, with a retry button.
    let retry = format!("form[action='{page}/deliveries/{id}/retry'] button");
    reload_until(&s, &page, &retry).await;
    s.screenshot("webhook-failed").await;
    {
        let got = receiver.got.lock().unwrap();
        assert_eq!(got.len(), 8, "eight attempts");
        assert!(got.iter().all(|(sent, _)| *sent == id), "one message");
        assert_eq!(got[0].1["type"], "webhook.test");
        assert_eq!(got[0].1["data"]["endpoint_id"], endpoint);
    }

    receiver
        .accept
        .store(true, std::sync::atomic::Ordering::SeqCst);
    s.click(&retry).await;
    s.wait_for_text("queued again").await;
    reload_until(
        &s,
        &page,
        &format!("tr[data-delivery='{id}'] .badge.delivered"),
    )
    .await;
    assert!(!s.exists(&retry).await, "a delivered message has no retry");
    assert_eq!(receiver.got.lock().unwrap().len(), 9, "one more attempt");
    s.screenshot("webhook-retried").await;

    // Both were recorded under the session's key.
    let log = s.api_get("/audit-log").await;
    for action in ["webhook_endpoint.test", "webhook_delivery.retry"] {
        assert!(log.to_string().contains(action), "no {action} in {log}");
    }
    s.close().await;
}

/// A valid 1×1 transparent PNG.
const ONE_PIXEL_PNG: &[u8] = &[
    0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x48, 0x44, 0x52,
    0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x01, 0x08, 0x06, 0x00, 0x00, 0x00, 0x1f, 0x15, 0xc4,
    0x89, 0x00, 0x00, 0x00, 0x0d, 0x49, 0x44, 0x41, 0x54, 0x78, 0x9c, 0x63, 0x00, 0x01, 0x00, 0x00,
    0x05, 0x00, 0x01, 0x0d, 0x0a, 0x2d, 0xb4, 0x00, 0x00, 0x00, 0x00, 0x49, 0x45, 0x4e, 0x44, 0xae,
    0x42, 0x60, 0x82,
];
