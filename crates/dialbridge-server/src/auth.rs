//! Admin API authentication: every `/api/v1` and `/proxy` route needs
//! `Authorization: Bearer <api key>`. `behind_api_key` puts a router behind the check and
//! writes it into the router's OpenAPI operations in the same step, so neither goes without
//! the other. The key's `AdminIdentity` (id and name) goes into the request's extensions.
//! Wrong keys are counted per client address, and slowed down (`attempts`).
//!
//! The check is a `gate`: a key found valid within `KEY_RECHECK` is known at once, and the
//! route is called as it is; only a key the database must be asked about waits.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::{ConnectInfo, Request};
use axum::http::header::AUTHORIZATION;
use axum::response::{IntoResponse, Response};
use dialbridge_core::AdminIdentity;
use tower::ServiceExt;
use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::IntoResponses;
use utoipa_axum::router::OpenApiRouter;

use crate::error::ApiError;
use crate::gate::{Checked, Gate, GateLayer, Wait};
use crate::openapi::ADMIN_KEY;
use crate::responses::KeyCheck;
use crate::state::AppState;

/// `router` behind the admin API key: each of its operations names the key's security scheme
/// and the 401 and 500 the check can answer.
pub fn behind_api_key(
    mut router: OpenApiRouter<AppState>,
    state: &AppState,
) -> OpenApiRouter<AppState> {
    let requirement = SecurityRequirement::new(ADMIN_KEY, Vec::<String>::new());
    let answers = KeyCheck::responses();
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = Some(vec![requirement.clone()]);
            for (status, answer) in &answers {
                operation
                    .responses
                    .responses
                    .entry(status.clone())
                    .or_insert_with(|| answer.clone());
            }
        }
    }
    router.layer(GateLayer(RequireApiKey {
        state: state.clone(),
    }))
}

fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .flatten()
}

/// What `behind_api_key` puts on each route.
#[derive(Clone)]
struct RequireApiKey {
    state: AppState,
}

impl Gate for RequireApiKey {
    fn check(&self, mut request: Request) -> Checked {
        let presented = Presented::of(&request);
        if let Some(identity) = presented.recently_authenticated_admin(&self.state) {
            request.extensions_mut().insert(identity);
            return Checked::Pass(request);
        }
        // The database must be asked.
        let state = self.state.clone();
        let then: Wait = Box::new(move |mut request, route| {
            Box::pin(async move {
                let admin = state.platform.admin.clone();
                let checked =
                    authenticated(&state, presented, Credential::AdminKey, |key| async move {
                        admin.authenticate(&key).await
                    })
                    .await;
                match checked {
                    Ok(identity) => {
                        request.extensions_mut().insert(identity);
                        let Ok(response) = route.oneshot(request).await;
                        response
                    }
                    Err(refused) => refused,
                }
            })
        });
        Checked::Wait(request, then)
    }
}

/// What a bearer credential is, for the answer and the metric when it is wrong.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Credential {
    AdminKey,
    McpToken,
}

impl Credential {
    fn unauthorized(self) -> ApiError {
        match self {
            Credential::AdminKey => ApiError::unauthorized(),
            Credential::McpToken => ApiError::new(
                "unauthorized",
                "send an MCP token as 'Authorization: Bearer <token>' (POST /api/v1/accounts/{account_id}/mcp-tokens makes one)",
            ),
        }
    }

    fn wrong(self) -> &'static str {
        match self {
            Credential::AdminKey => "wrong_key",
            Credential::McpToken => "wrong_mcp_token",
        }
    }
}

/// A request's `Authorization: Bearer` credential and the client's address.
pub(crate) struct Presented {
    credential: Option<String>,
    client: Option<IpAddr>,
}

impl Presented {
    pub(crate) fn of(request: &Request) -> Self {
        let credential = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| {
                v.strip_prefix("Bearer ")
                    .or_else(|| v.strip_prefix("bearer "))
            })
            .map(str::trim)
            .filter(|k| !k.is_empty())
            .map(str::to_owned);
        let client = request
            .extensions()
            .get::<ConnectInfo<SocketAddr>>()
            .map(|info| info.0.ip());
        Presented { credential, client }
    }

    /// The admin key's identity when `authenticated` would accept it without asking the
    /// database: the key was found valid within `KEY_RECHECK` and the address is not made to
    /// wait. `None` leaves the whole check to `authenticated`.
    fn recently_authenticated_admin(&self, state: &AppState) -> Option<AdminIdentity> {
        let key = self.credential.as_deref()?;
        let identity = state.platform.admin.recently_authenticated(key)?;
        match self.client {
            Some(ip) => state.attempts.right_key(ip).ok().map(|()| identity),
            None => Some(identity),
        }
    }
}

/// The presented credential, checked by `authenticate`: what it belongs to, or the answer
/// refusing it. Wrong credentials are counted per client address and slowed down
/// (`attempts`), whichever kind they are.
pub(crate) async fn authenticated<T, F, Fut>(
    state: &AppState,
    presented: Presented,
    kind: Credential,
    authenticate: F,
) -> Result<T, Response>
where
    F: FnOnce(String) -> Fut,
    Fut: Future<Output = dialbridge_core::Result<Option<T>>>,
{
    let Presented { credential, client } = presented;
    let Some(presented) = credential else {
        return Err(kind.unauthorized().into_response());
    };
    let metrics = state.platform.metrics();
    if let Some(Err(wait)) = client.map(|ip| state.attempts.check(ip)) {
        metrics.auth_failure("throttled");
        return Err(too_many_attempts(wait).into_response());
    }
    match authenticate(presented).await {
        Ok(Some(found)) => {
            if let Some(ip) = client {
                state.attempts.succeeded(ip);
            }
            Ok(found)
        }
        Ok(None) => {
            if let Some(ip) = client {
                state.attempts.failed(ip);
            }
            metrics.auth_failure(kind.wrong());
            Err(kind.unauthorized().into_response())
        }
        Err(e) => Err(ApiError::from(e).into_response()),
    }
}

fn too_many_attempts(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    let mut error = ApiError::new(
        "too_many_attempts",
        format!("too many wrong API keys or tokens from this address; try again in {secs} s"),
    );
    error.retry_after_secs = Some(secs);
    error.details = Some(serde_json::json!({ "retry_after_secs": secs }));
    error
}
