//! Actions: the Dialpad operations a vendor runs on behalf of a connected account, by key —
//! from the admin API, the CLI and workflow steps, all through `Actions::run`; and the proxy
//! (`proxy.rs`), which passes any documented operation through. The catalog is in
//! `catalog.rs`, input checking in `input.rs` and `http_request.rs`; how requests reach Dialpad
//! (throttle, retries, token refresh) is the gateway's business.

mod catalog;
mod http_request;
mod input;
mod proxy;

use std::sync::Arc;

use dialpad::RawRequest;
use dialpad_spec::Operation;
use serde::Serialize;
use serde_json::{json, Value};

pub use proxy::ProxyRequest;

use crate::connections::{Account, AuthType};
use crate::error::{Error, Resource, Result};
use crate::gateway::{self, Gateway};
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::store::AccountStore;
use catalog::ActionDef;
use http_request::check_path;
use input::Paging;

/// An action as `GET /api/v1/actions` shows it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ActionInfo {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The Dialpad operation (`method`, `path`, `operation_id`); absent for `http_request`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub operation: Option<Value>,
    /// OAuth scopes the connection must have been granted (beyond the default access).
    pub required_scopes: Vec<String>,
    /// JSON Schema of the input: path, query and body fields side by side.
    #[schema(value_type = Object)]
    pub input_schema: Value,
}

/// One action of the catalog, or `not_found` naming the closest key.
pub fn require_action(key: &str) -> Result<ActionInfo> {
    action(key).ok_or_else(|| unknown_action(key))
}

/// Not found: `key` is no action of the catalog (the closest is suggested).
fn unknown_action(key: &str) -> Error {
    let keys: Vec<&str> = catalog::ACTIONS.iter().map(|a| a.key).collect();
    Error::unknown(Resource::Action, key, &keys)
}

/// Every action of the catalog.
pub fn catalog() -> Vec<ActionInfo> {
    catalog::ACTIONS.iter().map(info).collect()
}

/// One action of the catalog.
pub fn action(key: &str) -> Option<ActionInfo> {
    catalog::find(key).map(info)
}

fn info(def: &ActionDef) -> ActionInfo {
    match def
        .operation_id
        .and_then(|id| dialpad_spec::spec().operation(id))
    {
        Some(operation) => ActionInfo {
            key: def.key,
            name: def.name,
            description: def.description,
            operation: Some(json!({
                "operation_id": operation.id,
                "method": operation.method,
                "path": operation.path,
            })),
            required_scopes: operation.scopes.clone(),
            input_schema: input::schema(def, operation),
        },
        None => ActionInfo {
            key: def.key,
            name: def.name,
            description: def.description,
            operation: None,
            required_scopes: Vec::new(),
            input_schema: http_request::schema(),
        },
    }
}

/// An action's input checked and turned into the request Dialpad receives.
struct PreparedAction {
    def: &'static ActionDef,
    request: RawRequest,
    operation: &'static Operation,
    paging: Option<Paging>,
}

/// Checks `input` against the action `key`'s schema (`not_found` for an unknown key, 422
/// `invalid_input` naming every problem) and builds its request.
fn prepare(key: &str, input: &Value) -> Result<PreparedAction> {
    let def = catalog::find(key).ok_or_else(|| unknown_action(key))?;
    let (request, operation, paging) = match def.operation_id {
        Some(id) => {
            let operation = dialpad_spec::spec()
                .operation(id)
                .ok_or_else(|| Error::Internal(format!("the spec lacks {id}")))?;
            let prepared = input::prepare(def, operation, input).map_err(Error::InvalidInput)?;
            (prepared.request, operation, prepared.paging)
        }
        None => {
            let (request, operation) = http_request::prepare(input).map_err(Error::InvalidInput)?;
            (request, operation, None)
        }
    };
    Ok(PreparedAction {
        def,
        request,
        operation,
        paging,
    })
}

/// Checks an action's input as `Actions::run` does before it calls Dialpad, without calling it:
/// the fuzz targets (`crates/dialbridge-fuzz`) drive the catalog's input schemas through it.
pub fn check_action_input(key: &str, input: &Value) -> Result<()> {
    prepare(key, input).map(|_| ())
}

/// Runs actions and proxies requests for connected accounts.
#[derive(Clone)]
pub struct Actions {
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) gateway: Gateway,
    pub(crate) shared: Shared,
}

impl Actions {
    /// Runs the action `key` for the account with `input`: checks that the account exists
    /// (404), the input against the spec (422 with every problem), the connection's scopes
    /// (403), then calls Dialpad and answers its JSON (for `http_request`: `{status, headers,
    /// body}`).
    pub async fn run(&self, account_id: &AccountId, key: &str, input: &Value) -> Result<Value> {
        let result = self.run_unmetered(account_id, key, input).await;
        if catalog::find(key).is_some() {
            let outcome = result.as_ref().map_or_else(Error::code, |_| "ok");
            self.shared.metrics().action(key, outcome);
        }
        result
    }

    async fn run_unmetered(
        &self,
        account_id: &AccountId,
        key: &str,
        input: &Value,
    ) -> Result<Value> {
        let account = self.existing_account(account_id).await?;
        let PreparedAction {
            def,
            request,
            operation,
            paging,
        } = prepare(key, input)?;
        check_scopes(&account, key, &operation.scopes)?;
        if def.operation_id.is_none() {
            let response = self.gateway.send_for(&account, operation, &request).await?;
            let headers: serde_json::Map<String, Value> = response
                .headers
                .iter()
                .map(|(k, v)| (k.clone(), json!(v)))
                .collect();
            return Ok(
                json!({ "status": response.status, "headers": headers, "body": response.body() }),
            );
        }
        match paging {
            Some(Paging {
                all: true,
                max_items,
            }) => {
                self.collect_pages(account_id, operation, request, max_items)
                    .await
            }
            _ => {
                let response = self.gateway.send_for(&account, operation, &request).await?;
                gateway::success_body(response)
            }
        }
    }

    /// Follows cursors until the last page or the page that reaches `max_items`; answers
    /// `{items, cursor?}` (the cursor of the next page when it stopped early).
    async fn collect_pages(
        &self,
        account_id: &AccountId,
        operation: &dialpad_spec::Operation,
        mut request: dialpad::RawRequest,
        max_items: u64,
    ) -> Result<Value> {
        let mut items = Vec::new();
        loop {
            let response = self.gateway.send(account_id, operation, &request).await?;
            let page = gateway::success_body(response)?;
            if let Some(page_items) = page.get("items").and_then(Value::as_array) {
                items.extend(page_items.iter().cloned());
            }
            let cursor = page
                .get("cursor")
                .and_then(Value::as_str)
                .filter(|c| !c.is_empty());
            match cursor {
                Some(cursor) if (items.len() as u64) < max_items => {
                    request.query.retain(|(k, _)| k != "cursor");
                    request.query.push(("cursor".into(), cursor.to_owned()));
                }
                Some(cursor) => return Ok(json!({ "items": items, "cursor": cursor })),
                None => return Ok(json!({ "items": items })),
            }
        }
    }

    /// The account with its connection, or `not_found` (an unknown account is not a
    /// connection problem): from this process's cache, which forgets it whenever its
    /// connection changes (see `Shared::connection_changed`), or the store.
    pub(crate) async fn existing_account(&self, account_id: &AccountId) -> Result<Arc<Account>> {
        let load =
            || async { Ok::<_, Error>(self.accounts.get_account(account_id).await?.map(Arc::new)) };
        let cache = &self.shared.caches().accounts;
        cache
            .get_or_load(account_id.clone(), load)
            .await?
            .ok_or_else(|| Error::not_found(Resource::Account, account_id.as_str()))
    }
}

/// Whether the account's connection may run an operation needing `scopes` (what the MCP
/// tools list shows).
pub(crate) fn scopes_allow(account: &Account, scopes: &[String]) -> bool {
    check_scopes(account, "", scopes).is_ok()
}

/// OAuth connections must have been granted the operation's scopes; API keys reach what
/// their company or user may.
fn check_scopes(account: &Account, key: &str, scopes: &[String]) -> Result<()> {
    if scopes.is_empty() {
        return Ok(());
    }
    let connection = account
        .connection
        .as_ref()
        .ok_or_else(|| Error::NotConnected(account.account_id.clone()))?;
    if connection.auth_type == AuthType::ApiKey {
        return Ok(());
    }
    match scopes.iter().find(|s| !connection.scopes.contains(s)) {
        Some(missing) => Err(Error::MissingScope {
            action: key.to_owned(),
            scope: missing.clone(),
        }),
        None => Ok(()),
    }
}
