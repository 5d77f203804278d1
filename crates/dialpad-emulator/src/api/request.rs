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

    /// The body as `T`; the spec check has run, so a failure here names a rule the spec's
    /// schema cannot express.
    pub fn body<T: DeserializeOwned>(&self) -> Result<T, ApiError> {
        let body = self
            .body
            .clone()
            .unwrap_or(Value::Object(Default::default()));
        serde_json::from_value(body).map_err(|e| ApiError::BadRequest(format!("invalid body: {e}")))
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

/// A proto as JSON.
pub fn to_json<T: Serialize>(value: &T) -> Result<Value, ApiError> {
    serde_json::to_value(value).map_err(|e| ApiError::Internal(e.to_string()))
}
