//! Account operations and the account view: the connection without secrets, plus the app
//! scopes the connection lacks (it must reconnect to get them).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde::Serialize;

use super::model::{Account, AccountPatch, AuthType, ConnectionRecord, ConnectionStatus};
use super::Connections;
use crate::app::scopes::ScopeSelection;
use crate::app::Environment;
use crate::cluster::{shard_key, shard_of};
use crate::error::{Error, Resource, Result};
use crate::events::ProvisioningView;
use crate::ids::AccountId;
use crate::paging::{cut_page, given, page_size};
use crate::time::Timestamp;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountView {
    pub account_id: AccountId,
    pub name: Option<String>,
    #[schema(value_type = Object)]
    pub metadata: serde_json::Map<String, serde_json::Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub connection: Option<ConnectionView>,
    /// The Dialpad webhook and subscriptions dialbridge keeps for the account's enabled
    /// workflows, with the last provisioning error (shown when one account is read).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dialpad_events: Option<ProvisioningView>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ConnectionView {
    pub status: ConnectionStatus,
    pub environment: Environment,
    pub auth_type: AuthType,
    pub scopes: Vec<String>,
    /// App scopes this connection was not granted: reconnect to get them.
    pub missing_scopes: Vec<String>,
    pub dialpad_user_id: Option<String>,
    pub dialpad_company_id: Option<String>,
    pub connected_at: Option<Timestamp>,
    pub expires_at: Option<Timestamp>,
    pub last_error: Option<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AccountPage {
    pub items: Vec<AccountView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

impl Connections {
    pub async fn put_account(
        &self,
        id: &AccountId,
        patch: AccountPatch,
    ) -> Result<(AccountView, bool)> {
        patch.validate()?;
        let shard = shard_of(&shard_key(id.as_str(), None));
        let (account, created) = self
            .accounts
            .upsert_account(id, &patch, shard, Timestamp::now())
            .await?;
        self.shared.config_changed().await;
        Ok((self.view(account).await?, created))
    }

    /// Gives accounts written before shards existed their shard; answers how many.
    pub async fn assign_missing_shards(&self) -> Result<usize> {
        let mut assigned = 0;
        loop {
            let missing = self.accounts.accounts_without_shard(500).await?;
            if missing.is_empty() {
                break;
            }
            for (id, company) in missing {
                let shard = shard_of(&shard_key(id.as_str(), company.as_deref()));
                self.accounts.set_account_shard(&id, shard).await?;
                assigned += 1;
            }
        }
        if assigned > 0 {
            self.shared.config_changed().await;
        }
        Ok(assigned)
    }

    /// Puts the account in the shard of its Dialpad company, now that it is known (its
    /// unfinished executions move with it).
    pub(crate) async fn place_in_shard(&self, id: &AccountId, company: Option<&str>) -> Result<()> {
        let shard = shard_of(&shard_key(id.as_str(), company));
        let current = self.accounts.get_account(id).await?.map(|a| a.shard);
        if current.is_some_and(|current| current != shard) {
            self.accounts.set_account_shard(id, shard).await?;
            self.shared.config_changed().await;
            tracing::info!(account_id = %id, shard, "account moved to its company's shard");
        }
        Ok(())
    }

    pub async fn account(&self, id: &AccountId) -> Result<AccountView> {
        let account = self.find_account(id).await?;
        self.view(account).await
    }

    pub async fn accounts(&self, cursor: Option<&str>, limit: Option<u32>) -> Result<AccountPage> {
        let limit = page_size(limit)?;
        let after = given(cursor).map(decode_cursor).transpose()?;
        // One extra row tells whether another page exists.
        let mut accounts = self
            .accounts
            .list_accounts(after.as_ref(), limit + 1)
            .await?;
        let cursor = cut_page(&mut accounts, limit, |a| {
            URL_SAFE_NO_PAD.encode(a.account_id.as_str())
        });
        let selection = self.app.scope_selection().await?;
        let items = accounts
            .into_iter()
            .map(|a| account_view(a, &selection))
            .collect();
        Ok(AccountPage { items, cursor })
    }

    pub(crate) async fn find_account(&self, id: &AccountId) -> Result<Account> {
        self.accounts
            .get_account(id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Account, id.as_str()))
    }

    pub(crate) async fn view(&self, account: Account) -> Result<AccountView> {
        let provisioning = self.provisioning.view(&account.account_id).await?;
        let mut view = account_view(account, &self.app.scope_selection().await?);
        view.dialpad_events = provisioning;
        Ok(view)
    }
}

fn decode_cursor(cursor: &str) -> Result<AccountId> {
    URL_SAFE_NO_PAD
        .decode(cursor)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .and_then(|id| AccountId::parse(&id).ok())
        .ok_or_else(|| Error::invalid("cursor", "is not a cursor this API returned"))
}

fn account_view(account: Account, selection: &ScopeSelection) -> AccountView {
    AccountView {
        account_id: account.account_id,
        name: account.name,
        metadata: account.metadata,
        created_at: account.created_at,
        updated_at: account.updated_at,
        connection: account.connection.map(|c| connection_view(c, selection)),
        dialpad_events: None,
    }
}

fn connection_view(c: ConnectionRecord, selection: &ScopeSelection) -> ConnectionView {
    let missing_scopes = match (c.auth_type, c.status) {
        (AuthType::Oauth, ConnectionStatus::Connected | ConnectionStatus::ReauthRequired) => {
            selection
                .effective()
                .into_iter()
                .filter(|s| !c.scopes.contains(s))
                .collect()
        }
        _ => Vec::new(),
    };
    ConnectionView {
        status: c.status,
        environment: c.environment,
        auth_type: c.auth_type,
        scopes: c.scopes,
        missing_scopes,
        dialpad_user_id: c.dialpad_user_id,
        dialpad_company_id: c.dialpad_company_id,
        connected_at: c.connected_at,
        expires_at: c.expires_at,
        last_error: c.last_error,
    }
}
