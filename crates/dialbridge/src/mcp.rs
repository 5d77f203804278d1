//! `dialbridge mcp --account <id>`: one account's Dialpad as MCP tools and resources over
//! stdin and stdout, for a desktop agent that starts it. It opens the database the servers use
//! (with the same flags and environment as `serve`) and serves no HTTP and no background work:
//! workflow runs it starts are run by the servers. Logs go to stderr; stdout is the protocol's.

use clap::Args;
use dialbridge_core::{AccountId, Grant};
use dialbridge_server::ServeConfig;

#[derive(Args)]
pub struct McpCommand {
    /// The account whose Dialpad the tools reach (the vendor's id for its customer).
    #[arg(long)]
    account: String,
    /// Only these tools, comma-separated (e.g. `list_users,list_calls`); default: every tool
    /// the account's connection allows.
    #[arg(long, value_delimiter = ',')]
    tools: Vec<String>,
    /// The server's configuration: its database and master key above all.
    #[command(flatten)]
    config: ServeConfig,
}

pub async fn run(command: McpCommand) -> Result<(), String> {
    let account = AccountId::parse(&command.account).map_err(|e| format!("--account: {e}"))?;
    let platform = dialbridge_server::platform_of(&command.config)
        .await
        .map_err(|e| e.to_string())?;
    // Fail before the client's handshake when the account or a tool name is wrong.
    let tools = (!command.tools.is_empty()).then_some(command.tools);
    let grant = platform
        .mcp
        .check_grant(Grant {
            account_id: account,
            tools,
        })
        .await
        .map_err(|e| e.to_string())?;
    dialbridge_server::serve_stdio(platform, grant).await
}
