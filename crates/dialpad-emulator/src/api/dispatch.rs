//! The path of every API v2 request, in the order Dialpad's front end applies it: the spec
//! must know the route (404/405), the caller must be authenticated (401) and hold the
//! operation's scopes and role (403), injected faults and rate limits apply (429/5xx), the
//! query and body must match the spec's schemas, and required fields must not be null (400);
//! then the handler runs and its answer is checked against the spec's response schema before
//! it leaves.

use std::time::Instant;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Json;
use dialpad_spec::{Match, Operation};
use serde_json::Value;

use super::request::ApiRequest;
use crate::authorization;
use crate::clock;
use crate::error::ApiError;
use crate::tokens::{Principal, Unauthorized};
use crate::Emulator;

pub async fn handle(
    State(emulator): State<Emulator>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    match run(&emulator, &method, &uri, &headers, &body).await {
        Ok(value) => Json(value).into_response(),
        Err(error) => error.into_response(),
    }
}

async fn run(
    emulator: &Emulator,
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<Value, ApiError> {
    let path = uri.path();
    let (operation, path_params) = match dialpad_spec::spec().find(method.as_str(), path) {
        Match::Found {
            operation,
            path_params,
        } => (operation, path_params),
        Match::MethodNotAllowed { allowed } => {
            return Err(ApiError::MethodNotAllowed {
                message: format!(
                    "{method} is not allowed on {path}; allowed: {}",
                    allowed.join(", ")
                ),
                allowed: allowed.into_iter().map(str::to_owned).collect(),
            })
        }
        Match::NotFound => {
            return Err(ApiError::NotFound(format!(
                "{method} {path} is not an operation of Dialpad's API v2"
            )))
        }
    };
    let query: Vec<(String, String)> = serde_urlencoded::from_str(uri.query().unwrap_or(""))
        .map_err(|e| ApiError::BadRequest(format!("malformed query string: {e}")))?;
    let query = normalise_query(operation, query);

    let key = request_digest(method, uri, headers, body);
    let caller = admit(emulator, operation, headers, &query, key)?;
    let latency = emulator.store().config.faults.latency;
    if !latency.is_zero() {
        tokio::time::sleep(latency).await;
    }

    let body = parse_body(operation, body)?;
    operation
        .validate_request(&path_params, &query, body.as_ref())
        .map_err(|problems| {
            let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
            ApiError::BadRequest(format!("invalid request: {}", list.join("; ")))
        })?;
    if let (Some(schema), Some(body)) = (operation.request_body_schema(), body.as_ref()) {
        if let Some(location) = super::nulls::null_required_field(&schema, body) {
            let name = location.rsplit('.').next().unwrap_or_default();
            return Err(ApiError::BadRequest(format!(
                "invalid request: {location}: `{name}` is required and must have a value, not null"
            )));
        }
    }
    let handler = super::handler(&operation.id).ok_or_else(|| {
        ApiError::NotImplemented(format!(
            "the emulator does not implement {} ({} {}) yet",
            operation.id, operation.method, operation.path
        ))
    })?;
    let request = ApiRequest {
        operation,
        caller,
        path: path_params,
        query,
        body,
        now_ms: clock::now_ms(),
    };
    let result = handler(&mut emulator.store(), &request);
    emulator.flush_events();
    let value = result?;
    check_response(emulator, operation, &value)?;
    Ok(value)
}

/// Authentication, scopes, role, injected faults and rate limits: everything decided before
/// the request's content is read.
fn admit(
    emulator: &Emulator,
    operation: &Operation,
    headers: &HeaderMap,
    query: &[(String, String)],
    key: u64,
) -> Result<Principal, ApiError> {
    let now = Instant::now();
    let refused = admit_counted(emulator, operation, headers, query);
    let mut store = emulator.store();
    if let Some(not_before) = store.retry_not_before.remove(&key) {
        if now < not_before {
            store.stats.early_retries += 1;
        }
    }
    if let Some(secs) = refused.as_ref().err().and_then(ApiError::retry_after_secs) {
        if store.retry_not_before.len() >= MAX_REMEMBERED_429S {
            store.retry_not_before.retain(|_, at| *at > now);
        }
        store
            .retry_not_before
            .insert(key, now + std::time::Duration::from_secs(secs));
    }
    refused
}

/// 429s remembered for `early_retries` before the expired ones are dropped.
const MAX_REMEMBERED_429S: usize = 10_000;

/// What identifies a repeated request: credentials, method, path, query and body.
fn request_digest(method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    headers
        .get(axum::http::header::AUTHORIZATION)
        .map(|v| v.as_bytes())
        .hash(&mut hasher);
    method.as_str().hash(&mut hasher);
    uri.to_string().hash(&mut hasher);
    body.hash(&mut hasher);
    hasher.finish()
}

/// `admit`'s checks, counted in the stats.
fn admit_counted(
    emulator: &Emulator,
    operation: &Operation,
    headers: &HeaderMap,
    query: &[(String, String)],
) -> Result<Principal, ApiError> {
    let token = authorization::bearer(headers)
        .map(str::to_owned)
        .or_else(|| {
            query
                .iter()
                .find(|(k, _)| k == "apikey")
                .map(|(_, v)| v.clone())
        })
        .ok_or(Unauthorized::Missing);
    let mut store = emulator.store();
    let caller = token
        .and_then(|token| store.tokens.principal(&token, Instant::now()))
        .map_err(|e| ApiError::Unauthorized(e.to_string()))?;
    if let Some(missing) = operation.scopes.iter().find(|s| !caller.has_scope(s)) {
        return Err(ApiError::Forbidden(format!(
            "{} requires the OAuth scope `{missing}`, which this token was not granted",
            operation.id
        )));
    }
    if operation.requires_company_admin {
        let is_admin = caller
            .user_id
            .is_none_or(|id| store.world.user(id).is_some_and(|u| u.is_admin));
        if !is_admin {
            return Err(ApiError::Forbidden(format!(
                "{} requires a company admin API key or an admin's token",
                operation.id
            )));
        }
    }
    store.stats.api_requests += 1;
    let nth = store.config.faults.every_nth.is_some_and(|every| {
        store.fault_counter += 1;
        store.fault_counter.is_multiple_of(every)
    });
    if nth || store.config.faults.strikes() {
        store.stats.faults_injected += 1;
        let status = StatusCode::from_u16(store.config.faults.pick_status())
            .unwrap_or(StatusCode::SERVICE_UNAVAILABLE);
        return Err(ApiError::Injected(status));
    }
    if store.config.rate_limits {
        let per_second = store.config.company_requests_per_second;
        let limited = store.limiter.check(
            caller.company_id,
            &operation.id,
            operation.rate_limit_per_minute,
            per_second,
            Instant::now(),
        );
        if let Err(limited) = limited {
            store.stats.rate_limited += 1;
            store.stats.last_rate_limited = Some(format!(
                "{} to {}: the ones it counted came within {} ms before this one",
                operation.id,
                limited.limit,
                limited
                    .window
                    .saturating_sub(limited.retry_after)
                    .as_millis()
            ));
            return Err(ApiError::RateLimited {
                limit: limited.limit,
                retry_after: limited.retry_after,
            });
        }
    }
    Ok(caller)
}

/// Reads the query as Dialpad's clients write it: an empty value is an absent parameter (the
/// SDK's httpx client sends every optional parameter, empty), and booleans are
/// case-insensitive (its requests client writes Python's `True`).
fn normalise_query(operation: &Operation, query: Vec<(String, String)>) -> Vec<(String, String)> {
    query
        .into_iter()
        .filter(|(_, value)| !value.is_empty())
        .map(|(name, value)| {
            let boolean = operation.parameters.iter().any(|p| {
                p.name == name
                    && match p.schema.get("type") {
                        Some(Value::String(t)) => t == "boolean",
                        Some(Value::Array(types)) => types.iter().any(|t| t == "boolean"),
                        _ => false,
                    }
            });
            if boolean {
                (name, value.to_ascii_lowercase())
            } else {
                (name, value)
            }
        })
        .collect()
}

/// The JSON body of an operation that takes one (an absent body reads as `{}`, so missing
/// required fields are named); bodies sent to operations without one are ignored.
fn parse_body(operation: &Operation, body: &Bytes) -> Result<Option<Value>, ApiError> {
    if !operation.has_request_body {
        return Ok(None);
    }
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Some(Value::Object(Default::default())));
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        let what = match e.classify() {
            serde_json::error::Category::Eof => "it ends before the JSON does".to_owned(),
            _ => format!("see line {}, column {}", e.line(), e.column()),
        };
        ApiError::BadRequest(format!("the body is not valid JSON: {what}"))
    })
}

/// An answer that breaks the spec is the emulator's bug: it is counted, logged and answered
/// 500, so the test that caused it fails.
fn check_response(
    emulator: &Emulator,
    operation: &Operation,
    value: &Value,
) -> Result<(), ApiError> {
    let Err(problems) = operation.validate_response(200, value) else {
        return Ok(());
    };
    let list: Vec<String> = problems.iter().map(ToString::to_string).collect();
    let message = format!(
        "emulator bug: the answer to {} does not match the spec's response schema: {}",
        operation.id,
        list.join("; ")
    );
    tracing::error!("{message}");
    let mut store = emulator.store();
    store.stats.response_schema_violations += 1;
    store.stats.last_violation = Some(message.clone());
    Err(ApiError::Internal(message))
}
