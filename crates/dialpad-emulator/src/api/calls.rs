//! Calls: list concluded calls (newest first; `started_after`, `started_before`, `target_id`,
//! `target_type`), get one, ring a user's phone for an outbound call, and act on a live call:
//! add a participant, transfer, hang up. State changes are call events.

use serde::Deserialize;
use serde_json::{json, Value};

use super::page::page;
use super::request::{to_json, ApiRequest};
use crate::error::ApiError;
use crate::events::{self, Event};
use crate::ids::{CallId, TargetId, UserId};
use crate::store::Store;
use crate::world::{Call, CallParty, CallState, Direction};

pub fn list(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let after = request.query_i64("started_after");
    let before = request.query_i64("started_before");
    let target_id = request.query("target_id");
    let target_type = request.query("target_type");
    let mut calls: Vec<&Call> = store
        .world
        .calls
        .iter()
        .filter(|c| c.company_id == request.caller.company_id && c.is_concluded())
        .filter(|c| {
            let started = c.date_started.unwrap_or(0);
            after.is_none_or(|a| started > a) && before.is_none_or(|b| started < b)
        })
        .filter(|c| target_id.is_none_or(|id| c.target.id == id))
        .filter(|c| target_type.is_none_or(|t| c.target.kind == t))
        .collect();
    calls.sort_by_key(|c| std::cmp::Reverse(c.date_started));
    page(calls, request)
}

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    to_json(&store.world.calls[index])
}

/// `RingCallMessage`: ring the user's devices and, once answered, call `phone_number`.
#[derive(Deserialize)]
struct RingCall {
    phone_number: String,
    user_id: UserId,
    custom_data: Option<String>,
    #[allow(dead_code)] // devices, groups and consults are not emulated
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

pub fn ring(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: RingCall = request.body()?;
    let company = request.caller.company_id;
    if request.caller.user_id.is_some_and(|me| me != body.user_id) {
        request.require_admin(&store.world)?;
    }
    let user = store
        .world
        .users_of(company)
        .find(|u| u.id == body.user_id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("user {} not found", body.user_id)))?;
    let id = CallId(store.world.next_id());
    let contact = store
        .world
        .contacts
        .iter()
        .find(|c| c.company_id == company && c.phones.contains(&body.phone_number))
        .map_or_else(|| CallParty::number(&body.phone_number), CallParty::contact);
    let mut call = Call::begin(
        id,
        &user,
        Direction::Outbound,
        &body.phone_number,
        contact,
        request.now_ms,
    );
    call.custom_data = body.custom_data;
    store.world.calls.push(call.clone());
    events::emit(store, Event::Call(call));
    Ok(json!({ "call_id": id }))
}

/// `AddParticipantMessage.participant`: a number, or a target with a primary number.
#[derive(Deserialize)]
#[serde(untagged)]
enum Destination {
    Call {
        call_id: CallId,
    },
    Number {
        number: String,
    },
    Target {
        target_id: TargetId,
        target_type: String,
    },
}

#[derive(Deserialize)]
struct AddParticipant {
    participant: Destination,
}

pub fn add_participant(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: AddParticipant = request.body()?;
    let index = find_live(store, request)?;
    let number = destination_number(store, request, &body.participant)?;
    let parent = store.world.calls[index].clone();
    let leg = CallId(store.world.next_id());
    let mut call = parent.clone();
    call.call_id = leg;
    call.direction = Direction::Outbound;
    call.external_number = number.clone();
    call.contact = CallParty::number(&number);
    call.state = CallState::Calling;
    call.date_started = Some(request.now_ms);
    call.date_rang = None;
    call.date_connected = None;
    call.event_timestamp = Some(request.now_ms);
    call.master_call_id = parent.master_call_id;
    store.world.calls.push(call.clone());
    events::emit(store, Event::Call(call));
    Ok(json!({ "call_id": leg }))
}

#[derive(Deserialize)]
struct Transfer {
    to: Option<Destination>,
    transfer_state: Option<String>,
    custom_data: Option<String>,
}

pub fn transfer(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: Transfer = request.body()?;
    let index = find_live(store, request)?;
    let to = body.to.ok_or_else(|| {
        ApiError::BadRequest("`to` is required: a number, a call_id or a target".into())
    })?;
    let number = destination_number(store, request, &to)?;
    let state = body.transfer_state.unwrap_or_else(|| "preanswer".into());
    let call = &mut store.world.calls[index];
    call.is_transferred = true;
    if body.custom_data.is_some() {
        call.custom_data = body.custom_data;
    }
    call.advance(CallState::Hangup, request.now_ms);
    let id = call.call_id;
    let ended = call.clone();
    events::emit(store, Event::Call(ended));
    Ok(json!({
        "call_id": id,
        "transferred_to_number": number,
        "transferred_to_state": state,
    }))
}

pub fn hangup(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find_live(store, request)?;
    let call = &mut store.world.calls[index];
    call.advance(CallState::Hangup, request.now_ms);
    let ended = call.clone();
    events::emit(store, Event::Call(ended));
    Ok(json!({}))
}

/// The number a destination rings: given, a user's or office's first number, or the other
/// party of an ongoing call.
fn destination_number(
    store: &Store,
    request: &ApiRequest,
    destination: &Destination,
) -> Result<String, ApiError> {
    let company = request.caller.company_id;
    match destination {
        Destination::Number { number } => Ok(number.clone()),
        Destination::Call { call_id } => store
            .world
            .calls
            .iter()
            .find(|c| c.call_id == *call_id && c.company_id == company && c.state.is_live())
            .map(|c| c.internal_number.clone())
            .ok_or_else(|| ApiError::NotFound(format!("ongoing call {call_id} not found"))),
        Destination::Target {
            target_id,
            target_type,
        } => {
            let user = (target_type == "user")
                .then(|| {
                    store
                        .world
                        .users_of(company)
                        .find(|u| u.id.0 == target_id.0)
                })
                .flatten()
                .ok_or_else(|| {
                    ApiError::NotFound(format!("{target_type} {target_id} not found"))
                })?;
            user.phone_numbers.first().cloned().ok_or_else(|| {
                ApiError::BadRequest(format!("{target_type} {target_id} has no primary number"))
            })
        }
    }
}

fn find(store: &Store, request: &ApiRequest) -> Result<usize, ApiError> {
    let id: CallId = request.id("id", "call")?;
    store
        .world
        .calls
        .iter()
        .position(|c| c.call_id == id && c.company_id == request.caller.company_id)
        .ok_or_else(|| ApiError::NotFound(format!("call {id} not found")))
}

/// Like `find`, for operations on ongoing calls: an ended call is a 400 that says so.
fn find_live(store: &Store, request: &ApiRequest) -> Result<usize, ApiError> {
    let index = find(store, request)?;
    let call = &store.world.calls[index];
    if call.state.is_live() {
        Ok(index)
    } else {
        Err(ApiError::BadRequest(format!(
            "call {} is not in progress (its state is {})",
            call.call_id,
            call.state.as_str()
        )))
    }
}
