//! Test helpers: an emulator on a real TCP port (optionally nested under a prefix), a reqwest
//! client that does not follow redirects, and the steps of an OAuth flow as a client takes them.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialpad_emulator::{Emulator, EmulatorConfig};
use rand::RngCore;
use reqwest::{redirect, Client, Response, StatusCode};
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use tokio::sync::oneshot;
use url::Url;

pub mod python_sdk;

pub const CLIENT_ID: &str = Emulator::DEV_CLIENT_ID;
pub const CLIENT_SECRET: &str = Emulator::DEV_CLIENT_SECRET;
pub const REDIRECT_URI: &str = "http://127.0.0.1:9/callback";

pub struct TestEmulator {
    pub emulator: Emulator,
    /// Where the emulator's root is, without a trailing slash (may carry a prefix).
    pub base: String,
    pub http: Client,
    _shutdown: oneshot::Sender<()>,
}

/// Every answer the emulator gave during a test must have matched the spec's response schemas.
impl Drop for TestEmulator {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            self.emulator.assert_responses_matched_spec();
        }
    }
}

impl TestEmulator {
    pub async fn spawn() -> Self {
        Self::spawn_with(EmulatorConfig::default(), None).await
    }

    /// Without Dialpad's 20 requests/s per company, for tests that make many quick calls
    /// (the limits have tests of their own).
    pub async fn spawn_unlimited() -> Self {
        let config = EmulatorConfig {
            rate_limits: false,
            ..EmulatorConfig::default()
        };
        Self::spawn_with(config, None).await
    }

    pub async fn spawn_with(config: EmulatorConfig, prefix: Option<&str>) -> Self {
        let emulator = Emulator::new(config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (tx, rx) = oneshot::channel::<()>();
        let shutdown = async move {
            let _ = rx.await;
        };
        let base = match prefix {
            None => {
                tokio::spawn(emulator.clone().serve(listener, shutdown));
                format!("http://{addr}")
            }
            Some(prefix) => {
                let app = axum::Router::new().nest(prefix, emulator.router());
                tokio::spawn(async move {
                    axum::serve(listener, app)
                        .with_graceful_shutdown(shutdown)
                        .await
                });
                format!("http://{addr}{prefix}")
            }
        };
        let http = Client::builder()
            .redirect(redirect::Policy::none())
            .build()
            .unwrap();
        TestEmulator {
            emulator,
            base,
            http,
            _shutdown: tx,
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The authorize URL a client would send a browser to.
    pub fn authorize_url(&self, params: &[(&str, &str)]) -> String {
        let mut url = Url::parse(&self.url("/oauth2/authorize")).unwrap();
        url.query_pairs_mut().extend_pairs(params);
        url.into()
    }

    /// A standard authorize URL for the dev app with PKCE S256.
    pub fn dev_authorize_url(&self, scope: &str, state: &str, pkce: &Pkce) -> String {
        self.authorize_url(&[
            ("client_id", CLIENT_ID),
            ("redirect_uri", REDIRECT_URI),
            ("response_type", "code"),
            ("scope", scope),
            ("state", state),
            ("code_challenge", &pkce.challenge),
            ("code_challenge_method", "S256"),
        ])
    }

    /// `POST /_control/authorize`: where the browser would be redirected.
    pub async fn control_authorize(&self, body: Value) -> (StatusCode, Value) {
        let response = self
            .http
            .post(self.url("/_control/authorize"))
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Approves `url` as the default user; returns the redirect location.
    pub async fn approve(&self, url: &str) -> Url {
        let (status, body) = self.control_authorize(json!({ "url": url })).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        Url::parse(body["location"].as_str().unwrap()).unwrap()
    }

    /// Runs the authorize step for the dev app and returns the code.
    pub async fn code(&self, scope: &str, pkce: &Pkce) -> String {
        let location = self
            .approve(&self.dev_authorize_url(scope, "st", pkce))
            .await;
        let query = query_of(&location);
        assert_eq!(query.get("state").map(String::as_str), Some("st"));
        query["code"].clone()
    }

    /// `POST /oauth2/token` with a form body and the client credentials in the body.
    pub async fn token_form(&self, params: &[(&str, &str)]) -> Response {
        let mut all = params.to_vec();
        all.push(("client_id", CLIENT_ID));
        all.push(("client_secret", CLIENT_SECRET));
        self.http
            .post(self.url("/oauth2/token"))
            .form(&all)
            .send()
            .await
            .unwrap()
    }

    /// Exchanges a code (form body); panics unless it succeeds.
    pub async fn exchange(&self, code: &str, pkce: &Pkce) -> Value {
        let response = self
            .token_form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", REDIRECT_URI),
                ("code_verifier", &pkce.verifier),
            ])
            .await;
        assert_eq!(response.status(), StatusCode::OK);
        response.json().await.unwrap()
    }

    /// The whole code flow with `offline_access`: the token response.
    pub async fn connect(&self) -> Value {
        let pkce = Pkce::new();
        let code = self.code("offline_access", &pkce).await;
        self.exchange(&code, &pkce).await
    }

    pub async fn refresh(&self, refresh_token: &str) -> Response {
        self.token_form(&[
            ("grant_type", "refresh_token"),
            ("refresh_token", refresh_token),
        ])
        .await
    }

    /// `GET` an API v2 path with a bearer token.
    pub async fn api(&self, path: &str, token: &str) -> (StatusCode, Value) {
        let response = self
            .http
            .get(self.url(path))
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let status = response.status();
        (status, response.json().await.unwrap())
    }

    /// Any API v2 request with a bearer token: status, JSON body (`Null` when empty), headers.
    pub async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value, reqwest::header::HeaderMap) {
        let mut request = self.http.request(method, self.url(path)).bearer_auth(token);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let headers = response.headers().clone();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, value, headers)
    }

    /// A company-admin API key of the `company`th seeded company.
    pub async fn company_key(&self, company: usize) -> String {
        let id = self.companies().await[company]["id"].clone();
        let (status, key) = self
            .control(
                reqwest::Method::POST,
                "/_control/api-keys",
                Some(json!({ "company_id": id })),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{key}");
        key["api_key"].as_str().unwrap().to_owned()
    }

    /// Every item of a list, following cursors with pages of `limit`; also the page count.
    pub async fn list_all(&self, path: &str, token: &str, limit: usize) -> (Vec<Value>, usize) {
        let mut items = Vec::new();
        let mut cursor: Option<String> = None;
        let mut pages = 0;
        loop {
            let sep = if path.contains('?') { '&' } else { '?' };
            let mut url = format!("{path}{sep}limit={limit}");
            if let Some(c) = &cursor {
                url.push_str(&format!("&cursor={c}"));
            }
            let (status, page) = self.api(&url, token).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            pages += 1;
            items.extend(page["items"].as_array().unwrap().iter().cloned());
            match page.get("cursor").and_then(Value::as_str) {
                Some(next) => cursor = Some(next.to_owned()),
                None => return (items, pages),
            }
        }
    }

    pub async fn control(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let mut request = self.http.request(method, self.url(path));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.unwrap();
        let status = response.status();
        let text = response.text().await.unwrap();
        let value = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap()
        };
        (status, value)
    }

    pub async fn companies(&self) -> Value {
        self.control(reqwest::Method::GET, "/_control/companies", None)
            .await
            .1
    }

    /// The id of the `index`th user of the `company`th company.
    pub async fn user_id(&self, company: usize, index: usize) -> String {
        self.companies().await[company]["users"][index]["id"]
            .as_str()
            .unwrap()
            .to_owned()
    }
}

pub fn query_of(url: &Url) -> HashMap<String, String> {
    url.query_pairs().into_owned().collect()
}

/// Asserts an OAuth error response and returns its description.
pub async fn assert_oauth_error(response: Response, status: StatusCode, error: &str) -> String {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body["error_description"].as_str().unwrap().to_owned()
}

pub struct Pkce {
    pub verifier: String,
    pub challenge: String,
}

impl Pkce {
    pub fn new() -> Self {
        let mut bytes = [0u8; 32];
        rand::thread_rng().fill_bytes(&mut bytes);
        let verifier = URL_SAFE_NO_PAD.encode(bytes);
        let challenge = URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()));
        Pkce {
            verifier,
            challenge,
        }
    }
}
