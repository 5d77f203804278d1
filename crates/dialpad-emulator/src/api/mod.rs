//! Dialpad's API v2. Every request under `/api/v2` goes through `dispatch` (spec match, auth,
//! scopes, faults, rate limits, request and response checks against the official spec); the
//! operation's handler below does the work on the store. One file per resource.

mod calls;
mod channels;
mod company;
mod contacts;
mod dispatch;
mod nulls;
mod page;
mod request;
mod sms;
mod subscriptions;
mod users;
mod webhooks;

use axum::routing::any;
use axum::Router;
use serde_json::Value;

use crate::error::ApiError;
use crate::store::Store;
use crate::Emulator;
use request::ApiRequest;

pub fn routes() -> Router<Emulator> {
    Router::new().route("/api/v2/{*rest}", any(dispatch::handle))
}

/// A handler: the work of one operation on the locked store. Its answer is checked against
/// the operation's response schema before it is sent.
type Handler = fn(&mut Store, &ApiRequest) -> Result<Value, ApiError>;

/// The handler of a spec operation, by `operationId`; `None` for operations the emulator does
/// not implement (answered 501, never 404: the route exists at Dialpad).
fn handler(operation_id: &str) -> Option<Handler> {
    let handler: Handler = match operation_id {
        "company.get" => company::get,
        "users.list" => users::list,
        "users.get" => users::get,
        "users.create" => users::create,
        "users.update" => users::update,
        "contacts.list" => contacts::list,
        "contacts.get" => contacts::get,
        "contacts.create" => contacts::create,
        "contacts.update" => contacts::update,
        "contacts.delete" => contacts::delete,
        "channels.list" => channels::list,
        "channels.get" => channels::get,
        "channels.post" => channels::create,
        "channels.delete" => channels::delete,
        "call.list" => calls::list,
        "call.get_call_info" => calls::get,
        "call.call" => calls::ring,
        "call.participants.add" => calls::add_participant,
        "call.transfer_call" => calls::transfer,
        "call.actions.hangup" => calls::hangup,
        "sms.send" => sms::send,
        "webhooks.list" => webhooks::list,
        "webhooks.get" => webhooks::get,
        "webhooks.create" => webhooks::create,
        "webhook.update" => webhooks::update,
        "webhooks.delete" => webhooks::delete,
        id => return subscription_handler(id),
    };
    Some(handler)
}

/// The five operations of each subscription kind share one implementation.
fn subscription_handler(operation_id: &str) -> Option<Handler> {
    let (kind, verb) = operation_id.split_once("_event_subscription.")?;
    let handler: Handler = match (kind, verb) {
        ("webhook_call", "list") => |s, r| subscriptions::list(s, r, "call"),
        ("webhook_call", "get") => |s, r| subscriptions::get(s, r, "call"),
        ("webhook_call", "create") => |s, r| subscriptions::create(s, r, "call"),
        ("webhook_call", "update") => |s, r| subscriptions::update(s, r, "call"),
        ("webhook_call", "delete") => |s, r| subscriptions::delete(s, r, "call"),
        ("webhook_sms", "list") => |s, r| subscriptions::list(s, r, "sms"),
        ("webhook_sms", "get") => |s, r| subscriptions::get(s, r, "sms"),
        ("webhook_sms", "create") => |s, r| subscriptions::create(s, r, "sms"),
        ("webhook_sms", "update") => |s, r| subscriptions::update(s, r, "sms"),
        ("webhook_sms", "delete") => |s, r| subscriptions::delete(s, r, "sms"),
        ("webhook_contact", "list") => |s, r| subscriptions::list(s, r, "contact"),
        ("webhook_contact", "get") => |s, r| subscriptions::get(s, r, "contact"),
        ("webhook_contact", "create") => |s, r| subscriptions::create(s, r, "contact"),
        ("webhook_contact", "update") => |s, r| subscriptions::update(s, r, "contact"),
        ("webhook_contact", "delete") => |s, r| subscriptions::delete(s, r, "contact"),
        ("webhook_agent_status", "list") => |s, r| subscriptions::list(s, r, "agent_status"),
        ("webhook_agent_status", "get") => |s, r| subscriptions::get(s, r, "agent_status"),
        ("webhook_agent_status", "create") => |s, r| subscriptions::create(s, r, "agent_status"),
        ("webhook_agent_status", "update") => |s, r| subscriptions::update(s, r, "agent_status"),
        ("webhook_agent_status", "delete") => |s, r| subscriptions::delete(s, r, "agent_status"),
        _ => return None,
    };
    Some(handler)
}

/// Every operation the emulator implements, for the docs and the coverage test.
pub fn implemented_operations() -> Vec<&'static str> {
    dialpad_spec::spec()
        .operations()
        .iter()
        .map(|op| op.id.as_str())
        .filter(|id| handler(id).is_some())
        .collect()
}
