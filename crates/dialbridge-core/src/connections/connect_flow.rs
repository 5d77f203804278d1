//! The connect flow: a single-use, expiring connect link; the redirect to Dialpad's authorize
//! page with a state bound to the link and PKCE S256; the callback that redeems the code.

use serde::{Deserialize, Serialize};
use url::Url;

use super::model::{AuthType, ConnectionRecord, ConnectionStatus};
use super::Connections;
use crate::app::Environment;
use crate::crypto::{random_token, sha256_hex, Sealed};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::time::Timestamp;

/// A connect attempt, as stored. Only hashes of the link token and state are kept.
#[derive(Debug, Clone)]
pub struct ConnectSession {
    pub token_hash: String,
    pub account_id: AccountId,
    pub environment: Environment,
    pub redirect_url: Option<String>,
    /// The effective scopes asked for, and which of them are custom.
    pub scopes: Vec<String>,
    pub custom_scopes: Vec<String>,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
    pub state_hash: Option<String>,
    pub code_verifier: Option<Sealed>,
    pub opened_at: Option<Timestamp>,
    pub completed_at: Option<Timestamp>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectLink {
    pub connect_url: String,
    pub portal_url: String,
    pub expires_at: Timestamp,
}

/// What the portal page shows.
#[derive(Debug)]
pub struct PortalView {
    pub account_id: AccountId,
    pub account_name: Option<String>,
    pub environment: Environment,
    pub scopes: Vec<String>,
}

/// The query Dialpad sends the browser back with.
#[derive(Debug, Default, Deserialize)]
pub struct CallbackQuery {
    pub code: Option<String>,
    pub state: Option<String>,
    pub error: Option<String>,
    pub error_description: Option<String>,
}

/// How a connect attempt ended, and where the browser goes next.
#[derive(Debug)]
pub struct CallbackOutcome {
    pub account_id: AccountId,
    pub redirect_url: Option<String>,
    /// `None` on success; else an error code and a message for a person.
    pub failure: Option<(String, String)>,
}

impl CallbackOutcome {
    /// `redirect_url` with `status=connected` or `status=error&error=…` appended.
    pub fn redirect_target(&self) -> Option<Url> {
        let mut url = Url::parse(self.redirect_url.as_deref()?).ok()?;
        {
            let mut q = url.query_pairs_mut();
            q.append_pair("account_id", self.account_id.as_str());
            match &self.failure {
                None => {
                    q.append_pair("status", "connected");
                }
                Some((code, message)) => {
                    q.append_pair("status", "error");
                    q.append_pair("error", code);
                    q.append_pair("error_description", message);
                }
            }
        }
        Some(url)
    }
}

const LINK_GONE: &str = "This connect link is unknown, expired or already used. Ask for a new one.";
const STATE_GONE: &str =
    "This sign-in answer does not match a connect attempt in progress (it is forged, expired or was already used). Start the connection again.";

impl Connections {
    pub async fn start_connect(
        &self,
        account_id: &AccountId,
        environment: Option<Environment>,
        redirect_url: Option<String>,
    ) -> Result<ConnectLink> {
        let account = self.find_account(account_id).await?;
        if let Some(url) = &redirect_url {
            match Url::parse(url) {
                Ok(u) if matches!(u.scheme(), "http" | "https") && u.host().is_some() => {}
                _ => {
                    return Err(Error::invalid(
                        "redirect_url",
                        "must be an absolute http(s) URL",
                    ))
                }
            }
        }
        let environment = match environment {
            Some(env) => env,
            None => self.app.default_environment().await?,
        };
        self.app.app_credentials(environment).await?;
        let selection = self.app.scope_selection().await?;
        let now = Timestamp::now();
        let ttl = self.shared.settings().connect_link_ttl;
        let token = random_token(32);
        let session = ConnectSession {
            token_hash: sha256_hex(&token),
            account_id: account_id.clone(),
            environment,
            redirect_url,
            scopes: selection.effective(),
            custom_scopes: selection.custom_scopes,
            created_at: now,
            expires_at: now + ttl,
            state_hash: None,
            code_verifier: None,
            opened_at: None,
            completed_at: None,
        };
        self.sessions.insert_connect_session(&session).await?;
        let idle = account
            .connection
            .as_ref()
            .is_none_or(|c| c.status == ConnectionStatus::Disconnected);
        if idle {
            let pending = ConnectionRecord::empty(
                account_id.clone(),
                environment,
                AuthType::Oauth,
                ConnectionStatus::Pending,
                now,
            );
            self.connections.put_connection(&pending).await?;
        }
        tracing::info!(account_id = %account_id, %environment, "connect link created");
        Ok(ConnectLink {
            connect_url: self
                .shared
                .settings()
                .public(&format!("connect/{token}"))
                .to_string(),
            portal_url: self
                .shared
                .settings()
                .public(&format!("connect/{token}/portal"))
                .to_string(),
            expires_at: session.expires_at,
        })
    }

    /// The portal page's content, without using up the link.
    pub async fn portal(&self, token: &str) -> Result<PortalView> {
        let session = self.live_session(token).await?;
        let account = self.find_account(&session.account_id).await?;
        Ok(PortalView {
            account_id: session.account_id,
            account_name: account.name,
            environment: session.environment,
            scopes: session.scopes,
        })
    }

    /// Uses up the connect link and answers Dialpad's authorize URL to send the browser to.
    pub async fn open_connect_link(&self, token: &str) -> Result<Url> {
        let pkce = dialpad::Pkce::new();
        let state = random_token(32);
        let verifier = self.shared.seal(&pkce.verifier);
        let session = self
            .sessions
            .open_connect_session(
                &sha256_hex(token),
                &sha256_hex(&state),
                &verifier,
                Timestamp::now(),
            )
            .await?
            .ok_or_else(|| Error::InvalidConnectLink(LINK_GONE.into()))?;
        let app = self.app.oauth_app(session.environment).await?;
        tracing::info!(account_id = %session.account_id, "connect link opened, sending the browser to Dialpad");
        Ok(app.authorize_url(&session.scopes, &state, &pkce))
    }

    /// Handles `GET /oauth/callback`. A forged, expired or replayed state is an error and
    /// changes nothing; anything Dialpad reports is an outcome to show or redirect with.
    pub async fn complete_oauth(&self, query: CallbackQuery) -> Result<CallbackOutcome> {
        let state = query.state.as_deref().filter(|s| !s.is_empty());
        let state = state.ok_or_else(|| Error::InvalidConnectLink(STATE_GONE.into()))?;
        let session = self
            .sessions
            .complete_connect_session_by_state(&sha256_hex(state), Timestamp::now())
            .await?
            .ok_or_else(|| Error::InvalidConnectLink(STATE_GONE.into()))?;
        let failure = match (query.error, query.code) {
            (Some(error), _) => Some(explain_refusal(&session, error, query.error_description)),
            (None, Some(code)) => self.redeem_code(&session, &code).await.err(),
            (None, None) => Some((
                "invalid_request".into(),
                "Dialpad sent neither a code nor an error.".into(),
            )),
        };
        if let Some((code, message)) = &failure {
            tracing::warn!(account_id = %session.account_id, error = %code, "connect attempt failed: {message}");
        }
        Ok(CallbackOutcome {
            account_id: session.account_id,
            redirect_url: session.redirect_url,
            failure,
        })
    }

    async fn redeem_code(
        &self,
        session: &ConnectSession,
        code: &str,
    ) -> Result<(), (String, String)> {
        let app = self
            .app
            .oauth_app(session.environment)
            .await
            .map_err(internal)?;
        let verifier = session
            .code_verifier
            .as_ref()
            .ok_or_else(|| internal("the connect session has no PKCE verifier"))
            .and_then(|v| self.shared.open(v).map_err(internal))?;
        let tokens = app
            .exchange_code(code, verifier.expose())
            .await
            .map_err(|e| match e {
                dialpad::OAuthError::Refused { code, description } => {
                    let message = description
                        .unwrap_or_else(|| "Dialpad refused the authorization code.".into());
                    (code, message)
                }
                dialpad::OAuthError::Unavailable(msg) => ("dialpad_unavailable".into(), msg),
            })?;
        let base_url = self
            .app
            .base_url(session.environment)
            .await
            .map_err(internal)?;
        let (company_id, user_id) = self.identify(&base_url, &tokens.access_token).await;
        let now = Timestamp::now();
        let previous = self
            .connections
            .get_connection(&session.account_id)
            .await
            .map_err(|e| internal(e.to_string()))?;
        let previous_version = previous.as_ref().map_or(0, |c| c.token_version);
        let mut record = ConnectionRecord::empty(
            session.account_id.clone(),
            session.environment,
            AuthType::Oauth,
            ConnectionStatus::Connected,
            now,
        );
        record.scopes = tokens
            .scopes
            .clone()
            .unwrap_or_else(|| session.scopes.clone());
        record.dialpad_company_id = company_id;
        record.dialpad_user_id = user_id;
        record.connected_at = Some(now);
        record.access_token = Some(self.shared.seal(&tokens.access_token));
        record.refresh_token = tokens.refresh_token.as_deref().map(|t| self.shared.seal(t));
        record.expires_at = tokens.expires_in.map(|d| now + d);
        record.refresh_at = super::tokens::refresh_moment(
            now,
            tokens.expires_in,
            self.shared.settings().refresh_margin,
        );
        record.token_version = previous_version + 1;
        self.connections
            .put_connection(&record)
            .await
            .map_err(|e| internal(e.to_string()))?;
        self.place_in_shard(&session.account_id, record.dialpad_company_id.as_deref())
            .await
            .map_err(internal)?;
        tracing::info!(account_id = %session.account_id, "account connected with OAuth");
        // A consent over a live connection: its grant is not held any more, so it goes.
        if let Some(previous) = &previous {
            self.revoke_replaced(previous).await;
        }
        self.vendor_webhooks.emit_connection_created(&record).await;
        self.provisioning.sync(&session.account_id).await;
        Ok(())
    }

    /// The portal's API-key form: checks the key with Dialpad, then uses up the link.
    pub async fn connect_from_portal(&self, token: &str, api_key: &str) -> Result<CallbackOutcome> {
        let session = self.live_session(token).await?;
        self.connect_api_key(&session.account_id, Some(session.environment), api_key)
            .await?;
        self.sessions
            .complete_connect_session_by_token(&sha256_hex(token), Timestamp::now())
            .await?
            .ok_or_else(|| Error::InvalidConnectLink(LINK_GONE.into()))?;
        Ok(CallbackOutcome {
            account_id: session.account_id,
            redirect_url: session.redirect_url,
            failure: None,
        })
    }

    /// Forgets connect links that expired before `before`.
    pub(crate) async fn purge_connect_links(&self, before: Timestamp) -> Result<u64> {
        Ok(self.sessions.purge_connect_sessions(before).await?)
    }

    async fn live_session(&self, token: &str) -> Result<ConnectSession> {
        let now = Timestamp::now();
        self.sessions
            .find_connect_session(&sha256_hex(token))
            .await?
            .filter(|s| s.expires_at > now && s.opened_at.is_none() && s.completed_at.is_none())
            .ok_or_else(|| Error::InvalidConnectLink(LINK_GONE.into()))
    }
}

fn internal(e: impl ToString) -> (String, String) {
    ("internal_error".into(), e.to_string())
}

/// Dialpad's error redirect, with the custom scopes named when Dialpad refused the scopes.
fn explain_refusal(
    session: &ConnectSession,
    error: String,
    description: Option<String>,
) -> (String, String) {
    let mut message = match error.as_str() {
        "access_denied" => "The Dialpad user declined to connect.".to_owned(),
        "invalid_scope" => "Dialpad refused the scopes requested.".to_owned(),
        _ => format!("Dialpad answered '{error}'."),
    };
    if let Some(d) = description.filter(|d| !d.is_empty()) {
        message.push_str(&format!(" Dialpad said: {d}."));
    }
    if error == "invalid_scope" && !session.custom_scopes.is_empty() {
        message.push_str(&format!(
            " The likely cause is the custom scope(s) {}: remove them from the app's custom scopes or ask Dialpad to enable them for the app.",
            session.custom_scopes.join(", ")
        ));
    }
    (error, message)
}
