//! One API v2 request after the spec has matched and checked it: the operation, the caller,
//! path and query parameters, and the JSON body. Handlers read their inputs from here.

use std::str::FromStr;

use dialpad_spec::Operation;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;

use crate::error::ApiError;
use crate::ids::UserId;
use crate::tokens::Principal;
use crate::world::World;

pub struct ApiRequest {
    pub operation: &'static Operation,
    pub caller: Principal,
    pub path: Vec<(String, String)>,
    pub query: Vec<(String, String)>,
    pub body: Option<Value>,
    /// Epoch milliseconds when the request arrived.
    pub now_ms: i64,
}

impl ApiRequest {
    fn path_param(&self, name: &str) -> &str {
        self.path
            .iter()
            .find(|(k, _)| k == name)
            .map_or("", |(_, v)| v.as_str())
    }

    /// A path id of `what` (e.g. "contact"); an id that cannot exist is simply not found.
    pub fn id<T: FromStr>(&self, name: &str, what: &str) -> Result<T, ApiError> {
        let raw = self.path_param(name);
        raw.parse()
            .map_err(|_| ApiError::NotFound(format!("{what} {raw} not found")))
    }

    /// The first value of a query parameter.
    pub fn query(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    /// A query parameter the spec declares boolean (already checked to be `true`/`false`).
    pub fn query_flag(&self, name: &str) -> bool {
        self.query(name) == Some("true")
    }

    /// A query parameter the spec declares int64 (already checked to be digits).
    pub fn query_i64(&self, name: &str) -> Option<i64> {
        self.query(name).and_then(|v| v.parse().ok())
    }

    /// The body as `T`. The spec check has run and no required field is null, so a `null`
    /// left is an optional field without a value: it reads as absent. A body that still does
    /// not fit `T` is the emulator's gap, answered without serde's wording.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let mut body = self
            .body
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        drop_nulls(&mut body);
        serde_json::from_value(body).map_err(|e| {
            tracing::warn!(operation = %self.operation.id, "a body the spec accepts did not fit: {e}");
            ApiError::BadRequest(format!(
                "invalid request: the body cannot be used for {}; check it against the spec's {} {} request schema",
                self.operation.id, self.operation.method, self.operation.path
            ))
        })
    }

    /// Refuses callers that do not speak for the whole company (a company API key, or an
    /// admin's token or key).
    pub fn require_admin(&self, world: &World) -> Result<(), ApiError> {
        let admin = |id: UserId| world.user(id).is_some_and(|u| u.is_admin);
        if self.caller.user_id.is_none_or(admin) {
            Ok(())
        } else {
            Err(ApiError::Forbidden(format!(
                "{} on another user's behalf requires a company admin",
                self.operation.id
            )))
        }
    }
}

/// Removes object fields whose value is `null`, at every depth: Dialpad's nullable fields
/// mean "no value", which handlers read as an absent field.
fn drop_nulls(value: &mut Value) {
    match value {
        Value::Object(fields) => {
            fields.retain(|_, field| !field.is_null());
            fields.values_mut().for_each(drop_nulls);
        }
        Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// A proto as JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}
