//! A small HTTP client for a dialbridge server's admin API: `--server` and `--api-key`, JSON in
//! and out, and the server's `{"error": {code, message, details}}` turned into [`CliError`].

use std::time::Duration;

use clap::Args;
use reqwest::Method;
use serde_json::Value;
use url::Url;

use super::error::CliError;

/// Where the server is and how to authenticate: shared by every admin-API command.
#[derive(Args, Debug, Clone)]
pub struct ApiArgs {
    /// Base URL of the dialbridge server.
    #[arg(
        long,
        env = "DIALBRIDGE_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub server: String,
    /// The admin API key. When none is given, the dev server's key (dialbridge-dev) is sent.
    #[arg(
        long,
        env = "DIALBRIDGE_API_KEY",
        hide_env_values = true,
        global = true
    )]
    pub api_key: Option<String>,
}

/// An authenticated admin-API client.
pub struct Client {
    http: reqwest::Client,
    base: Url,
    api_key: String,
    /// No key was given, so `api_key` is the dev key: a 401 means "give a key".
    dev_key: bool,
}

impl Client {
    pub fn new(args: &ApiArgs) -> Result<Self, CliError> {
        let given = args.api_key.clone().filter(|k| !k.trim().is_empty());
        let dev_key = given.is_none();
        let api_key = given.unwrap_or_else(|| dialbridge_server::DEV_API_KEY.to_owned());
        let bad = |reason: String| CliError::BadServerUrl {
            url: args.server.clone(),
            reason,
        };
        let base = Url::parse(&args.server).map_err(|e| bad(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(bad("expected http://host:port or https://host".into()));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(300))
            .user_agent(concat!("dialbridge-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::BadResponse(format!("cannot build an HTTP client: {e}")))?;
        Ok(Client {
            http,
            base,
            api_key,
            dev_key,
        })
    }

    /// The server's base URL with `segments` appended, each percent-encoded.
    pub fn url(&self, segments: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        url
    }

    pub async fn get(&self, segments: &[&str]) -> Result<Value, CliError> {
        self.send(Method::GET, segments, None).await
    }

    pub async fn post(&self, segments: &[&str], body: &Value) -> Result<Value, CliError> {
        self.send(Method::POST, segments, Some(body)).await
    }

    async fn send(
        &self,
        method: Method,
        segments: &[&str],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let url = self.url(segments);
        let mut request = self
            .http
            .request(method, url.clone())
            .bearer_auth(&self.api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        let unreachable = |e: reqwest::Error| CliError::Unreachable {
            url: self.base.to_string(),
            reason: error_chain(&e),
        };
        let response = request.send().await.map_err(unreachable)?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(unreachable)?;
        if status.is_success() {
            return serde_json::from_slice(&bytes).map_err(|e| {
                CliError::BadResponse(format!("HTTP {status} with a body that is not JSON: {e}"))
            });
        }
        if status == reqwest::StatusCode::UNAUTHORIZED && self.dev_key {
            return Err(CliError::MissingApiKey);
        }
        Err(error_from(status.as_u16(), &bytes))
    }
}

/// The server's error body as [`CliError::Server`], or [`CliError::UnexpectedStatus`].
pub fn error_from(status: u16, body: &[u8]) -> CliError {
    let parsed: Option<Value> = serde_json::from_slice(body).ok();
    let error = parsed.as_ref().and_then(|v| v.get("error"));
    if let Some(code) = error.and_then(|e| e.get("code")).and_then(Value::as_str) {
        let error = error.unwrap_or(&Value::Null);
        return CliError::Server {
            status,
            code: code.to_owned(),
            message: error
                .get("message")
                .and_then(Value::as_str)
                .unwrap_or("(no message)")
                .to_owned(),
            details: error.get("details").cloned().unwrap_or(Value::Null),
        };
    }
    let text = String::from_utf8_lossy(body);
    let mut body: String = text.trim().chars().take(200).collect();
    if body.is_empty() {
        body = "(empty)".into();
    }
    CliError::UnexpectedStatus { status, body }
}

/// `outer: inner: innermost`, since reqwest's own message hides the cause.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn client(server: &str) -> Result<Client, CliError> {
        Client::new(&ApiArgs {
            server: server.into(),
            api_key: Some("k".into()),
        })
    }

    #[test]
    fn urls_keep_a_path_prefix_and_encode_segments() {
        let c = client("http://h:1/base/").unwrap();
        assert_eq!(
            c.url(&["api", "v1", "accounts", "a b/c", "actions", "x"])
                .as_str(),
            "http://h:1/base/api/v1/accounts/a%20b%2Fc/actions/x"
        );
        let c = client("http://h:1").unwrap();
        assert_eq!(
            c.url(&["api", "v1", "actions"]).as_str(),
            "http://h:1/api/v1/actions"
        );
    }

    #[test]
    fn without_a_key_the_dev_key_is_sent_and_a_bad_server_is_a_usage_error() {
        let dev = Client::new(&ApiArgs {
            server: "http://h".into(),
            api_key: None,
        })
        .unwrap();
        assert_eq!(
            (dev.api_key.as_str(), dev.dev_key),
            ("dialbridge-dev", true)
        );
        let err = CliError::MissingApiKey;
        assert!(err.to_string().contains("DIALBRIDGE_API_KEY"));
        assert_eq!(err.exit_code(), 2);
        for bad in ["nope", "ftp://h", "mailto:x@y"] {
            assert_eq!(client(bad).err().unwrap().exit_code(), 2, "{bad}");
        }
    }

    #[test]
    fn server_errors_keep_code_message_and_details() {
        let body =
            br#"{"error":{"code":"invalid_input","message":"bad","details":[{"field":"x"}]}}"#;
        match error_from(422, body) {
            CliError::Server {
                status,
                code,
                message,
                details,
            } => {
                assert_eq!(
                    (status, code.as_str(), message.as_str()),
                    (422, "invalid_input", "bad")
                );
                assert_eq!(details[0]["field"], "x");
            }
            other => panic!("{other:?}"),
        }
        let plain = error_from(502, b"<html>Bad Gateway</html>");
        assert!(plain.to_string().contains("502"), "{plain}");
        assert_eq!(plain.exit_code(), 1);
        assert!(error_from(500, b"").to_string().contains("(empty)"));
    }
}
