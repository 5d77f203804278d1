//! Contacts: list (shared ones; `include_local` adds local ones, `owner_id` lists one user's),
//! get, create, update (only the fields given) and delete, as `schemas.contact.ContactProto`.
//! Each change is a contact event for the company's subscriptions.

use serde_json::Value;

use super::page::page;
use super::request::{to_json, ApiRequest};
use crate::error::ApiError;
use crate::events::{self, ContactChange, Event};
use crate::ids::{ContactId, UserId};
use crate::store::Store;
use crate::world::{Contact, ContactFields, ContactType};

pub fn list(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let company = request.caller.company_id;
    let owner = match request.query("owner_id") {
        None => None,
        Some(raw) => Some(raw.parse::<UserId>().map_err(|_| {
            ApiError::BadRequest(format!("owner_id must be a user id, not {raw:?}"))
        })?),
    };
    let include_local = request.query_flag("include_local");
    let contacts: Vec<&Contact> = store
        .world
        .contacts
        .iter()
        .filter(|c| c.company_id == company)
        .filter(|c| match owner {
            Some(owner) => c.owner_id == Some(owner),
            None => c.contact_type == ContactType::Shared || include_local,
        })
        .filter(|c| c.visible_to(request.caller.user_id))
        .collect();
    page(contacts, request)
}

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    to_json(&store.world.contacts[index])
}

pub fn create(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let fields: ContactFields = request.body()?;
    let company = request.caller.company_id;
    if let Some(owner) = fields.owner_id {
        if !store.world.users_of(company).any(|u| u.id == owner) {
            return Err(ApiError::BadRequest(format!(
                "owner_id {owner} is not a user of this company"
            )));
        }
        if request.caller.user_id.is_some_and(|me| me != owner) {
            request.require_admin(&store.world)?;
        }
    }
    let contact = Contact::new(ContactId(store.world.next_id()), company, fields);
    let json = to_json(&contact)?;
    store.world.contacts.push(contact.clone());
    events::emit(
        store,
        Event::Contact {
            change: ContactChange::Created,
            contact,
        },
    );
    Ok(json)
}

pub fn update(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let fields: ContactFields = request.body()?;
    let index = find(store, request)?;
    let contact = &mut store.world.contacts[index];
    contact.apply(fields);
    let contact = contact.clone();
    let json = to_json(&contact)?;
    events::emit(
        store,
        Event::Contact {
            change: ContactChange::Updated,
            contact,
        },
    );
    Ok(json)
}

pub fn delete(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let index = find(store, request)?;
    let contact = store.world.contacts.remove(index);
    let json = to_json(&contact)?;
    events::emit(
        store,
        Event::Contact {
            change: ContactChange::Deleted,
            contact,
        },
    );
    Ok(json)
}

/// The index of the path's contact, if the caller may see it.
fn find(store: &Store, request: &ApiRequest) -> Result<usize, ApiError> {
    let id: ContactId = request.id("id", "contact")?;
    store
        .world
        .contacts
        .iter()
        .position(|c| {
            c.id == id
                && c.company_id == request.caller.company_id
                && c.visible_to(request.caller.user_id)
        })
        .ok_or_else(|| ApiError::NotFound(format!("contact {id} not found")))
}
