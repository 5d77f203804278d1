//! `http_request`: any documented Dialpad API v2 operation. The method and path must match an
//! operation of the official spec (a typo is refused naming the nearest documented path), and
//! the path must stay under `/api/v2/`: absolute URLs, `//host`, `..`, percent-encoded tricks,
//! backslashes and `/oauth2/…` are refused before anything is sent.

use dialpad::{RawBody, RawRequest};
use dialpad_spec::{Match, Operation};
use serde_json::{json, Map, Value};

use crate::error::FieldError;

const METHODS: [&str; 5] = ["GET", "POST", "PUT", "PATCH", "DELETE"];

pub fn schema() -> Value {
    json!({
        "type": "object",
        "properties": {
            "method": { "type": "string", "enum": METHODS, "description": "HTTP method of a documented operation." },
            "path": { "type": "string", "pattern": "^/api/v2/", "description": "The path under /api/v2/, ids filled in, e.g. /api/v2/users/123." },
            "query": { "type": "object", "additionalProperties": { "type": ["string", "number", "boolean", "array"] }, "description": "Query parameters." },
            "body": { "description": "The JSON body, for operations that take one." },
        },
        "required": ["method", "path"],
        "additionalProperties": false,
    })
}

/// The checked request and the operation it performs.
pub fn prepare(input: &Value) -> Result<(RawRequest, &'static Operation), Vec<FieldError>> {
    let Some(fields) = input.as_object() else {
        return Err(vec![FieldError::new("input", "must be a JSON object")]);
    };
    let mut problems = Vec::new();
    for name in fields.keys() {
        if !["method", "path", "query", "body"].contains(&name.as_str()) {
            problems.push(FieldError::new(
                name,
                "unknown field; expected method, path, query, body",
            ));
        }
    }
    let method = match fields.get("method").and_then(Value::as_str) {
        Some(m) if METHODS.contains(&m.to_ascii_uppercase().as_str()) => {
            Some(m.to_ascii_uppercase())
        }
        Some(m) => {
            problems.push(FieldError::new(
                "method",
                format!("{m:?} is not one of {}", METHODS.join(", ")),
            ));
            None
        }
        None => {
            problems.push(FieldError::new("method", "is required"));
            None
        }
    };
    let path = match fields.get("path").and_then(Value::as_str) {
        Some(p) => match check_path(p) {
            Ok(()) => Some(p.to_owned()),
            Err(message) => {
                problems.push(FieldError::new("path", message));
                None
            }
        },
        None => {
            problems.push(FieldError::new("path", "is required"));
            None
        }
    };
    let query = match fields.get("query") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Object(pairs)) => query_pairs(pairs, &mut problems),
        Some(_) => {
            problems.push(FieldError::new(
                "query",
                "must be an object of parameter names to values",
            ));
            Vec::new()
        }
    };
    let body = fields.get("body").filter(|b| !b.is_null()).cloned();
    let (Some(method), Some(path)) = (method, path) else {
        return Err(problems);
    };
    let operation = match dialpad_spec::spec().find(&method, &path) {
        Match::Found { operation, .. } => Some(operation),
        Match::MethodNotAllowed { allowed } => {
            problems.push(FieldError::new(
                "method",
                format!("Dialpad documents {path} only for {}", allowed.join(", ")),
            ));
            None
        }
        Match::NotFound => {
            let hint = dialpad_spec::spec()
                .nearest_path(&path)
                .map(|p| format!("; did you mean {p}?"))
                .unwrap_or_default();
            problems.push(FieldError::new(
                "path",
                format!("{method} {path} is not a documented Dialpad operation{hint}"),
            ));
            None
        }
    };
    if let Some(operation) = operation {
        if body.is_some() && !operation.has_request_body {
            problems.push(FieldError::new(
                "body",
                format!("{} takes no body", operation.id),
            ));
        }
        if problems.is_empty() {
            let request = RawRequest {
                method: method.parse().unwrap_or(reqwest::Method::GET),
                path,
                query,
                body: body.map(RawBody::Json),
            };
            return Ok((request, operation));
        }
    }
    Err(problems)
}

/// The path must be a plain path under `/api/v2/` that cannot be read as anything else.
pub(crate) fn check_path(path: &str) -> Result<(), String> {
    let refuse = |why: &str| {
        Err(format!(
            "{why}; give a path under /api/v2/, like /api/v2/users/123"
        ))
    };
    if path.contains("://") || path.starts_with("//") {
        return refuse("must be a path, not a URL");
    }
    if !path.starts_with("/api/v2/") {
        return refuse("must start with /api/v2/");
    }
    if path.contains(['?', '#']) {
        return refuse("must not carry a query or fragment (use `query`)");
    }
    let lower = path.to_ascii_lowercase();
    if lower.contains("%2f") || lower.contains("%5c") {
        return refuse("must not percent-encode slashes or backslashes");
    }
    let decoded = percent_decode(path).ok_or("has a malformed or non-UTF-8 percent-encoding")?;
    if decoded.contains('\\') || decoded.chars().any(char::is_control) {
        return refuse("must not contain backslashes or control characters");
    }
    if decoded
        .split('/')
        .any(|segment| segment == ".." || segment == ".")
        || decoded.contains("//")
    {
        return refuse("must not contain . or .. segments or empty segments");
    }
    if decoded.contains("/oauth2") {
        return refuse("must not reach Dialpad's OAuth endpoints");
    }
    Ok(())
}

fn percent_decode(path: &str) -> Option<String> {
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = path.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

fn query_pairs(
    pairs: &Map<String, Value>,
    problems: &mut Vec<FieldError>,
) -> Vec<(String, String)> {
    let mut query = Vec::new();
    for (name, value) in pairs {
        let values = match value {
            Value::Array(items) => items.clone(),
            other => vec![other.clone()],
        };
        for value in values {
            match value {
                Value::String(s) => query.push((name.clone(), s)),
                Value::Number(n) => query.push((name.clone(), n.to_string())),
                Value::Bool(b) => query.push((name.clone(), b.to_string())),
                _ => problems.push(FieldError::new(
                    format!("query.{name}"),
                    "must be a string, a number, a boolean or a list of them",
                )),
            }
        }
    }
    query
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_message(input: Value) -> (String, String) {
        let problems = prepare(&input).unwrap_err();
        (problems[0].field.clone(), problems[0].message.clone())
    }

    #[test]
    fn documented_operations_pass() {
        let (request, operation) = prepare(
            &json!({ "method": "get", "path": "/api/v2/users/123", "query": { "limit": 2 } }),
        )
        .unwrap();
        assert_eq!(operation.id, "users.get");
        assert_eq!(request.method, reqwest::Method::GET);
        assert_eq!(request.query, vec![("limit".to_owned(), "2".to_owned())]);
    }

    #[test]
    fn typos_name_the_nearest_documented_path() {
        let (field, message) = field_message(json!({ "method": "GET", "path": "/api/v2/contact" }));
        assert_eq!(field, "path");
        assert!(
            message.contains("did you mean /api/v2/contacts"),
            "{message}"
        );
        let (field, message) =
            field_message(json!({ "method": "DELETE", "path": "/api/v2/users" }));
        assert_eq!(field, "method");
        assert!(message.contains("GET"), "{message}");
    }

    #[test]
    fn paths_that_could_leave_api_v2_are_refused() {
        for path in [
            "https://evil.example/api/v2/users",
            "//evil.example/api/v2/users",
            "/api/v2/../oauth2/token",
            "/api/v2/%2e%2e/oauth2/token",
            "/api/v2/users/%2F..%2F..%2Foauth2",
            "/api/v2/users/..%5c..",
            "/api/v2//users",
            "/oauth2/token",
            "/api/v2/users?apikey=x",
            "api/v2/users",
            "/api/v2/users/%zz",
        ] {
            let (field, _) = field_message(json!({ "method": "GET", "path": path }));
            assert_eq!(field, "path", "{path}");
        }
    }
}
