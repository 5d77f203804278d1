//! What came in: the stored events (Dialpad deliveries, the vendor's events, schedule ticks and
//! API runs), newest first, each with the executions it started. Only what is stored is shown.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::refusals::{RefusedDeliveries, RefusedDelivery};
use crate::error::Result;
use crate::ids::AccountId;
use crate::paging::{cut_page, id_cursor, page_size};
use crate::store::{EventRecord, ExecutionStore};
use crate::time::Timestamp;

/// One stored event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventView {
    pub id: String,
    pub account_id: AccountId,
    /// `dialpad` (a webhook delivery, stored only once its JWT was verified), `vendor`,
    /// `schedule` or `api`.
    pub source: String,
    /// The trigger keys a Dialpad event maps to, or the event's name.
    pub name: String,
    /// The key that recognises a redelivery of it (a redelivery is not stored again).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dedupe_key: Option<String>,
    /// How many times Dialpad delivered it again after it was stored (each answered 200 as a
    /// duplicate, starting nothing).
    pub redeliveries: i64,
    pub payload: Value,
    pub received_at: Timestamp,
    /// The executions it started, in the order they were created.
    pub executions: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EventPage {
    pub items: Vec<EventView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cursor: Option<String>,
}

/// Lists the stored events.
#[derive(Clone)]
pub struct EventHistory {
    pub(crate) executions: Arc<dyn ExecutionStore>,
    pub(crate) refused: RefusedDeliveries,
}

impl EventHistory {
    /// The Dialpad deliveries this process refused lately (never stored), newest first.
    pub fn refused(&self, account: Option<&AccountId>) -> Vec<RefusedDelivery> {
        self.refused.list(account)
    }

    /// Events newest first, only `account`'s when given; `cursor` is the previous page's.
    pub async fn list(
        &self,
        account: Option<&AccountId>,
        cursor: Option<&str>,
        limit: Option<u32>,
    ) -> Result<EventPage> {
        let limit = page_size(limit)?;
        let cursor = id_cursor(cursor, "evt")?;
        let mut rows = self
            .executions
            .list_events(account, cursor, limit + 1)
            .await?;
        let cursor = cut_page(&mut rows, limit, |r| r.id.clone());
        let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
        let mut started: HashMap<String, Vec<String>> = HashMap::new();
        for (event_id, execution_id) in self.executions.executions_of_events(&ids).await? {
            started.entry(event_id).or_default().push(execution_id);
        }
        let redelivered: HashMap<String, i64> = self
            .executions
            .redeliveries_of_events(&ids)
            .await?
            .into_iter()
            .collect();
        let items = rows
            .into_iter()
            .map(|r| {
                let executions = started.remove(&r.id).unwrap_or_default();
                let redeliveries = redelivered.get(&r.id).copied().unwrap_or(0);
                view(r, executions, redeliveries)
            })
            .collect();
        Ok(EventPage { items, cursor })
    }
}

fn view(record: EventRecord, executions: Vec<String>, redeliveries: i64) -> EventView {
    EventView {
        id: record.id,
        account_id: record.account_id,
        source: record.source,
        name: record.name,
        dedupe_key: record.dedupe_key,
        redeliveries,
        payload: record.payload,
        received_at: record.received_at,
        executions,
    }
}
