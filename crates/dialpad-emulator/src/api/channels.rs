//! Channels: list, get, create (`name`, `description`, `privacy_type`; names unique in a
//! company) and delete, as `schemas.channel.ChannelProto`.

use serde::Deserialize;
use serde_json::{json, Value};

use super::page::page;
use super::request::{to_json, ApiRequest};
use crate::error::ApiError;
use crate::ids::{ChannelId, UserId};
use crate::store::Store;
use crate::world::{Channel, PrivacyType};

pub fn list(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    // `state` filters archived channels; the emulator has none, so every state but
    // "archived" lists them all.
    if request.query("state") == Some("archived") {
        return page(Vec::<&Channel>::new(), request);
    }
    let channels: Vec<&Channel> = store
        .world
        .channels
        .iter()
        .filter(|c| c.company_id == request.caller.company_id)
        .collect();
    page(channels, request)
}

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    to_json(&store.world.channels[index])
}

#[derive(Deserialize)]
struct CreateChannel {
    name: String,
    #[allow(dead_code)] // required by the spec; not shown by ChannelProto
    description: String,
    #[allow(dead_code)]
    privacy_type: PrivacyType,
    user_id: Option<UserId>,
}

pub fn create(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: CreateChannel = request.body()?;
    let company = request.caller.company_id;
    let name = body.name.trim().trim_start_matches('#').to_owned();
    if name.is_empty() {
        return Err(ApiError::BadRequest("name must not be empty".into()));
    }
    if store
        .world
        .channels
        .iter()
        .any(|c| c.company_id == company && c.name.eq_ignore_ascii_case(&name))
    {
        return Err(ApiError::BadRequest(format!(
            "a channel named {name} already exists"
        )));
    }
    if let Some(user) = body.user_id {
        if !store.world.users_of(company).any(|u| u.id == user) {
            return Err(ApiError::BadRequest(format!(
                "user_id {user} is not a user of this company"
            )));
        }
    }
    let channel = Channel {
        id: ChannelId(store.world.next_id()),
        name,
        company_id: company,
    };
    let json = to_json(&channel)?;
    store.world.channels.push(channel);
    Ok(json)
}

pub fn delete(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    store.world.channels.remove(index);
    Ok(json!({}))
}

fn find(store: &Store, request: &ApiRequest) -> Result<usize, ApiError> {
    let id: ChannelId = request.id("id", "channel")?;
    store
        .world
        .channels
        .iter()
        .position(|c| c.id == id && c.company_id == request.caller.company_id)
        .ok_or_else(|| ApiError::NotFound(format!("channel {id} not found")))
}
