//! Dialpad events: where they enter (`ingress.rs`, with the vendor's own events; the webhook's
//! JWT is checked in `jwt.rs`), how a
//! redelivery is recognised (`dedupe_key.rs`), what makes
//! Dialpad send them (`provisioning.rs`, audited against Dialpad by `subscription_audit.rs`), and
//! the stored events listed with the executions they started (`history.rs`), and the
//! deliveries this process refused (`refusals.rs`).

mod dedupe_key;
mod history;
mod ingress;
mod jwt;
mod provisioning;
mod refusals;
mod subscription_audit;

pub use dedupe_key::legacy_form as legacy_dedupe_key;
pub use history::{EventHistory, EventPage, EventView};
pub use ingress::{read_dialpad_event, DialpadEvent, Ingress, IngressOutcome};
pub use jwt::WebhookKey;
pub use provisioning::{Provisioning, ProvisioningView};
pub use refusals::{RefusedDeliveries, RefusedDelivery};
