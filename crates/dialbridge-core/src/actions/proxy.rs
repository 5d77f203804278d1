//! The proxy: a request to `/proxy/{account}/api/v2/…` goes to Dialpad with the account's
//! credentials, under the same throttle, retry and token handling as actions, and Dialpad's
//! answer comes back as it is — so Dialpad's own SDKs work with `base_url` pointed at it.
//! Only documented operations pass, on paths that cannot leave `/api/v2/`.

use dialpad::{RawBody, RawRequest, RawResponse};
use dialpad_spec::Match;

use super::{check_path, Actions};
use crate::error::{Error, FieldError, Resource, Result};
use crate::ids::AccountId;

/// A request as the proxy received it.
#[derive(Debug, Clone)]
pub struct ProxyRequest {
    pub method: String,
    /// `/api/v2/…`, as received (still percent-encoded).
    pub path: String,
    pub query: Vec<(String, String)>,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

impl Actions {
    /// Forwards `request` for the account (`not_found` when there is no such account).
    /// Dialpad's answer is `Ok` whatever its status, except
    /// a 401 that survived a refresh (`Error::Dialpad`) and spent 429 retries
    /// (`Error::RateLimited`), which the caller answers with Dialpad's status and body too.
    pub async fn proxy(
        &self,
        account_id: &AccountId,
        request: ProxyRequest,
    ) -> Result<RawResponse> {
        let account = self.existing_account(account_id).await?;
        check_path(&request.path)
            .map_err(|message| Error::InvalidInput(vec![FieldError::new("path", message)]))?;
        let operation = match dialpad_spec::spec().find(&request.method, &request.path) {
            Match::Found { operation, .. } => operation,
            Match::MethodNotAllowed { allowed } => {
                return Err(Error::invalid(
                    "method",
                    format!(
                        "Dialpad documents {} only for {}",
                        request.path,
                        allowed.join(", ")
                    ),
                ))
            }
            Match::NotFound => {
                return Err(Error::NotFound {
                    resource: Resource::DialpadOperation,
                    id: format!("{} {}", request.method, request.path),
                    suggestion: dialpad_spec::spec()
                        .nearest_path(&request.path)
                        .map(str::to_owned),
                });
            }
        };
        let body = if request.body.iter().all(u8::is_ascii_whitespace) {
            None
        } else {
            let json_type = request
                .content_type
                .as_deref()
                .is_none_or(|t| t.contains("json"));
            match serde_json::from_slice(&request.body) {
                Ok(value) if json_type => Some(RawBody::Json(value)),
                _ => Some(RawBody::Bytes {
                    content_type: request
                        .content_type
                        .unwrap_or_else(|| "application/octet-stream".into()),
                    bytes: request.body,
                }),
            }
        };
        let raw = RawRequest {
            method: request
                .method
                .parse()
                .map_err(|_| Error::invalid("method", "is not an HTTP method"))?,
            path: request.path,
            query: request.query,
            body,
        };
        self.gateway.send_for(&account, operation, &raw).await
    }
}
