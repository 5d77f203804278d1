//! Dialpad events: where they enter (`ingress.rs`, with the vendor's own events) and what makes
//! Dialpad send them (`provisioning.rs`, audited against Dialpad by `subscription_audit.rs`).

mod ingress;
mod provisioning;
mod subscription_audit;

pub use ingress::{read_dialpad_event, DialpadEvent, Ingress, IngressOutcome};
pub use provisioning::{Provisioning, ProvisioningView};
