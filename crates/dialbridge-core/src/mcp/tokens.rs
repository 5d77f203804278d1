//! MCP tokens: each reaches one account's tools and resources (optionally only the tools it
//! names). A token is shown once, stored as the same SHA-256 hash as admin keys, and looked up
//! on every request, so a revoked one stops working at once in every process.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::Grant;
use crate::admin::check_name;
use crate::crypto::{hash_api_key, random_token};
use crate::error::{Error, FieldError, Resource, Result};
use crate::ids::{new_id, AccountId};
use crate::store::McpTokenRecord;
use crate::time::Timestamp;

/// Generated tokens: `dbm_` and 43 characters of randomness (32 bytes).
const TOKEN_PREFIX: &str = "dbm_";
/// A token names at most this many tools.
const MAX_TOOLS: usize = 100;
/// `last_used_at` is written at most this often per token (it is a hint, not a log).
const LAST_USED_PRECISION: Duration = Duration::from_secs(60);

/// `POST /api/v1/accounts/{account_id}/mcp-tokens`.
#[derive(Debug, Clone, Default, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct McpTokenInput {
    /// Who or what will use the token (up to 64 characters), e.g. `support-agent`.
    pub name: Option<String>,
    /// The only tools the token sees and may call (action keys such as `list_users`, or
    /// `run_workflow_<key>`); leave it out for every tool the account's scopes allow.
    pub tools: Option<Vec<String>>,
}

/// An MCP token as the API lists it: never the token.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct McpTokenView {
    pub id: String,
    pub account_id: AccountId,
    pub name: Option<String>,
    /// The tools it is limited to; `null`: every tool the account's scopes allow.
    pub tools: Option<Vec<String>>,
    pub created_at: Timestamp,
    /// When it was last used, to the minute.
    pub last_used_at: Option<Timestamp>,
}

impl From<McpTokenRecord> for McpTokenView {
    fn from(r: McpTokenRecord) -> Self {
        McpTokenView {
            id: r.id,
            account_id: r.account_id,
            name: r.name,
            tools: r.tools,
            created_at: r.created_at,
            last_used_at: r.last_used_at,
        }
    }
}

/// A token just created, the only time it is shown. (`Debug` leaves the token out.)
#[derive(Clone, Serialize, utoipa::ToSchema)]
pub struct NewMcpToken {
    pub id: String,
    /// Send it as `Authorization: Bearer <token>` to `/mcp`. It is not shown again.
    pub token: String,
    pub name: Option<String>,
    pub tools: Option<Vec<String>>,
    pub created_at: Timestamp,
}

impl std::fmt::Debug for NewMcpToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewMcpToken")
            .field("id", &self.id)
            .field("token", &"***")
            .finish()
    }
}

impl super::Mcp {
    /// Creates a token for the account; the answer is the only place the token is shown.
    pub async fn create_token(
        &self,
        account: &AccountId,
        input: McpTokenInput,
    ) -> Result<NewMcpToken> {
        let name = valid_name(input.name)?;
        let tools = input.tools.map(valid_tools).transpose()?;
        self.actions.existing_account(account).await?;
        let token = format!("{TOKEN_PREFIX}{}", random_token(32));
        let record = McpTokenRecord {
            id: new_id("mcp"),
            account_id: account.clone(),
            name,
            token_hash: hash_api_key(&token),
            tools,
            created_at: Timestamp::now(),
            last_used_at: None,
        };
        self.tokens.insert_mcp_token(&record).await?;
        Ok(NewMcpToken {
            id: record.id,
            token,
            name: record.name,
            tools: record.tools,
            created_at: record.created_at,
        })
    }

    /// The account's tokens, oldest first.
    pub async fn tokens(&self, account: &AccountId) -> Result<Vec<McpTokenView>> {
        self.actions.existing_account(account).await?;
        let tokens = self.tokens.list_mcp_tokens(account).await?;
        Ok(tokens.into_iter().map(McpTokenView::from).collect())
    }

    /// Revokes the account's token `id`: the next request that presents it is refused.
    pub async fn revoke_token(&self, account: &AccountId, id: &str) -> Result<()> {
        self.actions.existing_account(account).await?;
        if self.tokens.delete_mcp_token(account, id).await? {
            Ok(())
        } else {
            Err(Error::not_found(Resource::McpToken, id))
        }
    }

    /// What `presented` grants, if it is a token.
    pub async fn authenticate(&self, presented: &str) -> Result<Option<Grant>> {
        let Some(record) = self.tokens.find_mcp_token(&hash_api_key(presented)).await? else {
            return Ok(None);
        };
        let now = Timestamp::now();
        if record
            .last_used_at
            .is_none_or(|at| now.since(at) >= LAST_USED_PRECISION)
        {
            if let Err(e) = self.tokens.touch_mcp_token(&record.id, now).await {
                tracing::warn!(token_id = %record.id, "could not record the token's last use: {e}");
            }
        }
        Ok(Some(Grant {
            account_id: record.account_id,
            tools: record.tools,
        }))
    }
}

fn valid_name(name: Option<String>) -> Result<Option<String>> {
    let Some(name) = name.as_deref().map(str::trim).filter(|n| !n.is_empty()) else {
        return Ok(None);
    };
    check_name(name)?;
    Ok(Some(name.to_owned()))
}

/// Every name must be a tool dialbridge can offer: an action key, or `run_workflow_<key>`
/// (the workflow may be enabled later). Duplicates are dropped; order is kept.
pub(super) fn valid_tools(tools: Vec<String>) -> Result<Vec<String>> {
    if tools.is_empty() {
        return Err(Error::invalid(
            "tools",
            "must name at least one tool; leave it out for every tool",
        ));
    }
    if tools.len() > MAX_TOOLS {
        return Err(Error::invalid(
            "tools",
            format!("must name at most {MAX_TOOLS} tools"),
        ));
    }
    let mut problems = Vec::new();
    let mut kept: Vec<String> = Vec::new();
    for (i, tool) in tools.into_iter().enumerate() {
        match super::tools::check_tool_name(&tool) {
            Ok(()) if !kept.contains(&tool) => kept.push(tool),
            Ok(()) => {}
            Err(message) => problems.push(FieldError::new(format!("tools[{i}]"), message)),
        }
    }
    if problems.is_empty() {
        Ok(kept)
    } else {
        Err(Error::InvalidInput(problems))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tool_lists_name_known_tools_once() {
        let tools = valid_tools(vec![
            "list_users".into(),
            "run_workflow_missed-call".into(),
            "list_users".into(),
        ])
        .unwrap();
        assert_eq!(tools, ["list_users", "run_workflow_missed-call"]);
        let Err(Error::InvalidInput(problems)) =
            valid_tools(vec!["list_user".into(), "run_workflow_".into()])
        else {
            panic!("unknown tools are refused")
        };
        assert_eq!(problems[0].field, "tools[0]");
        assert!(
            problems[0].message.contains("did you mean 'list_users'"),
            "{problems:?}"
        );
        assert_eq!(problems[1].field, "tools[1]");
        assert!(valid_tools(Vec::new()).is_err());
    }

    #[test]
    fn names_are_optional_and_checked() {
        assert_eq!(valid_name(None).unwrap(), None);
        assert_eq!(valid_name(Some("  ".into())).unwrap(), None);
        assert_eq!(
            valid_name(Some(" agent ".into())).unwrap().as_deref(),
            Some("agent")
        );
        assert!(valid_name(Some("a\nb".into())).is_err());
        assert!(valid_name(Some("x".repeat(65))).is_err());
    }
}
