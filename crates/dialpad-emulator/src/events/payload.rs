//! Event payloads: the JSON a webhook receives (as JWT claims when it has a secret). The shapes
//! and what is confirmed of them are listed in the `events` module doc; this file builds them,
//! leaving out what the subscription's creator was not allowed to see.

use serde_json::{json, Value};

use super::Event;

/// What a subscription's payloads may carry, from the scopes it was created with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Access {
    /// `recordings_export`: recording and voicemail links in call events.
    pub recordings: bool,
    /// `message_content_export` (or `:all`): the text of SMS events.
    pub message_content: bool,
}

impl Access {
    /// `None` is a subscription created with an API key: everything is allowed.
    pub fn of(scopes: Option<&[String]>) -> Access {
        match scopes {
            None => Access {
                recordings: true,
                message_content: true,
            },
            Some(scopes) => {
                let has = |name: &str| scopes.iter().any(|s| s == name);
                Access {
                    recordings: has("recordings_export"),
                    message_content: has("message_content_export")
                        || has("message_content_export:all"),
                }
            }
        }
    }

    /// What either of two subscriptions of one webhook may see.
    pub fn union(self, other: Access) -> Access {
        Access {
            recordings: self.recordings || other.recordings,
            message_content: self.message_content || other.message_content,
        }
    }
}

/// The payload of `event` as a subscription with `access` receives it, stamped `now_ms` where
/// the event itself carries no time.
pub fn build(event: &Event, access: Access, now_ms: i64) -> Result<Value, serde_json::Error> {
    match event {
        Event::Call(call) => {
            let mut payload = serde_json::to_value(call)?;
            if !access.recordings {
                remove(
                    &mut payload,
                    &["call_recording_share_links", "voicemail_share_link"],
                );
            }
            Ok(payload)
        }
        Event::Sms(sms) => {
            let mut payload = serde_json::to_value(sms)?;
            if !access.message_content {
                remove(&mut payload, &["text"]);
            }
            Ok(payload)
        }
        Event::Contact { change, contact } => Ok(json!({
            "change_type": change.as_str(),
            "contact": serde_json::to_value(contact)?,
            "event_timestamp": now_ms.to_string(),
        })),
        Event::AgentStatus { user, status } => Ok(json!({
            "agent_type": "callcenter",
            "user_id": user.id,
            "status": status,
            "event_timestamp": now_ms.to_string(),
        })),
    }
}

fn remove(payload: &mut Value, fields: &[&str]) {
    if let Some(object) = payload.as_object_mut() {
        for field in fields {
            object.remove(*field);
        }
    }
}
