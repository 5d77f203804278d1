//! Users: list (filters `state`, `company_admin`, `email`, `number`), get (`me` is the token's
//! user), create and update, as `schemas.user.UserProto`. Only the caller's company is seen.

use serde::Deserialize;
use serde_json::Value;

use super::page::page;
use super::request::{to_json, ApiRequest};
use crate::clock;
use crate::error::ApiError;
use crate::ids::{OfficeId, UserId};
use crate::store::Store;
use crate::world::{Enablement, License, User};

pub fn list(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let state = request.query("state").unwrap_or("active");
    let admins_only = request.query_flag("company_admin");
    let email = request.query("email");
    let number = request.query("number");
    let users: Vec<&User> = store
        .world
        .users_of(request.caller.company_id)
        .filter(|u| state == "all" || to_name(&u.state) == state)
        .filter(|u| !admins_only || u.is_admin)
        .filter(|u| email.is_none_or(|e| u.emails.iter().any(|x| x.eq_ignore_ascii_case(e))))
        .filter(|u| number.is_none_or(|n| u.phone_numbers.iter().any(|x| x == n)))
        .collect();
    page(users, request)
}

pub fn get(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let user = find(store, request)?;
    to_json(user)
}

#[derive(Deserialize)]
struct CreateUser {
    email: String,
    office_id: OfficeId,
    first_name: Option<String>,
    last_name: Option<String>,
    license: Option<License>,
    #[allow(dead_code)] // number assignment is not emulated
    auto_assign: Option<bool>,
}

pub fn create(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: CreateUser = request.body()?;
    let company = request.caller.company_id;
    request.require_admin(&store.world)?;
    let office = store
        .world
        .offices_of(company)
        .find(|o| o.id == body.office_id)
        .cloned()
        .ok_or_else(|| ApiError::NotFound(format!("office {} not found", body.office_id)))?;
    if store
        .world
        .users
        .iter()
        .any(|u| u.emails.iter().any(|e| e.eq_ignore_ascii_case(&body.email)))
    {
        return Err(ApiError::BadRequest(format!(
            "a user with the email {} already exists",
            body.email
        )));
    }
    let mut user = User::new(
        UserId(store.world.next_id()),
        &office,
        body.first_name.as_deref().unwrap_or_default(),
        body.last_name.as_deref().unwrap_or_default(),
        body.email,
        clock::iso8601(request.now_ms),
    );
    if let Some(license) = body.license {
        user.license = license;
    }
    let json = to_json(&user)?;
    store.world.users.push(user);
    Ok(json)
}

/// `UpdateUserMessage`: only the fields given change.
#[derive(Deserialize)]
struct UpdateUser {
    first_name: Option<String>,
    last_name: Option<String>,
    emails: Option<Vec<String>>,
    phone_numbers: Option<Vec<String>>,
    forwarding_numbers: Option<Vec<String>>,
    extension: Option<String>,
    job_title: Option<String>,
    license: Option<License>,
    office_id: Option<OfficeId>,
    admin_office_ids: Option<Vec<OfficeId>>,
    international_dialing_enabled: Option<bool>,
    is_super_admin: Option<bool>,
    state: Option<Enablement>,
    #[allow(dead_code)] // numbers are not billed in the emulator
    keep_paid_numbers: Option<bool>,
    #[allow(dead_code)] // presence is not emulated
    presence_status: Option<Value>,
}

pub fn update(store: &mut Store, request: &ApiRequest) -> Result<Value, ApiError> {
    let body: UpdateUser = request.body()?;
    let id = find(store, request)?.id;
    if id != request.caller.user_id.unwrap_or(id) {
        request.require_admin(&store.world)?;
    }
    if let Some(office) = body.office_id {
        if !store
            .world
            .offices_of(request.caller.company_id)
            .any(|o| o.id == office)
        {
            return Err(ApiError::NotFound(format!("office {office} not found")));
        }
    }
    let user = store
        .world
        .users
        .iter_mut()
        .find(|u| u.id == id)
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))?;
    if let Some(v) = body.first_name {
        user.first_name = v;
    }
    if let Some(v) = body.last_name {
        user.last_name = v;
    }
    user.display_name = format!("{} {}", user.first_name, user.last_name)
        .trim()
        .to_owned();
    if let Some(v) = body.emails {
        user.emails = v;
    }
    if let Some(v) = body.phone_numbers {
        user.phone_numbers = v;
    }
    if let Some(v) = body.forwarding_numbers {
        user.forwarding_numbers = v;
    }
    if body.extension.is_some() {
        user.extension = body.extension;
    }
    if let Some(v) = body.job_title {
        user.job_title = v;
    }
    if let Some(v) = body.license {
        user.license = v;
    }
    if let Some(v) = body.office_id {
        user.office_id = v;
    }
    if let Some(v) = body.admin_office_ids {
        user.admin_office_ids = v;
    }
    if let Some(v) = body.international_dialing_enabled {
        user.international_dialing_enabled = v;
    }
    if let Some(v) = body.is_super_admin {
        user.is_super_admin = v;
    }
    if let Some(v) = body.state {
        user.state = v;
    }
    to_json(user)
}

/// The path's user in the caller's company; `me` is the caller's own user.
fn find<'a>(store: &'a Store, request: &ApiRequest) -> Result<&'a User, ApiError> {
    let raw = request
        .path
        .iter()
        .find(|(k, _)| k == "id")
        .map_or("", |(_, v)| v.as_str());
    let id = if raw == "me" {
        request
            .caller
            .user_id
            .ok_or_else(|| ApiError::BadRequest("'me' requires a user-level token".into()))?
    } else {
        request.id::<UserId>("id", "user")?
    };
    store
        .world
        .user(id)
        .filter(|u| u.company_id == request.caller.company_id)
        .ok_or_else(|| ApiError::NotFound(format!("user {id} not found")))
}

fn to_name<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_value(value)
        .ok()
        .and_then(|v| v.as_str().map(str::to_owned))
        .unwrap_or_default()
}
