//! The Dialpad subscriptions that a set of enabled triggers needs.

use std::collections::BTreeSet;

use serde::Serialize;
use serde_json::Value;

use super::{find, Source, CONTACT_TYPES};
use crate::workflows::TriggerSpec;

/// The Dialpad subscriptions a set of enabled triggers needs.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct SubscriptionNeeds {
    /// Call states to subscribe to; just `all` when any trigger wants every state.
    pub call_states: BTreeSet<String>,
    /// `inbound` and/or `outbound` (both may become one `all` subscription: the caller's
    /// choice).
    pub sms_directions: BTreeSet<String>,
    /// `local` and/or `shared`.
    pub contact_types: BTreeSet<String>,
    pub agent_status: bool,
}

impl SubscriptionNeeds {
    /// Whether nothing at Dialpad is needed.
    pub fn is_empty(&self) -> bool {
        self.call_states.is_empty()
            && self.sms_directions.is_empty()
            && self.contact_types.is_empty()
            && !self.agent_status
    }
}

/// The union of what `specs` need from Dialpad; unknown keys and non-Dialpad triggers add
/// nothing.
pub fn subscription_needs<'a>(
    specs: impl IntoIterator<Item = &'a TriggerSpec>,
) -> SubscriptionNeeds {
    let mut needs = SubscriptionNeeds::default();
    for spec in specs {
        let Some(def) = find(&spec.key) else { continue };
        match def.source {
            Source::CallState { state, .. } => {
                needs.call_states.insert(state.to_owned());
            }
            Source::CallStates => {
                let states = spec.params.get("call_states").and_then(Value::as_array);
                for state in states.into_iter().flatten().filter_map(Value::as_str) {
                    needs.call_states.insert(state.to_owned());
                }
            }
            Source::Sms { direction } => {
                needs.sms_directions.insert(direction.to_owned());
            }
            Source::Contact => match spec.params.get("contact_type").and_then(Value::as_str) {
                Some(kind) => {
                    needs.contact_types.insert(kind.to_owned());
                }
                None => needs
                    .contact_types
                    .extend(CONTACT_TYPES.iter().map(|t| (*t).to_owned())),
            },
            Source::AgentStatus => needs.agent_status = true,
            Source::Vendor | Source::Schedule | Source::Api => {}
        }
    }
    if needs.call_states.contains("all") {
        needs.call_states = BTreeSet::from(["all".to_owned()]);
    }
    needs
}
