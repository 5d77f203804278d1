//! Simulating what happens in Dialpad, so webhooks get events: calls (whole scenarios, or one
//! state at a time), SMS, contact changes and agent status; and the delivery log with its
//! retry settings. Every simulation changes the world, emits one event per change in order,
//! and answers what it did with the ids of the deliveries it queued.
//!
//! - `POST /_control/calls` `{company_id?, user_id?, direction, external_number?, scenario?}`
//! - `POST /_control/calls/{id}/state` `{state}`
//! - `POST /_control/sms` `{company_id?, user_id?, direction, external_number?, text}`
//! - `POST /_control/contacts/events` `{company_id?, change, contact_id?}`
//! - `POST /_control/agent-status` `{company_id?, user_id?, status}`
//! - `GET`/`DELETE /_control/deliveries`; `GET`/`PATCH /_control/deliveries/settings`
//!
//! Defaults: the company is the user's, else the first seeded one; the user is that company's
//! admin; the external number is the company's first shared contact's phone.
//!
//! Call scenarios (the state sequence each emits; inbound calls start `ringing`, outbound
//! ones `calling`):
//! - `answered` (default): ringing|calling → connected → hangup
//! - `missed` (inbound only): ringing → missed → hangup. Whether Dialpad follows `missed`
//!   with `hangup` is unconfirmed; both are sent, so either trigger works.
//! - `voicemail` (inbound only): ringing → voicemail → hangup → voicemail_uploaded (with
//!   `transcription_text` and `voicemail_share_link`)
//! - `recording`: ringing|calling → connected → hangup → recording (`was_recorded`, one
//!   `call_recording_share_links` entry)
//! - `ringing`: ringing|calling, and `connected`: ringing|calling → connected — the call stays
//!   live, for the API to hang up or transfer, or for `/_control/calls/{id}/state`.
//!
//! Agent statuses are free text (Dialpad's values are unconfirmed); `available`, `busy` and
//! `unavailable` also set the user's `is_on_duty`/`is_available`.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::ControlError;
use crate::events::{self, ContactChange, DeliveryRecord, DeliverySettings, Event, SettingsPatch};
use crate::ids::{CallId, CompanyId, ContactId, SmsId, UserId};
use crate::store::Store;
use crate::world::{
    Call, CallParty, CallState, Contact, ContactFields, ContactType, DeliveryResult, Direction,
    MessageStatus, Sms, TargetType, User, World,
};
use crate::Emulator;

pub fn routes() -> Router<Emulator> {
    Router::new()
        .route("/_control/calls", post(create_call))
        .route("/_control/calls/{id}/state", post(call_state))
        .route("/_control/sms", post(sms))
        .route("/_control/contacts/events", post(contact_event))
        .route("/_control/agent-status", post(agent_status))
        .route(
            "/_control/deliveries",
            get(deliveries).delete(clear_deliveries),
        )
        .route(
            "/_control/deliveries/settings",
            get(settings).patch(patch_settings),
        )
}

/// Milliseconds between the states of one simulated call, so their order shows in the times.
const STEP_MS: i64 = 5;

#[derive(Clone, Copy, Debug, Default, Deserialize)]
#[serde(rename_all = "snake_case")]
enum Scenario {
    #[default]
    Answered,
    Missed,
    Voicemail,
    Recording,
    Ringing,
    Connected,
}

impl Scenario {
    fn states(self, direction: Direction) -> Result<Vec<CallState>, ControlError> {
        use CallState::*;
        let first = match direction {
            Direction::Inbound => Ringing,
            Direction::Outbound => Calling,
        };
        let inbound_only = |name: &str| {
            ControlError::BadRequest(format!("the {name} scenario needs an inbound call"))
        };
        Ok(match (self, direction) {
            (Scenario::Answered, _) => vec![first, Connected, Hangup],
            (Scenario::Missed, Direction::Inbound) => vec![Ringing, Missed, Hangup],
            (Scenario::Missed, Direction::Outbound) => return Err(inbound_only("missed")),
            (Scenario::Voicemail, Direction::Inbound) => {
                vec![Ringing, Voicemail, Hangup, VoicemailUploaded]
            }
            (Scenario::Voicemail, Direction::Outbound) => return Err(inbound_only("voicemail")),
            (Scenario::Recording, _) => vec![first, Connected, Hangup, Recording],
            (Scenario::Ringing, _) => vec![first],
            (Scenario::Connected, _) => vec![first, Connected],
        })
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallBody {
    company_id: Option<CompanyId>,
    user_id: Option<UserId>,
    direction: Direction,
    external_number: Option<String>,
    scenario: Option<Scenario>,
}

/// `POST /_control/calls`: a new call, moved through its scenario's states.
pub async fn create_call(
    State(emulator): State<Emulator>,
    body: Result<Json<CallBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let Json(body) = body?;
    let scenario = body.scenario.unwrap_or_default();
    let states = scenario.states(body.direction)?;
    let answer = {
        let mut store = emulator.store();
        let (company, user) = resolve_user(&store.world, body.company_id, body.user_id)?;
        let (external, contact) =
            counterpart(&store.world, company, body.external_number.as_deref())?;
        let id = CallId(store.world.next_id());
        let steps = i64::try_from(states.len()).unwrap_or(1).max(1) - 1;
        let start = crate::clock::now_ms() - steps * STEP_MS;
        let contact = contact
            .as_ref()
            .map_or_else(|| CallParty::number(&external), CallParty::contact);
        let mut call = Call::begin(id, &user, body.direction, &external, contact, start);
        call.state = states.first().copied().unwrap_or(call.state);
        call.was_recorded = matches!(scenario, Scenario::Recording);
        call.event_timestamp = None;
        let mut deliveries = Vec::new();
        for (at, state) in (start..).step_by(STEP_MS as usize).zip(&states) {
            enter(&mut call, *state, at);
            deliveries.extend(events::queue(&mut store, &Event::Call(call.clone())));
        }
        let answer = json!({
            "call_id": id,
            "company_id": company,
            "user_id": user.id,
            "states": states.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            "deliveries": deliveries,
            "call": call,
        });
        store.world.calls.push(call);
        answer
    };
    emulator.flush_events();
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StateBody {
    state: CallState,
}

/// `POST /_control/calls/{id}/state`: one more state for a call. A live call takes any state;
/// an ended one only `recording` or `voicemail_uploaded`.
pub async fn call_state(
    State(emulator): State<Emulator>,
    Path(id): Path<String>,
    body: Result<Json<StateBody>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(body) = body?;
    let id: CallId = id
        .parse()
        .map_err(|_| ControlError::BadRequest(format!("bad call id {id:?}")))?;
    let answer = {
        let mut store = emulator.store();
        let store = &mut *store;
        let call = store
            .world
            .calls
            .iter_mut()
            .find(|c| c.call_id == id)
            .ok_or_else(|| ControlError::NotFound(format!("no call {id}")))?;
        let after_end = matches!(
            body.state,
            CallState::Recording | CallState::VoicemailUploaded
        );
        if call.is_concluded() && !after_end {
            return Err(ControlError::BadRequest(format!(
                "call {id} has ended ({}); only recording and voicemail_uploaded can follow",
                call.state.as_str()
            )));
        }
        let at = crate::clock::now_ms().max(call.event_timestamp.unwrap_or(0) + 1);
        enter(call, body.state, at);
        let call = call.clone();
        let deliveries = events::queue(store, &Event::Call(call.clone()));
        json!({
            "call_id": id,
            "state": body.state.as_str(),
            "deliveries": deliveries,
            "call": call,
        })
    };
    emulator.flush_events();
    Ok(Json(answer))
}

/// Moves a call to `state` at `at`, with what the state brings: a recording link, a voicemail.
fn enter(call: &mut Call, state: CallState, at: i64) {
    match state {
        CallState::Recording => {
            call.was_recorded = true;
            if call.call_recording_share_links.is_empty() {
                let link = format!("https://dialpad.example/r/{}", call.call_id);
                call.call_recording_share_links.push(link);
            }
        }
        CallState::VoicemailUploaded => {
            let link = format!("https://dialpad.example/v/{}", call.call_id);
            call.voicemail_share_link.get_or_insert(link);
            call.transcription_text.get_or_insert_with(|| {
                "Hi, this is a simulated voicemail. Please call me back.".into()
            });
        }
        _ => {}
    }
    call.advance(state, at);
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmsBody {
    company_id: Option<CompanyId>,
    user_id: Option<UserId>,
    direction: Direction,
    external_number: Option<String>,
    text: String,
}

/// `POST /_control/sms`: a message received (inbound) or sent (outbound) by a user.
pub async fn sms(
    State(emulator): State<Emulator>,
    body: Result<Json<SmsBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let Json(body) = body?;
    let answer = {
        let mut store = emulator.store();
        let (company, user) = resolve_user(&store.world, body.company_id, body.user_id)?;
        let (external, contact) =
            counterpart(&store.world, company, body.external_number.as_deref())?;
        let internal = user.phone_numbers.first().cloned().ok_or_else(|| {
            ControlError::BadRequest(format!("user {} has no phone number", user.id))
        })?;
        let (from_number, to_numbers) = match body.direction {
            Direction::Inbound => (external, vec![internal]),
            Direction::Outbound => (internal, vec![external]),
        };
        let sms = Sms {
            id: SmsId(store.world.next_id()),
            company_id: company,
            direction: body.direction,
            from_number,
            to_numbers,
            text: Some(body.text),
            target_id: user.id.to_string(),
            target_type: TargetType::User,
            contact_id: contact.map(|c| c.id),
            user_id: user.id,
            created_date: crate::clock::iso8601(crate::clock::now_ms()),
            message_status: MessageStatus::Success,
            message_delivery_result: DeliveryResult::Accepted,
        };
        store.world.messages.push(sms.clone());
        let deliveries = events::queue(&mut store, &Event::Sms(sms.clone()));
        json!({ "sms_id": sms.id, "deliveries": deliveries, "sms": sms })
    };
    emulator.flush_events();
    Ok((StatusCode::CREATED, Json(answer)))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactEventBody {
    company_id: Option<CompanyId>,
    change: ContactChange,
    contact_id: Option<ContactId>,
}

/// `POST /_control/contacts/events`: creates a shared contact (generated name and phone),
/// updates one (a new `job_title`) or deletes one. Without `contact_id`, an update takes the
/// company's first shared contact and a delete its last.
pub async fn contact_event(
    State(emulator): State<Emulator>,
    body: Result<Json<ContactEventBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let Json(body) = body?;
    let (status, answer) = {
        let mut store = emulator.store();
        let contact = change_contact(&mut store, &body)?;
        let event = Event::Contact {
            change: body.change,
            contact: contact.clone(),
        };
        let deliveries = events::queue(&mut store, &event);
        let status = match body.change {
            ContactChange::Created => StatusCode::CREATED,
            _ => StatusCode::OK,
        };
        let answer = json!({
            "change": body.change.as_str(),
            "contact_id": contact.id,
            "deliveries": deliveries,
            "contact": contact,
        });
        (status, answer)
    };
    emulator.flush_events();
    Ok((status, Json(answer)))
}

/// Performs the change; answers the contact as it is last (the removed one for a delete).
fn change_contact(store: &mut Store, body: &ContactEventBody) -> Result<Contact, ControlError> {
    let world = &mut store.world;
    if body.change == ContactChange::Created {
        if body.contact_id.is_some() {
            return Err(ControlError::BadRequest(
                "a created contact gets a new id: leave contact_id out".into(),
            ));
        }
        let company = resolve_company(world, body.company_id)?;
        let id = world.next_id();
        let contact = Contact::new(ContactId(id), company, generated_contact(id));
        world.contacts.push(contact.clone());
        return Ok(contact);
    }
    let index = match body.contact_id {
        Some(id) => {
            let index = world
                .contacts
                .iter()
                .position(|c| c.id == id)
                .ok_or_else(|| ControlError::NotFound(format!("no contact {id}")))?;
            let owner = world.contacts[index].company_id;
            if let Some(company) = body.company_id.filter(|c| *c != owner) {
                return Err(ControlError::NotFound(format!(
                    "no contact {id} in company {company}"
                )));
            }
            index
        }
        None => {
            let company = resolve_company(world, body.company_id)?;
            let mut shared = world
                .contacts
                .iter()
                .enumerate()
                .filter(|(_, c)| c.company_id == company && c.contact_type == ContactType::Shared)
                .map(|(i, _)| i);
            let found = if body.change == ContactChange::Deleted {
                shared.next_back()
            } else {
                shared.next()
            };
            found.ok_or_else(|| {
                ControlError::NotFound(format!("company {company} has no shared contact"))
            })?
        }
    };
    if body.change == ContactChange::Deleted {
        return Ok(world.contacts.remove(index));
    }
    let contact = &mut world.contacts[index];
    contact.apply(ContactFields {
        job_title: Some(format!(
            "Updated {}",
            crate::clock::iso8601(crate::clock::now_ms())
        )),
        ..ContactFields::default()
    });
    Ok(contact.clone())
}

/// A made-up shared contact, its name and phone derived from its id.
fn generated_contact(id: i64) -> ContactFields {
    const FIRST: [&str; 6] = ["Morgan", "Riley", "Jordan", "Taylor", "Quinn", "Rowan"];
    const LAST: [&str; 6] = ["Hayes", "Patel", "Novak", "Okafor", "Lind", "Moreau"];
    let n = id.unsigned_abs();
    let first = FIRST[(n % 6) as usize];
    let last = LAST[((n / 6) % 6) as usize];
    ContactFields {
        first_name: Some(first.into()),
        last_name: Some(last.into()),
        company_name: Some("Simulated Ltd".into()),
        emails: Some(vec![format!(
            "{}.{}@simulated.example",
            first.to_lowercase(),
            last.to_lowercase()
        )]),
        phones: Some(vec![format!("+1628555{:04}", n % 10_000)]),
        ..ContactFields::default()
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AgentStatusBody {
    company_id: Option<CompanyId>,
    user_id: Option<UserId>,
    status: String,
}

/// `POST /_control/agent-status`: a user's agent status changes.
pub async fn agent_status(
    State(emulator): State<Emulator>,
    body: Result<Json<AgentStatusBody>, JsonRejection>,
) -> Result<Json<Value>, ControlError> {
    let Json(body) = body?;
    let status = body.status.trim().to_owned();
    if status.is_empty() || status.len() > 64 {
        return Err(ControlError::BadRequest(
            "status must be 1 to 64 characters".into(),
        ));
    }
    let answer = {
        let mut store = emulator.store();
        let (_, user) = resolve_user(&store.world, body.company_id, body.user_id)?;
        let duty = match status.as_str() {
            "available" => Some((true, true)),
            "busy" => Some((true, false)),
            "unavailable" => Some((false, false)),
            _ => None,
        };
        let mut user = user;
        if let Some((on_duty, available)) = duty {
            if let Some(stored) = store.world.users.iter_mut().find(|u| u.id == user.id) {
                stored.is_on_duty = on_duty;
                stored.is_available = available;
                user = stored.clone();
            }
        }
        let user_id = user.id;
        let event = Event::AgentStatus {
            user,
            status: status.clone(),
        };
        let deliveries = events::queue(&mut store, &event);
        json!({ "user_id": user_id, "status": status, "deliveries": deliveries })
    };
    emulator.flush_events();
    Ok(Json(answer))
}

/// `GET /_control/deliveries`: the delivery log, oldest first (the last 1000).
pub async fn deliveries(State(emulator): State<Emulator>) -> Json<Vec<DeliveryRecord>> {
    Json(emulator.store().events.deliveries())
}

/// `DELETE /_control/deliveries`: forgets the log; deliveries waiting to retry stop.
pub async fn clear_deliveries(State(emulator): State<Emulator>) -> StatusCode {
    emulator.store().events.clear();
    StatusCode::NO_CONTENT
}

pub async fn settings(State(emulator): State<Emulator>) -> Json<DeliverySettings> {
    Json(emulator.store().events.settings)
}

/// `PATCH /_control/deliveries/settings` `{retry_base_ms?, max_attempts?, timeout_ms?}`.
pub async fn patch_settings(
    State(emulator): State<Emulator>,
    body: Result<Json<SettingsPatch>, JsonRejection>,
) -> Result<Json<DeliverySettings>, ControlError> {
    let Json(patch) = body?;
    let mut store = emulator.store();
    store
        .events
        .settings
        .apply(&patch)
        .map_err(|e| ControlError::BadRequest(e.to_string()))?;
    Ok(Json(store.events.settings))
}

/// The company a simulation happens in: the one named, else the first.
fn resolve_company(world: &World, company: Option<CompanyId>) -> Result<CompanyId, ControlError> {
    match company {
        Some(id) => world
            .company(id)
            .map(|c| c.id)
            .ok_or_else(|| ControlError::NotFound(format!("unknown company {id}"))),
        None => world
            .companies
            .first()
            .map(|c| c.id)
            .ok_or_else(|| ControlError::NotFound("the emulator has no company".into())),
    }
}

/// The user a simulation happens to, and their company: the user named (who must belong to
/// the company, when one is named too), else the company's admin.
fn resolve_user(
    world: &World,
    company: Option<CompanyId>,
    user: Option<UserId>,
) -> Result<(CompanyId, User), ControlError> {
    if let Some(id) = user {
        let user = world
            .user(id)
            .ok_or_else(|| ControlError::NotFound(format!("unknown user {id}")))?;
        if let Some(company) = company.filter(|c| *c != user.company_id) {
            return Err(ControlError::NotFound(format!(
                "no user {id} in company {company}"
            )));
        }
        return Ok((user.company_id, user.clone()));
    }
    let company = resolve_company(world, company)?;
    let admin = world
        .admin_of(company)
        .ok_or_else(|| ControlError::NotFound(format!("company {company} has no admin")))?;
    Ok((company, admin.clone()))
}

/// The other party's number, and the company's contact with that number if there is one;
/// without a number, the company's first shared contact that has a phone.
fn counterpart(
    world: &World,
    company: CompanyId,
    number: Option<&str>,
) -> Result<(String, Option<Contact>), ControlError> {
    let of_company = |c: &&Contact| c.company_id == company;
    match number.map(str::trim) {
        Some("") => Err(ControlError::BadRequest(
            "external_number must not be empty".into(),
        )),
        Some(number) => {
            let contact = world
                .contacts
                .iter()
                .filter(of_company)
                .find(|c| c.phones.iter().any(|p| p == number));
            Ok((number.to_owned(), contact.cloned()))
        }
        None => world
            .contacts
            .iter()
            .filter(of_company)
            .filter(|c| c.contact_type == ContactType::Shared)
            .find_map(|c| Some((c.primary_phone.clone()?, Some(c.clone()))))
            .ok_or_else(|| {
                ControlError::BadRequest(format!(
                    "company {company} has no contact with a phone: give external_number"
                ))
            }),
    }
}
