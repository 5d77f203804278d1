//! Which enabled workflows an event starts. An account's routes — its shard and, per enabled
//! workflow, the latest version's definition and the account's config — are read once and
//! kept in memory (`ConfigCaches`), so routing an event costs no database round trip; the
//! cache is emptied when configuration changes (`Signal::Config`) and expires on its own as a
//! backstop. Trigger keys and params are matched, the trigger's filter evaluated, and one
//! queued execution built per workflow that fires.

use std::sync::Arc;

use serde_json::{json, Value};

use super::{new_execution, Executions};
use crate::error::Result;
use crate::ids::AccountId;
use crate::store::{EventRecord, ExecutionRecord};
use crate::time::Timestamp;
use crate::triggers;
use crate::workflows::{template, Definition};

/// What an event is, for matching triggers.
#[derive(Debug, Clone)]
pub(crate) enum EventKind {
    /// A Dialpad event firing these trigger keys.
    Dialpad { keys: Vec<&'static str> },
    /// The vendor's own event (`POST …/events/{name}`).
    Vendor { name: String },
}

/// An account's routes.
#[derive(Debug)]
pub(crate) struct AccountRoutes {
    pub shard: i64,
    /// The account's name and metadata, as templates see them.
    pub account: Value,
    pub routes: Vec<Route>,
}

/// One enabled workflow of an account: its latest version and the account's config.
#[derive(Debug)]
pub(crate) struct Route {
    pub workflow_key: String,
    pub version: i64,
    pub definition: Arc<Definition>,
    pub config: Value,
}

impl Executions {
    /// The account's routes, from the cache or the store; `None` when it does not exist.
    pub(crate) async fn routes(&self, account: &AccountId) -> Result<Option<Arc<AccountRoutes>>> {
        let caches = self.shared.caches();
        let load = || self.load_routes(account);
        caches.routes.get_or_load(account.clone(), load).await
    }

    async fn load_routes(&self, account: &AccountId) -> Result<Option<Arc<AccountRoutes>>> {
        let Some(found) = self.accounts.get_account(account).await? else {
            return Ok(None);
        };
        let mut routes = Vec::new();
        for enablement in self.workflows.list_enablements(Some(account), None).await? {
            let Some(workflow) = self
                .workflows
                .get_workflow(&enablement.workflow_key, None)
                .await?
            else {
                continue;
            };
            let Some(definition) = self.definition(&workflow.key, workflow.version).await? else {
                continue;
            };
            routes.push(Route {
                workflow_key: workflow.key,
                version: workflow.version,
                definition,
                config: enablement.config,
            });
        }
        let routes = Arc::new(AccountRoutes {
            shard: found.shard,
            account: json!({
                "id": found.account_id,
                "name": found.name,
                "metadata": Value::Object(found.metadata),
            }),
            routes,
        });
        Ok(Some(routes))
    }

    /// A workflow version's definition, parsed once (versions never change).
    pub(crate) async fn definition(
        &self,
        key: &str,
        version: i64,
    ) -> Result<Option<Arc<Definition>>> {
        let caches = self.shared.caches();
        let id = (key.to_owned(), version);
        if let Some(definition) = caches.definitions.get(&id) {
            return Ok(Some(definition));
        }
        let Some(record) = self.workflows.get_workflow(key, Some(version)).await? else {
            return Ok(None);
        };
        match Definition::from_value(&record.definition) {
            Ok(definition) => {
                let definition = Arc::new(definition);
                caches.definitions.insert(id, definition.clone());
                Ok(Some(definition))
            }
            Err(_) => {
                tracing::error!(
                    workflow = key,
                    version,
                    "a stored definition no longer parses"
                );
                Ok(None)
            }
        }
    }

    /// The executions `event` starts for its account: one per route whose trigger it fires
    /// and whose filter passes.
    pub(crate) fn route(
        &self,
        routes: &AccountRoutes,
        event: &EventRecord,
        kind: &EventKind,
        now: Timestamp,
    ) -> Vec<ExecutionRecord> {
        let trigger = match kind {
            EventKind::Dialpad { keys } => {
                json!({ "type": "dialpad", "keys": keys, "event_id": event.id })
            }
            EventKind::Vendor { name } => {
                json!({ "type": "event", "name": name, "event_id": event.id })
            }
        };
        routes
            .routes
            .iter()
            .filter(|route| {
                let spec = &route.definition.trigger;
                let fires = match kind {
                    EventKind::Dialpad { keys } => {
                        keys.contains(&spec.key.as_str())
                            && triggers::params_match(spec, &event.payload)
                    }
                    EventKind::Vendor { name } => triggers::event_name_matches(spec, name),
                };
                fires && passes_filter(route, &event.payload, &routes.account)
            })
            .map(|route| {
                new_execution(
                    &event.account_id,
                    routes.shard,
                    &route.workflow_key,
                    route.version,
                    trigger.clone(),
                    Some(event),
                    now,
                )
            })
            .collect()
    }
}

/// Whether the trigger's filter (if any) passes for this event; a filter that fails to
/// evaluate does not pass, and says why in the log.
pub(crate) fn passes_filter(route: &Route, payload: &Value, account: &Value) -> bool {
    let Some(filter) = &route.definition.trigger.filter else {
        return true;
    };
    let ctx = json!({ "event": payload, "config": route.config, "account": account });
    match template::eval_bool(filter, &Arc::new(ctx)) {
        Ok(pass) => pass,
        Err(e) => {
            tracing::warn!(workflow = %route.workflow_key, "the trigger filter failed, so the workflow does not run: {e}");
            false
        }
    }
}
