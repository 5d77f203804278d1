//! The audit log of admin changes: who made each one (the admin API key's id and name, or the
//! command line), what it was (an action such as `app.credentials.put`, a target such as
//! `environment/custom`, and a short summary), and when. A summary never holds a secret:
//! fields named like one are dropped here, whatever the caller passed.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Map, Value};

use crate::admin::AdminIdentity;
use crate::error::Result;
use crate::ids::new_id;
use crate::paging::{cut_page, id_cursor, page_size};
use crate::store::{AuditRecord, AuditStore};
use crate::time::Timestamp;

/// Field names a summary never keeps, as parts of the name.
const SECRET_NAMES: &[&str] = &["secret", "token", "password", "verifier", "api_key"];

/// Who made a change.
#[derive(Debug, Clone)]
pub enum Actor {
    /// A request authenticated with this admin API key.
    Key(AdminIdentity),
    /// A command run against the database (`dialbridge rotate-master-key`).
    CommandLine,
}

/// What a change was: `action` (`workflow.put`), `target` (`workflow/missed-call`) and a
/// small JSON object saying what changed (`{"version": 2}`).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    pub action: String,
    pub target: String,
    pub summary: Value,
}

impl Change {
    pub fn new(action: impl Into<String>, target: impl Into<String>, summary: Value) -> Self {
        Change {
            action: action.into(),
            target: target.into(),
            summary,
        }
    }
}

/// One entry of `GET /api/v1/audit-log`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntryView {
    pub id: String,
    /// When the change was made.
    pub at: Timestamp,
    /// `api` (through the admin API) or `cli` (a command run against the database).
    #[schema(example = "api")]
    pub source: String,
    /// The admin API key that made it (`null` for `cli`).
    pub key_id: Option<String>,
    /// That key's name when it made the change.
    pub key_name: Option<String>,
    /// What was done, e.g. `app.credentials.put`, `workflow.delete`, `admin_key.create`.
    #[schema(example = "app.credentials.put")]
    pub action: String,
    /// What it was done to, e.g. `environment/custom`, `account/acme`.
    #[schema(example = "environment/custom")]
    pub target: String,
    /// What changed, in a few fields; never a secret.
    #[schema(value_type = Object)]
    pub summary: Value,
}

/// A page of the audit log, newest first.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<AuditEntryView>,
    /// Pass it back as `cursor` for the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

#[derive(Clone)]
pub struct Audit {
    pub(crate) records: Arc<dyn AuditStore>,
}

impl Audit {
    /// Records a change that was made.
    pub async fn record(&self, actor: &Actor, change: Change) -> Result<()> {
        let record = record_of(actor, change, Timestamp::now());
        self.records.insert_audit_record(&record).await?;
        Ok(())
    }

    /// The log, newest first, a page at a time.
    pub async fn list(&self, cursor: Option<&str>, limit: Option<u32>) -> Result<AuditPage> {
        let limit = page_size(limit)?;
        let cursor = id_cursor(cursor, "aud")?;
        let mut rows = self.records.list_audit_records(cursor, limit + 1).await?;
        let cursor = cut_page(&mut rows, limit, |r| r.id.clone());
        Ok(AuditPage {
            items: rows.into_iter().map(view).collect(),
            cursor,
        })
    }
}

/// The stored form of a change, its summary stripped of secrets.
pub(crate) fn record_of(actor: &Actor, change: Change, at: Timestamp) -> AuditRecord {
    let (source, key) = match actor {
        Actor::Key(identity) => ("api", Some(identity)),
        Actor::CommandLine => ("cli", None),
    };
    AuditRecord {
        id: new_id("aud"),
        at,
        source: source.to_owned(),
        key_id: key.map(|k| k.key_id.clone()),
        key_name: key.map(|k| k.key_name.clone()),
        action: change.action,
        target: change.target,
        summary: without_secrets(change.summary),
    }
}

fn view(r: AuditRecord) -> AuditEntryView {
    AuditEntryView {
        id: r.id,
        at: r.at,
        source: r.source,
        key_id: r.key_id,
        key_name: r.key_name,
        action: r.action,
        target: r.target,
        summary: r.summary,
    }
}

/// `value` without the fields (at any depth) whose names say they hold a secret.
fn without_secrets(value: Value) -> Value {
    match value {
        Value::Object(fields) => Value::Object(
            fields
                .into_iter()
                .filter(|(name, _)| !is_secret_name(name))
                .map(|(name, value)| (name, without_secrets(value)))
                .collect::<Map<_, _>>(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_secrets).collect()),
        other => other,
    }
}

fn is_secret_name(name: &str) -> bool {
    let name = name.to_ascii_lowercase();
    name == "key" || SECRET_NAMES.iter().any(|part| name.contains(part))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn summaries_lose_fields_named_like_secrets_at_any_depth() {
        let summary = json!({
            "client_id": "cid", "client_secret": "s", "key": "dbk_x", "name": "ops",
            "connection": {"api_key": "k", "environment": "custom", "access_token": "t"},
            "items": [{"refresh_token": "r", "url": "https://x"}],
        });
        assert_eq!(
            without_secrets(summary),
            json!({
                "client_id": "cid", "name": "ops",
                "connection": {"environment": "custom"},
                "items": [{"url": "https://x"}],
            })
        );
    }
}
