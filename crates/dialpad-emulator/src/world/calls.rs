//! Calls: one record per call leg, serialized as `schemas.call.CallProto` (the same shape call
//! events carry, with `state`). Times are milliseconds since the epoch; int64 values travel as
//! strings, `duration` (ms) as a number.

use serde::{Deserialize, Serialize};

use crate::ids::{CallId, CompanyId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

/// The call states the emulator moves calls through (a subset of the spec's `call_states`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallState {
    Calling,
    Ringing,
    Connected,
    Hold,
    Missed,
    Voicemail,
    VoicemailUploaded,
    Recording,
    Hangup,
}

impl CallState {
    /// The name a subscription's `call_states` uses.
    pub fn as_str(self) -> &'static str {
        match self {
            CallState::Calling => "calling",
            CallState::Ringing => "ringing",
            CallState::Connected => "connected",
            CallState::Hold => "hold",
            CallState::Missed => "missed",
            CallState::Voicemail => "voicemail",
            CallState::VoicemailUploaded => "voicemail_uploaded",
            CallState::Recording => "recording",
            CallState::Hangup => "hangup",
        }
    }

    /// Whether the call is still live (hang-up, transfer and add-participant apply).
    pub fn is_live(self) -> bool {
        matches!(
            self,
            CallState::Calling | CallState::Ringing | CallState::Connected | CallState::Hold
        )
    }
}

/// `schemas.call.CallContactProto`: the Dialpad side (target) or the other party (contact).
#[derive(Clone, Debug, Serialize)]
pub struct CallParty {
    pub id: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub name: String,
    pub phone: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
}

impl CallParty {
    pub fn user(user: &super::User) -> CallParty {
        CallParty {
            id: user.id.to_string(),
            kind: "user".into(),
            name: user.display_name.clone(),
            phone: user.phone_numbers.first().cloned().unwrap_or_default(),
            email: user.emails.first().cloned(),
        }
    }

    pub fn contact(contact: &super::Contact) -> CallParty {
        CallParty {
            id: contact.id.to_string(),
            kind: "contact".into(),
            name: contact.display_name.clone(),
            phone: contact.primary_phone.clone().unwrap_or_default(),
            email: contact.primary_email.clone(),
        }
    }

    /// A caller Dialpad knows only by number.
    pub fn number(phone: &str) -> CallParty {
        CallParty {
            id: String::new(),
            kind: "unknown".into(),
            name: phone.into(),
            phone: phone.into(),
            email: None,
        }
    }
}

/// Epoch milliseconds written as a JSON string, as Dialpad writes every int64.
pub mod millis_string {
    use serde::Serializer;

    pub fn serialize<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
        match value {
            Some(v) => s.collect_str(v),
            None => s.serialize_none(),
        }
    }
}

#[derive(Clone, Debug, Serialize)]
pub struct Call {
    pub call_id: CallId,
    #[serde(skip)]
    pub company_id: CompanyId,
    pub state: CallState,
    pub direction: Direction,
    pub external_number: String,
    pub internal_number: String,
    #[serde(with = "millis_string", skip_serializing_if = "Option::is_none")]
    pub date_started: Option<i64>,
    #[serde(with = "millis_string", skip_serializing_if = "Option::is_none")]
    pub date_rang: Option<i64>,
    #[serde(with = "millis_string", skip_serializing_if = "Option::is_none")]
    pub date_connected: Option<i64>,
    #[serde(with = "millis_string", skip_serializing_if = "Option::is_none")]
    pub date_ended: Option<i64>,
    /// Milliseconds connected, once the call has ended.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub duration: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub total_duration: Option<f64>,
    pub target: CallParty,
    pub contact: CallParty,
    pub master_call_id: CallId,
    pub entry_point_call_id: CallId,
    pub is_transferred: bool,
    pub was_recorded: bool,
    pub labels: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_data: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub call_recording_share_links: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voicemail_share_link: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transcription_text: Option<String>,
    /// When the last state change happened (ms); call events carry it.
    #[serde(with = "millis_string", skip_serializing_if = "Option::is_none")]
    pub event_timestamp: Option<i64>,
}

impl Call {
    /// A new call leg of `user` with `contact` at `external_number`, started at `now` (ms):
    /// inbound calls begin `ringing`, outbound ones `calling`.
    pub fn begin(
        call_id: CallId,
        user: &super::User,
        direction: Direction,
        external_number: &str,
        contact: CallParty,
        now: i64,
    ) -> Call {
        Call {
            call_id,
            company_id: user.company_id,
            state: match direction {
                Direction::Inbound => CallState::Ringing,
                Direction::Outbound => CallState::Calling,
            },
            direction,
            external_number: external_number.to_owned(),
            internal_number: user.phone_numbers.first().cloned().unwrap_or_default(),
            date_started: Some(now),
            date_rang: None,
            date_connected: None,
            date_ended: None,
            duration: None,
            total_duration: None,
            target: CallParty::user(user),
            contact,
            master_call_id: call_id,
            entry_point_call_id: call_id,
            is_transferred: false,
            was_recorded: false,
            labels: Vec::new(),
            custom_data: None,
            call_recording_share_links: Vec::new(),
            voicemail_share_link: None,
            transcription_text: None,
            event_timestamp: Some(now),
        }
    }

    /// Moves the call to `state` at `now` (ms), stamping the dates that state implies.
    pub fn advance(&mut self, state: CallState, now: i64) {
        match state {
            CallState::Ringing => self.date_rang = Some(now),
            CallState::Connected => self.date_connected = Some(now),
            CallState::Hangup | CallState::Missed if self.date_ended.is_none() => {
                self.date_ended = Some(now);
                let started = self.date_started.unwrap_or(now);
                let connected = self.date_connected.map_or(0, |c| now - c);
                self.duration = Some(connected as f64);
                self.total_duration = Some((now - started) as f64);
            }
            _ => {}
        }
        self.state = state;
        self.event_timestamp = Some(now);
    }

    /// Concluded calls are the ones `GET /api/v2/call` lists.
    pub fn is_concluded(&self) -> bool {
        self.date_ended.is_some()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advancing_stamps_dates_and_durations_once() {
        let party = CallParty {
            id: "1".into(),
            kind: "user".into(),
            name: "A".into(),
            phone: "+1".into(),
            email: None,
        };
        let mut call = Call {
            call_id: CallId(1),
            company_id: CompanyId(1),
            state: CallState::Calling,
            direction: Direction::Outbound,
            external_number: "+2".into(),
            internal_number: "+1".into(),
            date_started: Some(1_000),
            date_rang: None,
            date_connected: None,
            date_ended: None,
            duration: None,
            total_duration: None,
            target: party.clone(),
            contact: party,
            master_call_id: CallId(1),
            entry_point_call_id: CallId(1),
            is_transferred: false,
            was_recorded: false,
            labels: vec![],
            custom_data: None,
            call_recording_share_links: vec![],
            voicemail_share_link: None,
            transcription_text: None,
            event_timestamp: None,
        };
        call.advance(CallState::Connected, 3_000);
        call.advance(CallState::Hangup, 10_000);
        call.advance(CallState::Recording, 12_000);
        assert_eq!(call.date_ended, Some(10_000));
        assert_eq!(call.duration, Some(7_000.0));
        assert_eq!(call.total_duration, Some(9_000.0));
        assert!(call.is_concluded());
        assert_eq!(call.state, CallState::Recording);
        let json = serde_json::to_value(&call).unwrap();
        assert_eq!(json["date_started"], "1000");
        assert_eq!(json["call_id"], "1");
        assert_eq!(json["state"], "recording");
    }
}
