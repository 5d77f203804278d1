//! Dialpad events: where they enter (`ingress.rs`, with the vendor's own events) and what makes
//! Dialpad send them (`provisioning.rs`).

mod ingress;
mod provisioning;

pub use ingress::{Ingress, IngressOutcome};
pub use provisioning::{Provisioning, ProvisioningView};
