//! The Model Context Protocol's view of dialbridge, free of the protocol's wire: what a grant
//! (an MCP token, or the stdio command) reaches — one account's tools (`tools.rs`) and
//! resources (`resources.rs`) — and the tokens themselves (`tokens.rs`). The server crate
//! speaks MCP (rmcp) and maps these to the protocol's types.

mod resources;
mod tokens;
mod tools;

use std::sync::Arc;

use crate::actions::Actions;
use crate::executions::Executions;
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::store::{McpTokenStore, WorkflowStore};

pub use resources::ResourceInfo;
pub use tokens::{McpTokenInput, McpTokenView, NewMcpToken};
pub use tools::{Hints, ToolInfo, MAX_LIST_ITEMS, WORKFLOW_TOOL_PREFIX};

/// What an MCP client may reach: one account, and optionally only some tools.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub account_id: AccountId,
    /// The only tools it sees and may call; `None`: every tool the account's scopes allow.
    pub tools: Option<Vec<String>>,
}

impl Grant {
    /// Every tool of the account (the stdio command: whoever runs it holds the database).
    pub fn account(account_id: AccountId) -> Self {
        Grant {
            account_id,
            tools: None,
        }
    }

    /// Whether the grant covers the tool `name` (scopes aside).
    pub fn allows(&self, name: &str) -> bool {
        self.tools
            .as_ref()
            .is_none_or(|tools| tools.iter().any(|t| t == name))
    }
}

/// MCP tokens, and the tools and resources of an account.
#[derive(Clone)]
pub struct Mcp {
    pub(crate) tokens: Arc<dyn McpTokenStore>,
    pub(crate) workflows: Arc<dyn WorkflowStore>,
    pub(crate) actions: Actions,
    pub(crate) executions: Executions,
    pub(crate) shared: Shared,
}

impl Mcp {
    /// A grant as a command line gives it: its account must exist and its tools be tools.
    pub async fn check_grant(&self, grant: Grant) -> crate::error::Result<Grant> {
        self.actions.existing_account(&grant.account_id).await?;
        let tools = grant.tools.map(tokens::valid_tools).transpose()?;
        Ok(Grant { tools, ..grant })
    }
}
