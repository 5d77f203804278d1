//! Prometheus metrics (`GET /metrics`): what an operator watches — requests to dialbridge and
//! to Dialpad, actions, Dialpad events, executions, token refreshes. Labels never carry account
//! ids or anything secret, so the series stay few and the page is safe to scrape.

use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// The route template (`/api/v1/accounts/{account_id}`), never the raw path.
    pub route: String,
    pub method: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DialpadLabels {
    operation: String,
    /// Dialpad's status, or 0 when it could not be reached.
    status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ActionLabels {
    action: String,
    /// `ok` or the error code.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ToolLabels {
    tool: String,
    /// `ok` or the error code.
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EventLabels {
    source: String,
    duplicate: bool,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KindLabels {
    kind: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: String,
}

pub struct Metrics {
    registry: Registry,
    http_requests: Family<HttpLabels, Counter>,
    dialpad_requests: Family<DialpadLabels, Counter>,
    dialpad_seconds: Family<DialpadLabels, Histogram>,
    actions: Family<ActionLabels, Counter>,
    mcp_tool_calls: Family<ToolLabels, Counter>,
    events: Family<EventLabels, Counter>,
    executions: Family<OutcomeLabels, Counter>,
    executions_at_ingest: Counter,
    refreshes: Family<OutcomeLabels, Counter>,
    refresh_lag: Gauge<f64, std::sync::atomic::AtomicU64>,
    purged: Family<KindLabels, Counter>,
    auth_failures: Family<OutcomeLabels, Counter>,
    throttle_late_slots: Counter,
    ingest_batch_events: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::with_prefix("dialbridge");
        let http_requests = Family::<HttpLabels, Counter>::default();
        registry.register(
            "http_requests",
            "Requests served, by route, method and status",
            http_requests.clone(),
        );
        let dialpad_requests = Family::<DialpadLabels, Counter>::default();
        registry.register(
            "dialpad_requests",
            "Requests sent to Dialpad's API, by operation and status (0: unreachable)",
            dialpad_requests.clone(),
        );
        let dialpad_seconds = Family::<DialpadLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.005, 2.0, 12))
        });
        registry.register(
            "dialpad_request_seconds",
            "Time Dialpad took to answer",
            dialpad_seconds.clone(),
        );
        let actions = Family::<ActionLabels, Counter>::default();
        registry.register(
            "actions",
            "Actions run, by action and outcome (ok or the error code)",
            actions.clone(),
        );
        let mcp_tool_calls = Family::<ToolLabels, Counter>::default();
        registry.register(
            "mcp_tool_calls",
            "MCP tool calls, by tool (`unknown` for a name that is no tool) and outcome (ok or the error code)",
            mcp_tool_calls.clone(),
        );
        let events = Family::<EventLabels, Counter>::default();
        registry.register(
            "events",
            "Events received, by source and whether they were redeliveries",
            events.clone(),
        );
        let executions = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "executions_finished",
            "Executions finished, by status",
            executions.clone(),
        );
        let executions_at_ingest = Counter::default();
        registry.register(
            "executions_run_at_ingest",
            "Executions of self-contained workflows (set and if steps) that ran to their end before their event's commit, and were stored finished with it",
            executions_at_ingest.clone(),
        );
        let refreshes = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "token_refreshes",
            "OAuth token refreshes, by outcome",
            refreshes.clone(),
        );
        let refresh_lag = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
        registry.register(
            "token_refresh_lag_seconds",
            "How far past its refresh moment the most overdue token of this process's shards is",
            refresh_lag.clone(),
        );
        let auth_failures = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "auth_failures",
            "Admin API keys and MCP tokens refused, by outcome (wrong_key, wrong_mcp_token, or throttled: refused unchecked after too many wrong ones)",
            auth_failures.clone(),
        );
        let purged = Family::<KindLabels, Counter>::default();
        registry.register(
            "retention_purged",
            "History removed past its retention: rows by kind (executions, events, deliveries), and daily partitions dropped (partitions)",
            purged.clone(),
        );
        let throttle_late_slots = Counter::default();
        registry.register(
            "throttle_late_slots",
            "Throttle slots given back because their request could not leave for Dialpad within half the margin (a stalled process, a slow database); each request took another",
            throttle_late_slots.clone(),
        );
        let ingest_batch_events = Histogram::new(exponential_buckets(1.0, 2.0, 10));
        registry.register(
            "ingest_batch_events",
            "Events stored per commit of the event writer (its group commit: events that arrive while a commit runs share the next one)",
            ingest_batch_events.clone(),
        );
        Metrics {
            registry,
            http_requests,
            dialpad_requests,
            dialpad_seconds,
            actions,
            mcp_tool_calls,
            events,
            executions,
            executions_at_ingest,
            refreshes,
            refresh_lag,
            purged,
            auth_failures,
            throttle_late_slots,
            ingest_batch_events,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut text = String::new();
        if let Err(e) = encode(&mut text, &self.registry) {
            tracing::error!("encoding metrics failed: {e}");
        }
        text
    }

    pub fn http_request(&self, labels: HttpLabels) {
        self.http_requests.get_or_create(&labels).inc();
    }

    /// An admin API key or MCP token refused: `wrong_key`, `wrong_mcp_token`, or `throttled`
    /// (unchecked, after too many).
    pub fn auth_failure(&self, outcome: &str) {
        let labels = OutcomeLabels {
            outcome: outcome.to_owned(),
        };
        self.auth_failures.get_or_create(&labels).inc();
    }

    pub(crate) fn dialpad_request(&self, operation: &str, status: Option<u16>, took: Duration) {
        let labels = DialpadLabels {
            operation: operation.to_owned(),
            status: status.unwrap_or(0),
        };
        self.dialpad_requests.get_or_create(&labels).inc();
        self.dialpad_seconds
            .get_or_create(&labels)
            .observe(took.as_secs_f64());
    }

    pub(crate) fn ingest_batch(&self, events: usize) {
        self.ingest_batch_events.observe(events as f64);
    }

    pub(crate) fn throttle_late_slots(&self, slots: u32) {
        self.throttle_late_slots.inc_by(u64::from(slots));
    }

    pub(crate) fn action(&self, action: &str, outcome: &str) {
        let labels = ActionLabels {
            action: action.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.actions.get_or_create(&labels).inc();
    }

    pub(crate) fn mcp_tool_call(&self, tool: &str, outcome: &str) {
        let labels = ToolLabels {
            tool: tool.to_owned(),
            outcome: outcome.to_owned(),
        };
        self.mcp_tool_calls.get_or_create(&labels).inc();
    }

    pub(crate) fn event(&self, source: &str, duplicate: bool) {
        let labels = EventLabels {
            source: source.to_owned(),
            duplicate,
        };
        self.events.get_or_create(&labels).inc();
    }

    pub(crate) fn execution_finished(&self, status: &str) {
        let labels = OutcomeLabels {
            outcome: status.to_owned(),
        };
        self.executions.get_or_create(&labels).inc();
    }

    pub(crate) fn execution_run_at_ingest(&self) {
        self.executions_at_ingest.inc();
    }

    pub(crate) fn token_refresh(&self, outcome: &str) {
        let labels = OutcomeLabels {
            outcome: outcome.to_owned(),
        };
        self.refreshes.get_or_create(&labels).inc();
    }

    pub(crate) fn purged(&self, purged: &crate::store::Purged) {
        for (kind, n) in [
            ("executions", purged.executions),
            ("events", purged.events),
            ("deliveries", purged.deliveries),
            ("partitions", purged.partitions),
        ] {
            self.purged
                .get_or_create(&KindLabels { kind: kind.into() })
                .inc_by(n);
        }
    }

    pub(crate) fn token_refresh_lag(&self, lag: Duration) {
        self.refresh_lag.set(lag.as_secs_f64());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_counters_with_their_labels() {
        let metrics = Metrics::default();
        metrics.action("send_sms", "ok");
        metrics.action("send_sms", "ok");
        metrics.dialpad_request("sms.send", Some(200), Duration::from_millis(12));
        metrics.ingest_batch(3);
        metrics.ingest_batch(40);
        let text = metrics.render();
        assert!(
            text.contains("dialbridge_ingest_batch_events_sum 43.0"),
            "{text}"
        );
        assert!(
            text.contains("dialbridge_ingest_batch_events_count 2"),
            "{text}"
        );
        assert!(
            text.contains("dialbridge_ingest_batch_events_bucket{le=\"4.0\"} 1"),
            "{text}"
        );
        assert!(
            text.contains("dialbridge_actions_total{action=\"send_sms\",outcome=\"ok\"} 2"),
            "{text}"
        );
        assert!(
            text.contains(
                "dialbridge_dialpad_requests_total{operation=\"sms.send\",status=\"200\"} 1"
            ),
            "{text}"
        );
        assert!(
            text.contains("dialbridge_dialpad_request_seconds_count"),
            "{text}"
        );
    }
}
