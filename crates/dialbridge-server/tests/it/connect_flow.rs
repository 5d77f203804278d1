//! The OAuth connect flow over real HTTP against the emulator: the redirect to Dialpad with
//! state and PKCE, the callback, Dialpad's refusals, forged/expired/replayed links and states,
//! API-key connections, disconnecting and deleting.

use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

use crate::support::{eventually_within, hang_up_once, location, query, Backend, Options, TestApp};

on_both_backends!(
    oauth_connect_flow,
    links_are_spent_on_success_and_states_answer_once,
    dialpad_refusals_come_back_explained,
    api_key_connection,
    disconnect_and_delete,
    a_callback_whose_browser_went_away_still_connects
);

async fn oauth_connect_flow(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({"redirect_url": "https://vendor.example/done?x=1"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let connect_url = body["connect_url"].as_str().unwrap();
    assert!(connect_url.starts_with(&format!("{}/connect/", app.base)));
    assert!(body["portal_url"].as_str().unwrap().ends_with("/portal"));
    assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    assert_eq!(app.connection("acme").await["status"], "pending");

    // The link sends the browser to Dialpad's authorize URL with state and PKCE S256.
    let response = app.http.get(connect_url).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let authorize = location(&response);
    assert_eq!(
        format!(
            "{}{}",
            authorize.origin().ascii_serialization(),
            authorize.path()
        ),
        format!("{}/oauth2/authorize", app.emulator_url)
    );
    assert_eq!(
        query(&authorize, "client_id").as_deref(),
        Some("dialbridge-dev")
    );
    assert_eq!(
        query(&authorize, "redirect_uri"),
        Some(format!("{}/oauth/callback", app.base))
    );
    assert_eq!(query(&authorize, "response_type").as_deref(), Some("code"));
    assert_eq!(
        query(&authorize, "scope").as_deref(),
        Some("offline_access calls:list")
    );
    assert_eq!(
        query(&authorize, "code_challenge_method").as_deref(),
        Some("S256")
    );
    assert!(query(&authorize, "code_challenge").is_some_and(|c| c.len() >= 43));
    let state = query(&authorize, "state").unwrap();
    assert!(state.len() >= 32, "state is random and long: {state}");

    // Dialpad sends the browser back; dialbridge redeems the code and goes to redirect_url.
    let callback = app.consent(&authorize, "approve").await;
    let response = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let done = location(&response);
    assert_eq!(done.host_str(), Some("vendor.example"));
    assert_eq!(query(&done, "x").as_deref(), Some("1"));
    assert_eq!(query(&done, "status").as_deref(), Some("connected"));
    assert_eq!(query(&done, "account_id").as_deref(), Some("acme"));

    // The token request carried the PKCE verifier, the code and the redirect URI.
    let (_, log) = app
        .emulator_call(Method::GET, "/_control/requests", None)
        .await;
    let token_request = log
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["path"] == "/oauth2/token")
        .expect("a token request")
        .clone();
    let body = token_request["body"].as_str().unwrap();
    assert!(
        body.contains("grant_type=authorization_code") && body.contains("code_verifier="),
        "{body}"
    );
    assert!(
        body.contains(&format!("code={}", query(&callback, "code").unwrap())),
        "{body}"
    );

    let (_, companies) = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await;
    let first = &companies.as_array().unwrap()[0];
    let admin = first["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["is_admin"] == true)
        .unwrap();
    let connection = app.connection("acme").await;
    assert_eq!(connection["status"], "connected");
    assert_eq!(connection["auth_type"], "oauth");
    assert_eq!(connection["environment"], "custom");
    assert_eq!(
        connection["scopes"],
        json!(["offline_access", "calls:list"])
    );
    assert_eq!(connection["missing_scopes"], json!([]));
    assert_eq!(connection["dialpad_company_id"], first["id"]);
    assert_eq!(connection["dialpad_user_id"], admin["id"]);
    assert!(connection["connected_at"].is_string());
    let (status, check) = app.check(&app.base, "acme").await;
    assert_eq!(status, StatusCode::OK, "{check}");
    assert_eq!(check["dialpad_company_id"], first["id"]);

    // When the app's scopes grow, the connection shows what it lacks.
    app.call(
        Method::PUT,
        "/api/v1/app/scopes",
        Some(json!({"scopes": ["calls:list", "recordings_export"]})),
    )
    .await;
    assert_eq!(
        app.connection("acme").await["missing_scopes"],
        json!(["recordings_export"])
    );
    app.shutdown().await;
}

async fn links_are_spent_on_success_and_states_answer_once(backend: Backend) {
    let app = TestApp::spawn_with(
        backend,
        Options {
            connect_link_ttl_secs: 2,
            ..Options::default()
        },
    )
    .await;
    app.configure_app().await;
    app.create_account("acme").await;

    // A forged state: 400, nothing changes.
    let forged = app
        .http
        .get(format!(
            "{}/oauth/callback?code=abc&state=forged-state",
            app.base
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(forged.status(), StatusCode::BAD_REQUEST);
    assert!(forged
        .text()
        .await
        .unwrap()
        .contains("forged, expired or was already used"));
    let missing = app
        .http
        .get(format!("{}/oauth/callback?code=abc", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.connection("acme").await, Value::Null);

    let (_, link) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({})),
        )
        .await;
    let connect_url = link["connect_url"].as_str().unwrap().to_owned();
    let portal_url = link["portal_url"].as_str().unwrap().to_owned();
    // A link preview (or a scanner, a reload) opens the link before the customer does: both
    // reach Dialpad's consent page, each with a state and a PKCE challenge of its own.
    let preview = app.http.get(&connect_url).send().await.unwrap();
    assert_eq!(preview.status(), StatusCode::FOUND);
    let preview_authorize = location(&preview);
    let first = app.http.get(&connect_url).send().await.unwrap();
    assert_eq!(
        first.status(),
        StatusCode::FOUND,
        "opening a link does not spend it"
    );
    let authorize = location(&first);
    assert_ne!(
        query(&authorize, "state"),
        query(&preview_authorize, "state")
    );
    assert_ne!(
        query(&authorize, "code_challenge"),
        query(&preview_authorize, "code_challenge")
    );
    for url in [&preview_authorize, &authorize] {
        let consent = app.http.get(url.as_str()).send().await.unwrap();
        assert_eq!(consent.status(), StatusCode::OK, "Dialpad's consent page");
    }
    let portal = app.http.get(&portal_url).send().await.unwrap();
    assert_eq!(portal.status(), StatusCode::OK);
    assert!(
        portal
            .text()
            .await
            .unwrap()
            .contains("Connect with Dialpad"),
        "the portal still works after connect_url was fetched"
    );

    // The first callback that succeeds spends the link; a replay is refused and changes nothing.
    let callback = app.consent(&authorize, "approve").await;
    let response = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::OK,
        "no redirect_url: a result page"
    );
    assert!(response
        .text()
        .await
        .unwrap()
        .contains("Dialpad is connected"));
    let before = app.stored_connection("acme").await;
    let replay = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(replay.status(), StatusCode::BAD_REQUEST);

    // Every other state of the spent link is refused too, even with a code Dialpad gave.
    let other = app.consent(&preview_authorize, "approve").await;
    let refused = app.http.get(other.as_str()).send().await.unwrap();
    assert_eq!(refused.status(), StatusCode::BAD_REQUEST);
    assert!(refused.text().await.unwrap().contains("already used"));
    let after = app.stored_connection("acme").await;
    assert_eq!(
        (before.token_version, before.access_token),
        (after.token_version, after.access_token)
    );
    let (_, log) = app
        .emulator_call(Method::GET, "/_control/requests", None)
        .await;
    let redeemed = log
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["path"] == "/oauth2/token")
        .count();
    assert_eq!(redeemed, 1, "the refused state's code was never redeemed");

    // The spent link and its portal say so.
    let used = app.http.get(&connect_url).send().await.unwrap();
    assert_eq!(used.status(), StatusCode::BAD_REQUEST);
    assert!(used.text().await.unwrap().contains("already used"));
    let portal = app.http.get(&portal_url).send().await.unwrap();
    assert_eq!(portal.status(), StatusCode::OK);
    let page = portal.text().await.unwrap();
    assert!(
        page.contains("already used") && !page.contains("Connect with Dialpad"),
        "{page}"
    );
    // No brand is set here: the page tells the customer whom to ask in words, not by the
    // neutral title.
    assert!(
        page.contains("ask the app you came from for a new link")
            && !page.contains("ask Connect Dialpad"),
        "{page}"
    );

    // An expired link is refused.
    let (_, link) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({})),
        )
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    let expired = app
        .http
        .get(link["connect_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(expired.status(), StatusCode::BAD_REQUEST);
    assert!(expired.text().await.unwrap().contains("expired"));
    let portal = app
        .http
        .get(link["portal_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(portal.status(), StatusCode::OK);
    let page = portal.text().await.unwrap();
    assert!(
        page.contains("This link expired") && !page.contains("api_key"),
        "{page}"
    );

    // Bad input to the connect call.
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({"redirect_url": "javascript:alert(1)"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("redirect_url"))
    );
    let (status, body) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({"environment": "production"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("environment_not_configured"))
    );
    let (status, _) = app
        .call(
            Method::POST,
            "/api/v1/accounts/nobody/connect",
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    app.shutdown().await;
}

async fn dialpad_refusals_come_back_explained(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("acme").await;

    let authorize = app
        .authorize_url("acme", Some("https://vendor.example/done"))
        .await;
    let callback = app.consent(&authorize, "deny").await;
    let response = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(response.status(), StatusCode::FOUND);
    let done = location(&response);
    assert_eq!(query(&done, "status").as_deref(), Some("error"));
    assert_eq!(query(&done, "error").as_deref(), Some("access_denied"));
    assert_eq!(app.connection("acme").await["status"], "pending");

    // A custom scope Dialpad does not know: named as the likely cause.
    let (status, _) = app
        .call(
            Method::PUT,
            "/api/v1/app/scopes",
            Some(json!({"scopes": ["calls:list"], "custom_scopes": ["contacts:write"]})),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let authorize = app.authorize_url("acme", None).await;
    assert_eq!(
        query(&authorize, "scope").as_deref(),
        Some("offline_access calls:list contacts:write")
    );
    let response = app.http.get(authorize.as_str()).send().await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::FOUND,
        "the emulator refuses unknown scopes by redirect"
    );
    let callback = location(&response);
    assert_eq!(query(&callback, "error").as_deref(), Some("invalid_scope"));
    let page = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    let html = page.text().await.unwrap();
    assert!(html.contains("The connection is not set up yet"), "{html}");
    assert!(html.contains("custom scope(s) contacts:write"), "{html}");
    app.shutdown().await;
}

async fn api_key_connection(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("globex").await;
    let (_, companies) = app
        .emulator_call(Method::GET, "/_control/companies", None)
        .await;
    let second = companies.as_array().unwrap()[1].clone();
    let (status, key) = app
        .emulator_call(
            Method::POST,
            "/_control/api-keys",
            Some(json!({"company_id": second["id"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{key}");
    let api_key = key["api_key"].as_str().unwrap();

    let (status, body) = app
        .call(Method::PUT, "/api/v1/accounts/globex/connection", Some(json!({"auth_type": "api_key", "api_key": "not-a-real-key", "environment": "custom"})))
        .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_credentials")
        )
    );
    assert_eq!(
        app.connection("globex").await,
        Value::Null,
        "a refused key stores nothing"
    );
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/globex/connection",
            Some(json!({"auth_type": "oauth"})),
        )
        .await;
    assert_eq!(
        (status, body["error"]["details"][0]["field"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("auth_type"))
    );

    let (status, account) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/globex/connection",
            Some(json!({"auth_type": "api_key", "api_key": api_key, "environment": "custom"})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    let connection = &account["connection"];
    assert_eq!(connection["status"], "connected");
    assert_eq!(connection["auth_type"], "api_key");
    assert_eq!(connection["dialpad_company_id"], second["id"]);
    let (status, check) = app.check(&app.base, "globex").await;
    assert_eq!(
        (status, &check["dialpad_company_id"]),
        (StatusCode::OK, &second["id"])
    );

    // The portal offers the same with a form.
    let (_, link) = app
        .call(
            Method::POST,
            "/api/v1/accounts/globex/connect",
            Some(json!({"redirect_url": "https://vendor.example/back"})),
        )
        .await;
    let portal_url = link["portal_url"].as_str().unwrap();
    let page = app
        .http
        .get(portal_url)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("Connect with Dialpad") && page.contains("api_key"),
        "{page}"
    );
    let form_url = portal_url.replace("/portal", "/api-key");
    let bad = app
        .http
        .post(&form_url)
        .form(&[("api_key", "wrong")])
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    // A refused key leaves the link open, and an OAuth attempt of it then started ...
    let attempt = app
        .http
        .get(link["connect_url"].as_str().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(attempt.status(), StatusCode::FOUND);
    let good = app
        .http
        .post(&form_url)
        .form(&[("api_key", api_key)])
        .send()
        .await
        .unwrap();
    assert_eq!(good.status(), StatusCode::FOUND);
    assert_eq!(
        query(&location(&good), "status").as_deref(),
        Some("connected")
    );
    let again = app
        .http
        .post(&form_url)
        .form(&[("api_key", api_key)])
        .send()
        .await
        .unwrap();
    assert_eq!(
        again.status(),
        StatusCode::BAD_REQUEST,
        "the link is used up"
    );
    // ... is refused once an accepted key spent the link.
    let callback = app.consent(&location(&attempt), "approve").await;
    let late = app.http.get(callback.as_str()).send().await.unwrap();
    assert_eq!(late.status(), StatusCode::BAD_REQUEST);
    assert_eq!(app.connection("globex").await["auth_type"], "api_key");
    app.shutdown().await;
}

async fn disconnect_and_delete(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    for id in ["one", "two"] {
        app.create_account(id).await;
        app.connect_oauth(id).await;
    }
    let (status, account) = app
        .call(Method::DELETE, "/api/v1/accounts/one/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{account}");
    assert_eq!(account["connection"]["status"], "disconnected");
    assert_eq!(app.emulator_stats().await["deauthorize_requests"], 1);
    let stored = app.stored_connection("one").await;
    assert!(
        stored.access_token.is_none() && stored.refresh_token.is_none() && stored.api_key.is_none(),
        "secrets are wiped"
    );
    let (status, body) = app.check(&app.base, "one").await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("not_connected"))
    );
    let (status, _) = app
        .call(Method::DELETE, "/api/v1/accounts/one/connection", None)
        .await;
    assert_eq!(status, StatusCode::OK, "disconnecting twice is harmless");

    // Connecting again restores the connection.
    app.connect_oauth("one").await;
    assert_eq!(app.connection("one").await["status"], "connected");

    let response = app
        .api(Method::DELETE, "/api/v1/accounts/two")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    assert_eq!(app.emulator_stats().await["deauthorize_requests"], 2);
    let (status, _) = app.get("/api/v1/accounts/two").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let id = dialbridge_core::AccountId::parse("two").unwrap();
    assert!(app
        .platform
        .store()
        .get_connection(&id)
        .await
        .unwrap()
        .is_none());
    app.shutdown().await;
}

/// A malformed API key (a control character, a line break, a space, a non-ASCII character)
/// is 422 `invalid_input` on `api_key` saying what and where, before anything reaches Dialpad
/// — through the API and the portal's form alike; never reqwest's "builder error".
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn malformed_api_keys_are_refused_before_anything_is_sent() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.configure_app().await;
    app.create_account("globex").await;
    app.emulator_call(Method::DELETE, "/_control/requests", None)
        .await;
    for (key, says) in [
        ("abc\u{7}def", "a control character (U+0007) at position 4"),
        ("abc\ndef", "a control character (U+000A) at position 4"),
        ("abc def", "a space at position 4"),
        ("clé", "the character 'é' (U+00E9) at position 3"),
    ] {
        let (status, body) = app
            .call(
                Method::PUT,
                "/api/v1/accounts/globex/connection",
                Some(json!({"auth_type": "api_key", "api_key": key, "environment": "custom"})),
            )
            .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{key:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_input", "{key:?}: {body}");
        assert_eq!(body["error"]["details"][0]["field"], "api_key");
        let message = body["error"]["details"][0]["message"].as_str().unwrap();
        assert!(message.contains(says), "{key:?}: {message}");
    }
    assert_eq!(app.connection("globex").await, Value::Null);

    let (_, link) = app
        .call(
            Method::POST,
            "/api/v1/accounts/globex/connect",
            Some(json!({})),
        )
        .await;
    let form_url = link["portal_url"]
        .as_str()
        .unwrap()
        .replace("/portal", "/api-key");
    let page = app
        .http
        .post(&form_url)
        .form(&[("api_key", "abc\u{1b}def")])
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let html = page.text().await.unwrap();
    assert!(html.contains("a control character (U+001B)"), "{html}");
    assert!(!html.contains("builder"), "{html}");

    let (_, log) = app
        .emulator_call(Method::GET, "/_control/requests", None)
        .await;
    assert_eq!(log, json!([]), "nothing reached Dialpad");
    app.shutdown().await;
}

/// When Dialpad cannot be reached, the 503 says why in plain words, not reqwest's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_unreachable_dialpad_is_explained_in_plain_words() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    // A port nothing listens on: bound, then let go.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/app/credentials/custom",
            Some(json!({
                "client_id": "id", "client_secret": "secret",
                "base_url": format!("http://127.0.0.1:{port}"),
            })),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    app.create_account("acme").await;
    let (status, body) = app
        .call(
            Method::PUT,
            "/api/v1/accounts/acme/connection",
            Some(json!({"auth_type": "api_key", "api_key": "a-fine-key", "environment": "custom"})),
        )
        .await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE, "{body}");
    assert_eq!(body["error"]["code"], "dialpad_unavailable");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the connection could not be opened (connection refused)"),
        "{message}"
    );
    for internal in [
        "error sending request",
        "builder error",
        "os error",
        "tcp connect",
    ] {
        assert!(!message.contains(internal), "{message}");
    }
    app.shutdown().await;
}

/// The emulator's consent without a browser, given the connect link itself: it follows the
/// link, approves, and delivers the answer to dialbridge's callback, as a browser would.
#[tokio::test]
async fn the_emulator_approves_a_connect_link_headlessly() {
    let app = TestApp::spawn(Backend::Sqlite).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let (_, link) = app
        .call(
            Method::POST,
            "/api/v1/accounts/acme/connect",
            Some(json!({"redirect_url": "https://vendor.example/done"})),
        )
        .await;
    let connect_url = link["connect_url"].as_str().unwrap();
    let (status, answer) = app
        .emulator_call(
            Method::POST,
            "/_control/authorize",
            Some(json!({"url": connect_url})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    let location = url::Url::parse(answer["location"].as_str().unwrap()).unwrap();
    assert_eq!(location.path(), "/oauth/callback");
    assert!(query(&location, "code").is_some(), "{answer}");
    assert_eq!(answer["callback"]["status"], 302, "{answer}");
    let done = url::Url::parse(answer["callback"]["location"].as_str().unwrap()).unwrap();
    assert_eq!(query(&done, "status").as_deref(), Some("connected"));
    assert_eq!(app.connection("acme").await["status"], "connected");

    // The link is spent now: the emulator says what dialbridge answered, in dialbridge's shape.
    let (status, error) = app
        .emulator_call(
            Method::POST,
            "/_control/authorize",
            Some(json!({"url": connect_url})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert_eq!(error["error"]["code"], "invalid_request");
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("answered HTTP 400"),
        "{error}"
    );
    let (status, error) = app
        .emulator_call(
            Method::POST,
            "/_control/authorize",
            Some(json!({"url": "not a url"})),
        )
        .await;
    assert_eq!(
        (status, error["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_request"))
    );
    app.shutdown().await;
}

async fn a_callback_whose_browser_went_away_still_connects(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.configure_app().await;
    app.create_account("acme").await;
    let authorize = app
        .authorize_url("acme", Some("https://vendor.example/done"))
        .await;
    let callback = app.consent(&authorize, "approve").await;
    // Dialpad redeems the code as the request arrives and answers 1.5 s later; the browser
    // goes away once the code has reached Dialpad.
    app.emulator_call(
        Method::PATCH,
        "/_control/config",
        Some(json!({"token_latency_ms": 1500})),
    )
    .await;
    let redeemed =
        || async { app.emulator_stats().await["token_requests"]["authorization_code"].as_u64() };
    assert_eq!(redeemed().await, Some(0));
    hang_up_once(
        app.http.get(callback.as_str()),
        "the code reached Dialpad",
        || async { redeemed().await == Some(1) },
    )
    .await;
    eventually_within(
        std::time::Duration::from_secs(10),
        "the connection stored though the browser went away",
        || async { app.connection("acme").await["status"] == "connected" },
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
    app.shutdown().await;
}
