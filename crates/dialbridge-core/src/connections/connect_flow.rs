//! The connect flow: an expiring connect link, spent when it succeeds; each opening of it sends
//! the browser to Dialpad's authorize page with an OAuth attempt of its own (a state and PKCE
//! S256); the callback that redeems the code; the portal's API-key form.

use serde::{Deserialize, Serialize};
use url::Url;

use super::model::{AuthType, ConnectionRecord, ConnectionStatus};
use super::Connections;
use crate::app::Environment;
use crate::crypto::{random_token, sha256_hex, Sealed};
use crate::error::{Error, Result};
use crate::ids::AccountId;
use crate::time::Timestamp;

/// A connect link, as stored. Only the hash of its token is kept.
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
    /// When an attempt connected the account and so spent the link.
    pub completed_at: Option<Timestamp>,
}

impl ConnectSession {
    pub fn status(&self, now: Timestamp) -> LinkStatus {
        if self.completed_at.is_some() {
            LinkStatus::Used
        } else if self.expires_at <= now {
            LinkStatus::Expired
        } else {
            LinkStatus::Open
        }
    }
}

/// Where a connect link stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LinkStatus {
    /// Unexpired and not yet used: it can be opened (again) or used with an API key.
    Open,
    /// An attempt connected the account with it.
    Used,
    Expired,
}

/// One OAuth attempt of a link: each opening of `connect_url` makes one. Only the hash of the
/// state is kept; the PKCE verifier is sealed.
#[derive(Debug, Clone)]
pub struct ConnectState {
    pub state_hash: String,
    pub token_hash: String,
    pub code_verifier: Sealed,
    pub created_at: Timestamp,
}

/// How many times one link can be opened: link previews, scanners, reloads and the customer
/// fit well within it, and the rows one link can make stay few.
pub const MAX_ATTEMPTS_PER_LINK: u32 = 20;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectLink {
    pub connect_url: String,
    pub portal_url: String,
    pub expires_at: Timestamp,
}

/// What the portal page shows.
#[derive(Debug)]
pub struct PortalView {
    pub status: LinkStatus,
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

const LINK_UNKNOWN: &str = "This connect link is unknown (or expired long ago). Ask for a new one.";
const LINK_USED: &str =
    "This connect link was already used: the Dialpad account is connected. To connect again, ask for a new link.";
const LINK_EXPIRED: &str = "This connect link expired. Ask for a new one.";
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
            self.shared.connection_changed(account_id).await;
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

    /// The portal page's content and where the link stands; viewing it changes nothing.
    pub async fn portal(&self, token: &str) -> Result<PortalView> {
        let session = self
            .sessions
            .find_connect_session(&sha256_hex(token))
            .await?
            .ok_or_else(|| Error::InvalidConnectLink(LINK_UNKNOWN.into()))?;
        let account = self.find_account(&session.account_id).await?;
        Ok(PortalView {
            status: session.status(Timestamp::now()),
            account_id: session.account_id,
            account_name: account.name,
            environment: session.environment,
            scopes: session.scopes,
        })
    }

    /// Starts an OAuth attempt of the link (a state and a PKCE verifier of its own) and answers
    /// Dialpad's authorize URL to send the browser to. The link stays open: opening it again
    /// (a link preview, a reload, a second click) starts another attempt.
    pub async fn open_connect_link(&self, token: &str) -> Result<Url> {
        let pkce = dialpad::Pkce::new();
        let state = random_token(32);
        let now = Timestamp::now();
        let attempt = ConnectState {
            state_hash: sha256_hex(&state),
            token_hash: sha256_hex(token),
            code_verifier: self.shared.seal(&pkce.verifier),
            created_at: now,
        };
        let Some(session) = self
            .sessions
            .add_connect_state(&attempt, now, MAX_ATTEMPTS_PER_LINK)
            .await?
        else {
            return Err(self.closed_link(&attempt.token_hash, now).await);
        };
        let app = self.app.oauth_app(session.environment).await?;
        tracing::info!(account_id = %session.account_id, "connect link opened, sending the browser to Dialpad");
        Ok(app.authorize_url(&session.scopes, &state, &pkce))
    }

    /// Handles `GET /oauth/callback`. The state is taken (it answers once); a forged or replayed
    /// state, or one whose link was used or expired meanwhile, is an error and changes nothing.
    /// A code redeemed spends the link and every other attempt of it; a refusal by Dialpad or
    /// the customer leaves the link open for another try.
    pub async fn complete_oauth(&self, query: CallbackQuery) -> Result<CallbackOutcome> {
        let state = query.state.as_deref().filter(|s| !s.is_empty());
        let state = state.ok_or_else(|| Error::InvalidConnectLink(STATE_GONE.into()))?;
        let attempt = self
            .sessions
            .take_connect_state(&sha256_hex(state))
            .await?
            .ok_or_else(|| Error::InvalidConnectLink(STATE_GONE.into()))?;
        match (query.error, query.code) {
            (None, Some(code)) => {
                // From spending the link on, the exchange runs to its end even if the browser
                // goes away: Dialpad may have redeemed the code, and only the end stores the
                // connection (or opens the link again).
                let this = self.clone();
                self.tokens
                    .run_exchange(async move {
                        let (session, spent_at) = this.spend_link(&attempt.token_hash).await?;
                        let redeemed = this
                            .redeem_code(&session, &attempt.code_verifier, &code)
                            .await;
                        this.settle_link(&session, spent_at, redeemed.is_ok())
                            .await?;
                        Ok(outcome(session, redeemed.err()))
                    })
                    .await
            }
            (error, _) => {
                let session = self.open_session(&attempt.token_hash).await?;
                let failure = match error {
                    Some(error) => explain_refusal(&session, error, query.error_description),
                    None => (
                        "invalid_request".into(),
                        "Dialpad sent neither a code nor an error.".into(),
                    ),
                };
                Ok(outcome(session, Some(failure)))
            }
        }
    }

    async fn redeem_code(
        &self,
        session: &ConnectSession,
        verifier: &Sealed,
        code: &str,
    ) -> Result<(), (String, String)> {
        let app = self
            .app
            .oauth_app(session.environment)
            .await
            .map_err(internal)?;
        let verifier = self.shared.open(verifier).map_err(internal)?;
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
        let (company_id, user_id) = self
            .identify(session.environment, &tokens.access_token)
            .await
            .map_err(internal)?;
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
        self.shared.connection_changed(&session.account_id).await;
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

    /// The portal's API-key form: spends the link if Dialpad accepts the key.
    pub async fn connect_from_portal(&self, token: &str, api_key: &str) -> Result<CallbackOutcome> {
        let (session, spent_at) = self.spend_link(&sha256_hex(token)).await?;
        let connected = self
            .connect_api_key(&session.account_id, Some(session.environment), api_key)
            .await;
        self.settle_link(&session, spent_at, connected.is_ok())
            .await?;
        connected?;
        Ok(outcome(session, None))
    }

    /// Forgets connect links that expired before `before`.
    pub(crate) async fn purge_connect_links(&self, before: Timestamp) -> Result<u64> {
        Ok(self.sessions.purge_connect_sessions(before).await?)
    }

    /// Spends an open link for an attempt about to connect, so that a concurrent attempt
    /// cannot connect too; `settle_link` then keeps it spent or gives it back.
    async fn spend_link(&self, token_hash: &str) -> Result<(ConnectSession, Timestamp)> {
        let now = Timestamp::now();
        match self.sessions.spend_connect_session(token_hash, now).await? {
            Some(session) => Ok((session, now)),
            None => Err(self.closed_link(token_hash, now).await),
        }
    }

    /// After a spending attempt: on success the link's other attempts are forgotten (their
    /// states no longer answer); on failure the link is open again for another try.
    async fn settle_link(
        &self,
        session: &ConnectSession,
        spent_at: Timestamp,
        connected: bool,
    ) -> Result<()> {
        if connected {
            self.sessions
                .delete_connect_states(&session.token_hash)
                .await?;
        } else {
            self.sessions
                .unspend_connect_session(&session.token_hash, spent_at)
                .await?;
        }
        Ok(())
    }

    /// The link of an attempt, if it is still open.
    async fn open_session(&self, token_hash: &str) -> Result<ConnectSession> {
        let now = Timestamp::now();
        match self.sessions.find_connect_session(token_hash).await? {
            Some(session) if session.status(now) == LinkStatus::Open => Ok(session),
            _ => Err(self.closed_link(token_hash, now).await),
        }
    }

    /// Why a link cannot be used now, in words for the customer.
    async fn closed_link(&self, token_hash: &str, now: Timestamp) -> Error {
        let session = match self.sessions.find_connect_session(token_hash).await {
            Ok(session) => session,
            Err(e) => return e.into(),
        };
        let message = match session.map(|s| s.status(now)) {
            None => LINK_UNKNOWN.to_owned(),
            Some(LinkStatus::Used) => LINK_USED.to_owned(),
            Some(LinkStatus::Expired) => LINK_EXPIRED.to_owned(),
            Some(LinkStatus::Open) => format!(
                "This connect link was opened {MAX_ATTEMPTS_PER_LINK} times without connecting. Ask for a new one."
            ),
        };
        Error::InvalidConnectLink(message)
    }
}

/// How an attempt ended, logged when it failed.
fn outcome(session: ConnectSession, failure: Option<(String, String)>) -> CallbackOutcome {
    if let Some((code, message)) = &failure {
        tracing::warn!(account_id = %session.account_id, error = %code, "connect attempt failed: {message}");
    }
    CallbackOutcome {
        account_id: session.account_id,
        redirect_url: session.redirect_url,
        failure,
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
