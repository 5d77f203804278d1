//! Setting up what the rows measure, through the same public APIs a vendor uses: dialbridge's
//! admin API (app credentials, accounts, API-key and OAuth connections, workflows) and the
//! emulator's control API (bulk companies, stats, OAuth consent without a browser).

use std::time::{Duration, Instant};

use jsonwebtoken::{EncodingKey, Header};
use reqwest::{Method, StatusCode};
use serde_json::{json, Value};

/// The first seeded company of the emulator (Acme Corp) and its `general` channel.
pub const ACME: &str = "5629499534213120";
pub const ACME_GENERAL: &str = "4700000000000001";

/// dialbridge's admin API.
#[derive(Clone)]
pub struct Api {
    pub base: String,
    pub key: String,
    pub http: reqwest::Client,
}

impl Api {
    pub fn new(base: &str, key: &str) -> Api {
        Api {
            base: base.to_owned(),
            key: key.to_owned(),
            http: crate::load::client(64),
        }
    }

    pub async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(&self.key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        read(request).await
    }

    /// A call that must succeed (2xx); its body.
    pub async fn ok(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let (status, body) = self.call(method.clone(), path, body).await?;
        if status.is_success() {
            Ok(body)
        } else {
            Err(format!("{method} {path} answered {status}: {body}"))
        }
    }

    /// Points the `custom` environment at `emulator` with its development app, asking for
    /// dialbridge's throttle to be off when `throttle_off`. Answers what became of that ask.
    pub async fn configure_app(
        &self,
        emulator: &str,
        throttle_off: bool,
    ) -> Result<Throttle, String> {
        let mut body = json!({
            "client_id": "dialbridge-dev",
            "client_secret": "dialbridge-dev-secret",
            "base_url": emulator,
        });
        if !throttle_off {
            self.ok(Method::PUT, "/api/v1/app/credentials/custom", Some(body))
                .await?;
            return Ok(Throttle::On);
        }
        body["rate_limits"] = json!({ "enabled": false });
        let (status, answer) = self
            .call(
                Method::PUT,
                "/api/v1/app/credentials/custom",
                Some(body.clone()),
            )
            .await?;
        let throttle = if status.is_success() {
            let app = self.ok(Method::GET, "/api/v1/app", None).await?;
            match app["environments"]["custom"]["rate_limits"]["enabled"].as_bool() {
                Some(false) => Throttle::Off,
                _ => Throttle::Unsupported(
                    "PUT /api/v1/app/credentials/custom took `rate_limits: {enabled: false}` but \
                     GET /api/v1/app does not show it: this build ignores the field"
                        .into(),
                ),
            }
        } else if status.is_client_error() {
            if let Some(fields) = body.as_object_mut() {
                fields.remove("rate_limits");
            }
            self.ok(Method::PUT, "/api/v1/app/credentials/custom", Some(body))
                .await?;
            Throttle::Unsupported(format!(
                "PUT /api/v1/app/credentials/custom refused `rate_limits` ({status}: {answer})"
            ))
        } else {
            return Err(format!("app credentials answered {status}: {answer}"));
        };
        Ok(throttle)
    }

    /// Creates the account and connects it with a Dialpad API key.
    pub async fn connect_with_key(&self, account: &str, api_key: &str) -> Result<(), String> {
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}"),
            Some(json!({})),
        )
        .await?;
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/connection"),
            Some(json!({ "auth_type": "api_key", "api_key": api_key, "environment": "custom" })),
        )
        .await?;
        Ok(())
    }

    /// Creates the account and connects it by OAuth through the emulator's consent, approved
    /// without a browser (as the server's tests do).
    pub async fn connect_oauth(&self, account: &str, emulator: &str) -> Result<(), String> {
        self.connect_oauth_as(account, emulator, None).await
    }

    /// `connect_oauth`, consenting as a given Dialpad user (a company's admin, so accounts
    /// spread over companies and shards); the emulator's default user when `None`.
    pub async fn connect_oauth_as(
        &self,
        account: &str,
        emulator: &str,
        user_id: Option<&str>,
    ) -> Result<(), String> {
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}"),
            Some(json!({})),
        )
        .await?;
        let link = self
            .ok(
                Method::POST,
                &format!("/api/v1/accounts/{account}/connect"),
                Some(json!({ "environment": "custom", "redirect_url": "https://vendor.example/done" })),
            )
            .await?;
        let connect_url = link["connect_url"].as_str().ok_or("no connect_url")?;
        let authorize = location(self.http.get(connect_url).send().await)?;
        let (status, consent) = read(
            self.http
                .post(format!("{emulator}/_control/authorize"))
                .json(&match user_id {
                    Some(user) => json!({ "url": authorize, "user_id": user }),
                    None => json!({ "url": authorize }),
                }),
        )
        .await?;
        if !status.is_success() {
            return Err(format!(
                "the emulator's consent answered {status}: {consent}"
            ));
        }
        let callback = consent["location"].as_str().ok_or("no consent location")?;
        let done = location(self.http.get(callback).send().await)?;
        if !done.contains("status=connected") {
            return Err(format!("the connect flow ended at {done}"));
        }
        Ok(())
    }

    /// Saves a workflow definition (JSON).
    pub async fn put_workflow(&self, key: &str, definition: Value) -> Result<(), String> {
        self.ok(
            Method::PUT,
            &format!("/api/v1/workflows/{key}"),
            Some(definition),
        )
        .await
        .map(drop)
    }

    /// Enables the workflow for the account; answers the account's Dialpad hook (URL and the
    /// Dialpad webhook id).
    pub async fn enable(&self, account: &str, workflow: &str) -> Result<(String, String), String> {
        self.ok(
            Method::PUT,
            &format!("/api/v1/accounts/{account}/workflows/{workflow}"),
            Some(json!({ "config": {} })),
        )
        .await?;
        let view = self
            .ok(Method::GET, &format!("/api/v1/accounts/{account}"), None)
            .await?;
        let events = &view["dialpad_events"];
        match (
            events["hook_url"].as_str(),
            events["dialpad_webhook_id"].as_str(),
        ) {
            (Some(url), Some(id)) => Ok((url.to_owned(), id.to_owned())),
            _ => Err(format!(
                "account {account} has no Dialpad hook after enabling: {events}"
            )),
        }
    }

    /// How many commits the event writer has made so far, and the events they stored.
    pub async fn ingest_commits(&self) -> Result<Commits, String> {
        Ok(Commits {
            commits: self.metric("dialbridge_ingest_batch_events_count").await?,
            events: self.metric("dialbridge_ingest_batch_events_sum").await?,
        })
    }

    /// The sum of a counter family of `/metrics` (every label set).
    pub async fn metric(&self, name: &str) -> Result<f64, String> {
        self.metric_where(name, "").await
    }

    /// The sum of a counter family over the label sets that contain `labels` (`status="failed"`).
    pub async fn metric_where(&self, name: &str, labels: &str) -> Result<f64, String> {
        let text = self
            .http
            .get(format!("{}/metrics", self.base))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .text()
            .await
            .map_err(|e| e.to_string())?;
        Ok(text
            .lines()
            .filter(|l| {
                l.strip_prefix(name).is_some_and(|rest| {
                    (rest.starts_with('{') || rest.starts_with(' ')) && rest.contains(labels)
                })
            })
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum())
    }

    /// Waits until `dialbridge_executions_finished_total` reaches `count`; answers when it did
    /// (or the count reached, and `None`, when `timeout` ran out first).
    pub async fn wait_finished(
        &self,
        count: u64,
        timeout: Duration,
    ) -> Result<(f64, Option<Instant>), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let done = self.metric("dialbridge_executions_finished_total").await?;
            if done >= count as f64 {
                return Ok((done, Some(Instant::now())));
            }
            if Instant::now() > deadline {
                return Ok((done, None));
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until every event received has its execution finished (one workflow per event);
    /// false when `timeout` ran out first.
    pub async fn drain(&self, timeout: Duration) -> Result<bool, String> {
        let deadline = Instant::now() + timeout;
        loop {
            let events = self.metric("dialbridge_events_total").await?;
            let done = self.metric("dialbridge_executions_finished_total").await?;
            if done >= events {
                return Ok(true);
            }
            if Instant::now() > deadline {
                return Ok(false);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Every execution of the account (newest first), following cursors.
    pub async fn executions(&self, account: &str) -> Result<Vec<Value>, String> {
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let mut path = format!("/api/v1/executions?account_id={account}&limit=200");
            if let Some(c) = &cursor {
                path.push_str(&format!("&cursor={}", encode(c)));
            }
            let page = self.ok(Method::GET, &path, None).await?;
            all.extend(page["items"].as_array().cloned().unwrap_or_default());
            match page["cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => return Ok(all),
            }
        }
    }
}

/// What dialbridge's throttle to Dialpad's limits does in a run.
#[derive(Clone, Debug)]
pub enum Throttle {
    /// Left on (the default), on purpose.
    On,
    /// Switched off with `rate_limits: {enabled: false}`.
    Off,
    /// Asked off, but this build does not know the field: still on.
    Unsupported(String),
}

impl Throttle {
    pub fn is_off(&self) -> bool {
        matches!(self, Throttle::Off)
    }
}

/// One company made by the emulator's `POST /_control/companies/bulk`.
#[derive(Clone, Debug)]
pub struct Company {
    pub id: String,
    pub admin_user_id: String,
    pub channel_id: String,
    pub api_key: String,
}

/// The emulator's control API.
#[derive(Clone)]
pub struct Emulator {
    pub url: String,
    pub http: reqwest::Client,
}

impl Emulator {
    pub fn new(url: &str) -> Emulator {
        Emulator {
            url: url.to_owned(),
            http: crate::load::client(64),
        }
    }

    pub async fn control(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, String> {
        let mut request = self
            .http
            .request(method.clone(), format!("{}{path}", self.url));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let (status, body) = read(request).await?;
        if status.is_success() {
            Ok(body)
        } else if status == StatusCode::NOT_FOUND && path.starts_with("/_control/companies/bulk") {
            Err("this emulator has no POST /_control/companies/bulk".into())
        } else {
            Err(format!("{method} {path} answered {status}: {body}"))
        }
    }

    /// `count` new companies, each with an admin, a channel and an API key.
    pub async fn companies(&self, count: usize) -> Result<Vec<Company>, String> {
        let mut out = Vec::with_capacity(count);
        while out.len() < count {
            let chunk = (count - out.len()).min(5_000);
            let made = self
                .control(
                    Method::POST,
                    "/_control/companies/bulk",
                    Some(json!({ "count": chunk })),
                )
                .await?;
            for c in made.as_array().ok_or("bulk companies: not a list")? {
                let text = |field: &str| c[field].as_str().unwrap_or_default().to_owned();
                out.push(Company {
                    id: text("company_id"),
                    admin_user_id: text("admin_user_id"),
                    channel_id: text("channel_id"),
                    api_key: text("api_key"),
                });
            }
        }
        Ok(out)
    }

    /// A company-admin API key of a company.
    pub async fn api_key(&self, company: &str) -> Result<String, String> {
        let answer = self
            .control(
                Method::POST,
                "/_control/api-keys",
                Some(json!({ "company_id": company })),
            )
            .await?;
        answer["api_key"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("no api_key in {answer}"))
    }

    pub async fn stats(&self) -> Result<Value, String> {
        self.control(Method::GET, "/_control/stats", None).await
    }

    /// The secret dialbridge registered for a Dialpad webhook, as Dialpad shows it to the
    /// company (`GET /api/v2/webhooks/{id}` → `signature.secret`).
    pub async fn hook_secret(&self, webhook_id: &str, api_key: &str) -> Result<String, String> {
        let (status, hook) = read(
            self.http
                .get(format!("{}/api/v2/webhooks/{webhook_id}", self.url))
                .bearer_auth(api_key),
        )
        .await?;
        if !status.is_success() {
            return Err(format!(
                "GET /api/v2/webhooks/{webhook_id} answered {status}: {hook}"
            ));
        }
        hook["signature"]["secret"]
            .as_str()
            .map(str::to_owned)
            .ok_or_else(|| format!("webhook {webhook_id} has no secret: {hook}"))
    }
}

/// An account's Dialpad hook as the bench posts to it.
#[derive(Clone)]
pub struct Hook {
    pub url: String,
    pub key: EncodingKey,
}

impl Hook {
    pub fn new(url: String, secret: &str) -> Hook {
        Hook {
            url,
            key: EncodingKey::from_secret(secret.as_bytes()),
        }
    }

    /// A unique Dialpad call event in state `hangup` (so `call.hangup` matches), signed HS256
    /// with the hook's secret as Dialpad signs them.
    pub fn event(&self, n: u64) -> String {
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as i64)
            .unwrap_or(0);
        let event = json!({
            "call_id": (7_000_000_000_000_000_i64 + n as i64).to_string(),
            "state": "hangup",
            "direction": "inbound",
            "external_number": "+14155550150",
            "event_timestamp": now_ms,
        });
        jsonwebtoken::encode(&Header::default(), &event, &self.key).expect("HS256 signs any JSON")
    }

    pub fn post(&self, http: &reqwest::Client, n: u64) -> reqwest::RequestBuilder {
        http.post(&self.url)
            .header("content-type", "application/jwt")
            .body(self.event(n))
    }
}

/// Sends a request and reads its JSON answer (`Null` when empty or not JSON).
pub async fn read(request: reqwest::RequestBuilder) -> Result<(StatusCode, Value), String> {
    let response = request.send().await.map_err(|e| e.to_string())?;
    let status = response.status();
    let text = response.text().await.map_err(|e| e.to_string())?;
    Ok((status, serde_json::from_str(&text).unwrap_or(Value::Null)))
}

fn location(response: reqwest::Result<reqwest::Response>) -> Result<String, String> {
    let response = response.map_err(|e| e.to_string())?;
    response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .ok_or_else(|| format!("expected a redirect, got {}", response.status()))
}

/// An RFC 3339 timestamp of the API as milliseconds since the epoch.
pub fn millis(value: &Value) -> Option<i64> {
    let at = humantime::parse_rfc3339(value.as_str()?).ok()?;
    Some(at.duration_since(std::time::UNIX_EPOCH).ok()?.as_millis() as i64)
}

/// A query-string value, percent-encoded.
pub fn encode(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}

/// The event writer's commits (`dialbridge_ingest_batch_events`): how much its group commit
/// gathered.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Commits {
    pub commits: f64,
    pub events: f64,
}

impl Commits {
    /// What was committed after `before`.
    pub fn since(self, before: Commits) -> Commits {
        Commits {
            commits: self.commits - before.commits,
            events: self.events - before.events,
        }
    }

    /// "N commits, M events each on average".
    pub fn describe(self) -> String {
        if self.commits < 1.0 {
            return "no commits of the event writer".into();
        }
        format!(
            "{:.0} commits of the event writer, {:.1} events each",
            self.commits,
            self.events / self.commits
        )
    }
}
