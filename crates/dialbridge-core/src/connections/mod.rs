//! The vendor's customers and their Dialpad connections. The `Connections` part owns accounts
//! (`accounts.rs`), the browser connect flow (`connect_flow.rs`) and, here, what does not go
//! through a browser: API-key connections, the connection check, disconnecting (revoking at
//! Dialpad and wiping secrets) and deleting an account. Where a token refreshes: `tokens.rs`.

mod accounts;
mod connect_flow;
mod model;
mod tokens;

use std::sync::Arc;

use serde::Serialize;

pub use accounts::{AccountPage, AccountView, ConnectionView};
pub use connect_flow::{
    CallbackOutcome, CallbackQuery, ConnectLink, ConnectSession, ConnectState, LinkStatus,
    PortalView,
};
pub use model::{Account, AccountPatch, AuthType, ConnectionRecord, ConnectionStatus};
pub use tokens::{Credential, Tokens};

use crate::app::{AppSettings, Environment};
use crate::error::{Error, Result};
use crate::events::Provisioning;
use crate::gateway::{company_of, success_body, Gateway};
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::store::{AccountStore, ConnectSessionStore, ConnectionStore};
use crate::time::Timestamp;
use crate::vendor_webhooks::VendorWebhooks;

/// `POST /api/v1/accounts/{id}/connection/check`: proof that the credentials work now.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct CompanyCheck {
    pub ok: bool,
    pub dialpad_company_id: String,
    pub dialpad_company_name: Option<String>,
}

/// Accounts and their connections.
#[derive(Clone)]
pub struct Connections {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) connections: Arc<dyn ConnectionStore>,
    pub(crate) sessions: Arc<dyn ConnectSessionStore>,
    pub(crate) app: AppSettings,
    pub(crate) tokens: Tokens,
    pub(crate) gateway: Gateway,
    pub(crate) provisioning: Provisioning,
    pub(crate) vendor_webhooks: VendorWebhooks,
    pub(crate) shared: Shared,
}

impl Connections {
    /// Connects with a Dialpad API key after Dialpad accepted it; a malformed key is refused
    /// before anything is sent.
    pub async fn connect_api_key(
        &self,
        account_id: &AccountId,
        environment: Option<Environment>,
        api_key: &str,
    ) -> Result<AccountView> {
        let api_key = api_key.trim();
        check_api_key(api_key)?;
        let account = self.find_account(account_id).await?;
        let environment = match environment {
            Some(env) => env,
            None => self
                .app
                .default_environment()
                .await
                .unwrap_or(Environment::Production),
        };
        let (company, user) = self.gateway.identify(environment, api_key).await?;
        let company = company.map_err(|e| match e {
            dialpad::ApiError::Status { status: 401 | 403, .. } => Error::InvalidCredentials(format!(
                "Dialpad ({environment}) refused this API key; check that it is a valid, company-level key for that environment"
            )),
            other => Error::from(other),
        })?;
        let user_id = user.ok().map(|u| u.id);
        let now = Timestamp::now();
        let version = account.connection.as_ref().map_or(0, |c| c.token_version);
        let mut record = ConnectionRecord::empty(
            account_id.clone(),
            environment,
            AuthType::ApiKey,
            ConnectionStatus::Connected,
            now,
        );
        record.dialpad_company_id = Some(company.id);
        record.dialpad_user_id = user_id;
        record.connected_at = Some(now);
        record.api_key = Some(self.shared.seal(api_key));
        record.token_version = version + 1;
        self.connections.put_connection(&record).await?;
        self.shared.connection_changed(account_id).await;
        self.place_in_shard(account_id, record.dialpad_company_id.as_deref())
            .await?;
        tracing::info!(account_id = %account_id, %environment, "account connected with an API key");
        self.vendor_webhooks.emit_connection_created(&record).await;
        self.provisioning.sync(account_id).await;
        self.account(account_id).await
    }

    /// Calls `GET /api/v2/company` with the account's credentials.
    pub async fn check_connection(&self, account_id: &AccountId) -> Result<CompanyCheck> {
        self.find_account(account_id).await?;
        let request = dialpad::RawRequest {
            method: reqwest::Method::GET,
            path: "api/v2/company".into(),
            query: Vec::new(),
            body: None,
        };
        let response = self
            .gateway
            .send_operation(account_id, "company.get", &request)
            .await?;
        let company: dialpad::Company =
            serde_json::from_value(success_body(response)?).map_err(|e| {
                Error::Internal(format!("Dialpad's company answer was not understood: {e}"))
            })?;
        Ok(CompanyCheck {
            ok: true,
            dialpad_company_id: company.id,
            dialpad_company_name: company.name,
        })
    }

    /// Revokes the grant at Dialpad (best effort), wipes the secrets, status `disconnected`.
    pub async fn disconnect(&self, account_id: &AccountId) -> Result<AccountView> {
        let account = self.find_account(account_id).await?;
        let Some(connection) = account.connection else {
            return Err(Error::NotConnected(account_id.clone()));
        };
        self.remove_dialpad_webhook(account_id).await;
        self.revoke(&connection).await;
        let mut record = ConnectionRecord::empty(
            account_id.clone(),
            connection.environment,
            connection.auth_type,
            ConnectionStatus::Disconnected,
            Timestamp::now(),
        );
        record.dialpad_company_id = connection.dialpad_company_id;
        record.dialpad_user_id = connection.dialpad_user_id;
        record.token_version = connection.token_version + 1;
        self.connections.put_connection(&record).await?;
        self.shared.connection_changed(account_id).await;
        tracing::info!(account_id = %account_id, "account disconnected");
        self.vendor_webhooks
            .emit_connection_deleted(&record, connection.status)
            .await;
        self.account(account_id).await
    }

    /// Disconnects (if connected) and deletes the account.
    pub async fn delete_account(&self, account_id: &AccountId) -> Result<()> {
        let account = self.find_account(account_id).await?;
        if let Some(connection) = &account.connection {
            self.remove_dialpad_webhook(account_id).await;
            self.revoke(connection).await;
        }
        self.accounts.delete_account(account_id).await?;
        self.shared.config_changed().await;
        tracing::info!(account_id = %account_id, "account deleted");
        if let Some(connection) = &account.connection {
            self.vendor_webhooks
                .emit_connection_deleted(connection, connection.status)
                .await;
        }
        Ok(())
    }

    /// Removes the webhook and subscriptions dialbridge made at Dialpad (before the
    /// credentials go); failures are logged, the local record goes either way.
    async fn remove_dialpad_webhook(&self, account_id: &AccountId) {
        if let Err(e) = self.provisioning.remove(account_id).await {
            tracing::warn!(account_id = %account_id, "removing the Dialpad webhook failed: {e}");
        }
    }

    /// Deauthorizes an OAuth grant at Dialpad. Failures are logged, never fatal: the secrets
    /// are wiped either way.
    async fn revoke(&self, connection: &ConnectionRecord) {
        if connection.auth_type != AuthType::Oauth
            || connection.status != ConnectionStatus::Connected
        {
            return;
        }
        let account_id = &connection.account_id;
        let result = async {
            let credential = self.tokens.credential(account_id).await?;
            let app = self.app.oauth_app(connection.environment).await?;
            app.deauthorize(credential.token.expose())
                .await
                .map_err(|e| Error::DialpadUnavailable(e.to_string()))
        }
        .await;
        match result {
            Ok(()) => tracing::info!(account_id = %account_id, "grant revoked at Dialpad"),
            Err(e) => {
                tracing::warn!(account_id = %account_id, "could not revoke the grant at Dialpad: {e}")
            }
        }
    }

    /// Deauthorizes the grant of a connection a new consent replaced, with the tokens it held
    /// (refreshed once if its access token is no longer live), so that no refresh token stays
    /// usable at Dialpad once dialbridge no longer holds it. Best effort, like `revoke`.
    pub(crate) async fn revoke_replaced(&self, previous: &ConnectionRecord) {
        if previous.auth_type != AuthType::Oauth || previous.status != ConnectionStatus::Connected {
            return;
        }
        let account_id = &previous.account_id;
        let result = async {
            let app = self.app.oauth_app(previous.environment).await?;
            let refused = |e: dialpad::OAuthError| Error::DialpadUnavailable(e.to_string());
            let access = previous.access_token.as_ref().map(|s| self.shared.open(s));
            if let Some(access) = access.transpose()? {
                if app.deauthorize(access.expose()).await.is_ok() {
                    return Ok(());
                }
            }
            let Some(refresh) = &previous.refresh_token else {
                return Err(Error::Internal(
                    "its access token is not live and it had no refresh token".into(),
                ));
            };
            let tokens = app
                .refresh(self.shared.open(refresh)?.expose())
                .await
                .map_err(refused)?;
            app.deauthorize(&tokens.access_token).await.map_err(refused)
        }
        .await;
        match result {
            Ok(()) => {
                tracing::info!(account_id = %account_id, "the replaced grant was revoked at Dialpad")
            }
            Err(e) => {
                tracing::warn!(account_id = %account_id, "could not revoke the replaced grant at Dialpad: {e}")
            }
        }
    }

    /// The Dialpad company and user behind a credential, best effort: `/company` needs a
    /// company admin, `/users/me` a user-level token.
    pub(crate) async fn identify(
        &self,
        environment: Environment,
        token: &str,
    ) -> Result<(Option<String>, Option<String>)> {
        let (company, user) = self.gateway.identify(environment, token).await?;
        if let Err(e) = &company {
            tracing::warn!("could not read the Dialpad company: {e}");
        }
        // The same company the gateway counted the two requests against.
        let company_id = company_of(&company, &user);
        Ok((company_id, user.ok().map(|u| u.id)))
    }
}

/// The longest API key accepted; Dialpad's are far shorter.
const MAX_API_KEY_CHARS: usize = 1024;

/// A Dialpad API key is one token of visible ASCII (letters, digits, punctuation): anything
/// else cannot travel in an `Authorization` header, or is a paste gone wrong. Says what is
/// wrong and where, so the customer can fix it.
fn check_api_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("api_key", "is required"));
    }
    if key.chars().count() > MAX_API_KEY_CHARS {
        return Err(Error::invalid(
            "api_key",
            format!(
                "is longer than {MAX_API_KEY_CHARS} characters; a Dialpad API key is much shorter"
            ),
        ));
    }
    let Some((index, c)) = key.char_indices().find(|(_, c)| !c.is_ascii_graphic()) else {
        return Ok(());
    };
    let position = key[..index].chars().count() + 1;
    let what = match c {
        ' ' => "a space".to_owned(),
        c if c.is_control() => format!("a control character (U+{:04X})", u32::from(c)),
        c if c.is_whitespace() => format!("a blank character (U+{:04X})", u32::from(c)),
        c => format!("the character '{c}' (U+{:04X})", u32::from(c)),
    };
    Err(Error::invalid(
        "api_key",
        format!(
            "holds {what} at position {position}; a Dialpad API key is letters, digits and punctuation only — copy it again from Dialpad"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::check_api_key;

    #[test]
    fn api_keys_are_visible_ascii_and_the_message_says_what_is_wrong() {
        assert!(check_api_key("dp_Ab3-xyz.42~_=+/").is_ok());
        let message = |key: &str| match check_api_key(key) {
            Err(crate::Error::InvalidInput(problems)) => {
                assert_eq!(problems[0].field, "api_key");
                problems[0].message.clone()
            }
            other => panic!("{key:?}: {other:?}"),
        };
        assert!(message("").contains("is required"));
        assert!(message("ab\u{7}cd").contains("a control character (U+0007) at position 3"));
        assert!(message("ab\ncd").contains("a control character (U+000A) at position 3"));
        assert!(message("ab cd").contains("a space at position 3"));
        assert!(message("cl\u{e9}").contains("the character 'é' (U+00E9) at position 3"));
        assert!(message("k\u{a0}").contains("a blank character (U+00A0)"));
        assert!(message(&"k".repeat(1025)).contains("longer than 1024"));
    }
}
