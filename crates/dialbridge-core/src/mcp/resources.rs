//! The account's Dialpad as MCP resources, read-only context a client attaches without a tool
//! call: the company, its users and its recent calls, each read through `Actions::run` like the
//! tools. URIs name the account (`dialbridge://accounts/{account_id}/users`), and a grant reads
//! only its own; a token narrowed by `tools` reads users and calls only with `list_users` and
//! `list_calls`.

use serde_json::{json, Value};

use super::{Grant, Mcp};
use crate::actions;
use crate::error::{Error, Resource, Result};

const SCHEME: &str = "dialbridge://accounts/";
/// How many users and calls a resource holds.
const USERS: u64 = 100;
const CALLS: u64 = 20;

/// One resource as a client sees it; its contents are JSON.
#[derive(Debug, Clone)]
pub struct ResourceInfo {
    pub uri: String,
    pub name: &'static str,
    pub title: &'static str,
    pub description: &'static str,
}

/// The three kinds: what each is, and the tool a narrowed token needs to read it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Company,
    Users,
    Calls,
}

impl Kind {
    const ALL: [Kind; 3] = [Kind::Company, Kind::Users, Kind::Calls];

    fn name(self) -> &'static str {
        match self {
            Kind::Company => "company",
            Kind::Users => "users",
            Kind::Calls => "calls",
        }
    }

    fn info(self, account: &str) -> ResourceInfo {
        let (title, description) = match self {
            Kind::Company => (
                "Company",
                "The Dialpad company this account connected: name, country, domain, plan.",
            ),
            Kind::Users => (
                "Users",
                "The company's users (the first 100): ids, names, emails, phone numbers, states.",
            ),
            Kind::Calls => (
                "Recent calls",
                "The company's 20 most recent calls: direction, numbers, target, duration, state.",
            ),
        };
        ResourceInfo {
            uri: format!("{SCHEME}{account}/{}", self.name()),
            name: self.name(),
            title,
            description,
        }
    }

    /// The action a read runs, which a narrowed token must name (the company: none).
    fn action(self) -> &'static str {
        match self {
            Kind::Company => "http_request",
            Kind::Users => "list_users",
            Kind::Calls => "list_calls",
        }
    }

    fn input(self) -> Value {
        match self {
            Kind::Company => json!({ "method": "GET", "path": "/api/v2/company" }),
            Kind::Users => json!({ "limit": USERS }),
            Kind::Calls => json!({ "limit": CALLS }),
        }
    }
}

impl Mcp {
    /// The resources the grant may read: those the connection's scopes and the token allow.
    pub async fn resources(&self, grant: &Grant) -> Result<Vec<ResourceInfo>> {
        let account = self.actions.existing_account(&grant.account_id).await?;
        let mut kinds = Vec::new();
        for kind in Kind::ALL {
            let action = actions::require_action(kind.action())?;
            let allowed = kind == Kind::Company || grant.allows(action.key);
            if allowed && actions::scopes_allow(&account, &action.required_scopes) {
                kinds.push(kind.info(grant.account_id.as_str()));
            }
        }
        Ok(kinds)
    }

    /// Reads `uri`: Dialpad's JSON for it, now.
    pub async fn read_resource(&self, grant: &Grant, uri: &str) -> Result<Value> {
        let known = self.resources(grant).await?;
        let Some(kind) = Kind::ALL
            .into_iter()
            .find(|k| k.info(grant.account_id.as_str()).uri == uri)
            .filter(|k| known.iter().any(|r| r.name == k.name()))
        else {
            let uris: Vec<&str> = known.iter().map(|r| r.uri.as_str()).collect();
            return Err(Error::unknown(Resource::McpResource, uri, &uris));
        };
        let output = self
            .actions
            .run(&grant.account_id, kind.action(), &kind.input())
            .await?;
        if kind != Kind::Company {
            return Ok(output);
        }
        // `http_request` answers Dialpad's status as data; a resource is the body or an error.
        let status = output["status"].as_u64().unwrap_or(0);
        let body = output["body"].clone();
        if (200..300).contains(&status) {
            Ok(body)
        } else {
            Err(Error::dialpad_answered(status as u16, body))
        }
    }
}
