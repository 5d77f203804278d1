//! `POST /api/v2/sms`: send an SMS from a user (up to 10 recipients), answered as
//! `schemas.sms.SMSProto` and told to SMS subscriptions as an outbound message.

use serde::Deserialize;
use serde_json::Value;

use super::request::{to_json, ApiRequest};
use crate::clock;
use crate::error::ApiError;
use crate::events::{self, Event};
use crate::ids::{SmsId, UserId};
use crate::store::Store;
use crate::world::{DeliveryResult, Direction, MessageStatus, Sms, TargetType};

/// Dialpad's cap on recipients of one message.
const MAX_RECIPIENTS: usize = 10;

#[derive(Deserialize)]
struct SendSms {
    to_numbers: Option<Vec<String>>,
    text: Option<String>,
    user_id: Option<UserId>,
    from_number: Option<String>,
    channel_hashtag: Option<String>,
    media: Option<String>,
    #[allow(dead_code)] // group senders are not emulated: the user sends
    sender_group_id: Option<Value>,
    #[allow(dead_code)]
    sender_group_type: Option<String>,
    #[allow(dead_code)]
    infer_country_code: Option<bool>,
}

pub fn send(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: SendSms = request.body()?;
    let company = request.caller.company_id;
    let to_numbers = body.to_numbers.unwrap_or_default();
    if to_numbers.is_empty() && body.channel_hashtag.is_none() {
        return Err(ApiError::BadRequest(
            "to_numbers (or channel_hashtag) is required: who should receive the message?".into(),
        ));
    }
    if to_numbers.len() > MAX_RECIPIENTS {
        return Err(ApiError::BadRequest(format!(
            "to_numbers has {} numbers; at most {MAX_RECIPIENTS} are allowed",
            to_numbers.len()
        )));
    }
    if let Some(bad) = to_numbers.iter().find(|n| !is_e164(n)) {
        return Err(ApiError::BadRequest(format!(
            "{bad:?} is not a phone number in E.164 format (like +14155550100)"
        )));
    }
    if body.text.as_deref().is_none_or(str::is_empty) && body.media.is_none() {
        return Err(ApiError::BadRequest(
            "text (or media) is required: the message is empty".into(),
        ));
    }
    let sender = body.user_id.or(request.caller.user_id).ok_or_else(|| {
        ApiError::BadRequest("user_id is required with a company API key: who sends it?".into())
    })?;
    if request.caller.user_id.is_some_and(|me| me != sender) {
        request.require_admin(&store.world)?;
    }
    let user = store
        .world
        .users_of(company)
        .find(|u| u.id == sender)
        .ok_or_else(|| ApiError::NotFound(format!("user {sender} not found")))?;
    let from_number = match body.from_number {
        Some(number) if user.phone_numbers.contains(&number) => number,
        Some(number) => {
            return Err(ApiError::BadRequest(format!(
                "from_number {number} is not a number of user {sender}"
            )))
        }
        None => user.phone_numbers.first().cloned().ok_or_else(|| {
            ApiError::BadRequest(format!("user {sender} has no number to send from"))
        })?,
    };
    let contact_id = store
        .world
        .contacts
        .iter()
        .find(|c| c.company_id == company && to_numbers.iter().any(|n| c.phones.contains(n)))
        .map(|c| c.id);
    let sms = Sms {
        id: SmsId(store.world.next_id()),
        company_id: company,
        direction: Direction::Outbound,
        from_number,
        to_numbers,
        text: body.text,
        target_id: sender.to_string(),
        target_type: TargetType::User,
        contact_id,
        user_id: sender,
        created_date: clock::iso8601(request.now_ms),
        message_status: MessageStatus::Pending,
        message_delivery_result: DeliveryResult::Accepted,
    };
    let json = to_json(&sms)?;
    store.world.messages.push(sms.clone());
    events::emit(store, Event::Sms(sms));
    Ok(json)
}

fn is_e164(number: &str) -> bool {
    number.strip_prefix('+').is_some_and(|digits| {
        (8..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit())
    })
}
