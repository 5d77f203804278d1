//! The `http` step (`http: {method, url, headers, body}`): a request, rendered from templates,
//! to a host the vendor allowed (`--http-allowed-hosts`), with the step's retries; it answers
//! `{status, headers, body}` and fails on a non-2xx status.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::Kind;
use crate::error::{Error, Result};
use crate::executions::{template_error, Flow, StepRun};
use crate::workflows::parse::{describe, join, Reader};
use crate::workflows::template;
use crate::workflows::validate::StepCheck;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

/// `http: {method, url, headers, body}`.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpStep {
    /// Upper case; `GET` when not given.
    pub method: String,
    pub url: String,
    pub headers: BTreeMap<String, String>,
    pub body: Option<Value>,
}

impl Kind for HttpStep {
    const KEY: &'static str = "http";

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let path = &join(path, "http");
        let map = read.object(&step["http"], path)?;
        read.known_keys(
            map,
            path,
            &["method", "url", "headers", "body"],
            "an http step",
        );
        let method = match map.get("method") {
            None | Some(Value::Null) => Some("GET".to_owned()),
            Some(value) => read
                .string(value, &join(path, "method"))
                .map(|m| m.trim().to_ascii_uppercase()),
        };
        let url = read.required_string(map, path, "url");
        let headers = match map.get("headers") {
            None | Some(Value::Null) => Some(BTreeMap::new()),
            Some(value) => headers(read, value, &join(path, "headers")),
        };
        let body = map.get("body").filter(|b| !b.is_null()).cloned();
        Some(HttpStep {
            method: method?,
            url: url?,
            headers: headers?,
            body,
        })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        let mut http = Map::new();
        http.insert("method".into(), json!(self.method));
        http.insert("url".into(), json!(self.url));
        if !self.headers.is_empty() {
            http.insert("headers".into(), json!(self.headers));
        }
        if let Some(body) = &self.body {
            http.insert("body".into(), body.clone());
        }
        step.insert("http".into(), Value::Object(http));
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        let method = &self.method;
        if !METHODS.contains(&method.as_str()) {
            check.error(
                "http.method",
                format!(
                    "'{method}' is not supported; expected one of: {}",
                    METHODS.join(", ")
                ),
            );
        }
        let url = &self.url;
        if template::is_template(url) {
            check.template(url, "http.url");
        } else {
            match url::Url::parse(url) {
                Ok(parsed)
                    if matches!(parsed.scheme(), "http" | "https")
                        && parsed.host_str().is_some() => {}
                _ => check.error(
                    "http.url",
                    format!("'{url}' is not an absolute http(s) URL"),
                ),
            }
        }
        for (name, value) in &self.headers {
            if template::is_template(value) {
                check.template(value, &join("http.headers", name));
            }
        }
        if let Some(body) = &self.body {
            check.templates(body, "http.body");
        }
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow> {
        let request = json!({ "method": self.method, "url": self.url, "headers": self.headers, "body": self.body });
        let request = match run.render(&request) {
            Ok(request) => request,
            Err(e) => return run.fail(None, 0, template_error(&e)).await,
        };
        let client = &run.http_client();
        let allowed = &run.http_allowed_hosts();
        run.attempt(request, |request| async move {
            send(client, allowed, &request).await
        })
        .await
    }
}

/// Header values are strings; numbers and booleans are taken as their text.
fn headers(read: &mut Reader, value: &Value, path: &str) -> Option<BTreeMap<String, String>> {
    let headers = read.object(value, path)?;
    let mut out = BTreeMap::new();
    let mut ok = true;
    for (name, value) in headers {
        match value {
            Value::String(text) => {
                out.insert(name.clone(), text.clone());
            }
            Value::Number(_) | Value::Bool(_) => {
                out.insert(name.clone(), value.to_string());
            }
            other => {
                read.error(
                    join(path, name),
                    format!("a header value must be a string, got {}", describe(other)),
                );
                ok = false;
            }
        }
    }
    ok.then_some(out)
}

/// Sends the rendered request if its host is allowed; answers `{status, headers, body}`, and
/// fails on a non-2xx status.
async fn send(client: &reqwest::Client, allowed: &[String], request: &Value) -> Result<Value> {
    let url = request["url"].as_str().unwrap_or_default();
    let parsed = url::Url::parse(url)
        .map_err(|e| Error::invalid("url", format!("{url:?} is not a URL: {e}")))?;
    let host = parsed.host_str().unwrap_or_default();
    if !matches!(parsed.scheme(), "http" | "https") || !host_allowed(host, allowed) {
        return Err(Error::invalid(
            "url",
            format!("http steps may only call the allowed hosts ({}); {host:?} is not one (set --http-allowed-hosts)", if allowed.is_empty() { "none".to_owned() } else { allowed.join(", ") }),
        ));
    }
    let method: reqwest::Method = request["method"]
        .as_str()
        .unwrap_or("GET")
        .parse()
        .map_err(|_| Error::invalid("method", "is not an HTTP method"))?;
    let mut builder = client.request(method, parsed);
    if let Some(headers) = request["headers"].as_object() {
        for (name, value) in headers {
            builder = builder.header(name.as_str(), value.as_str().unwrap_or_default());
        }
    }
    if !request["body"].is_null() {
        builder = builder.json(&request["body"]);
    }
    let response = builder.send().await.map_err(|e| {
        Error::DialpadUnavailable(format!(
            "the http step's request failed: {}",
            dialpad::describe_transport_error(&e)
        ))
    })?;
    let status = response.status().as_u16();
    let headers: Map<String, Value> = response
        .headers()
        .iter()
        .filter_map(|(k, v)| Some((k.to_string(), json!(v.to_str().ok()?))))
        .collect();
    let bytes = response.bytes().await.unwrap_or_default();
    let body = serde_json::from_slice(&bytes)
        .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
    let output = json!({ "status": status, "headers": headers, "body": body });
    if (200..300).contains(&status) {
        Ok(output)
    } else {
        Err(Error::HttpStep {
            status,
            body: output["body"].clone(),
        })
    }
}

/// Whether `host` is one of `allowed`: an exact name, or `*.example.com` for its subdomains.
fn host_allowed(host: &str, allowed: &[String]) -> bool {
    allowed.iter().any(|rule| match rule.strip_prefix("*.") {
        Some(domain) => host.ends_with(&format!(".{domain}")),
        None => rule.eq_ignore_ascii_case(host),
    })
}

#[cfg(test)]
mod tests {
    use super::host_allowed;
    use crate::workflows::tests::{invalid, problem_at, with_steps, yaml};
    use crate::workflows::StepKind;

    #[test]
    fn allowed_hosts_are_exact_or_subdomains() {
        let allowed = vec![
            "api.vendor.example".to_owned(),
            "*.hooks.example".to_owned(),
        ];
        assert!(host_allowed("api.vendor.example", &allowed));
        assert!(host_allowed("a.hooks.example", &allowed));
        assert!(!host_allowed("hooks.example", &allowed));
        assert!(!host_allowed("evil.example", &allowed));
        assert!(!host_allowed("api.vendor.example.evil", &allowed));
    }

    #[test]
    fn methods_default_to_get_and_header_values_become_text() {
        let def = yaml(&with_steps(
            "  - id: a\n    http: {url: 'https://x.example', headers: {X-N: 5, X-B: true}}\n",
        ))
        .unwrap();
        let StepKind::Http(http) = &def.steps[0].kind else {
            panic!("{:?}", def.steps[0]);
        };
        assert_eq!(http.method, "GET");
        assert_eq!(http.headers["X-N"], "5");
        assert_eq!(http.headers["X-B"], "true");
        let problems = invalid(&with_steps(
            "  - id: a\n    http: {url: 'https://x.example', headers: {X-L: [1]}}\n",
        ));
        assert!(problem_at(&problems, "steps[0].http.headers.X-L")
            .message
            .contains("must be a string"));
    }
}
