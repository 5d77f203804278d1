//! The seeded world as the control API shows it (companies with offices and users, so tests
//! can find ids), and API keys for a company or one of its users.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::ControlError;
use crate::ids::{CompanyId, UserId};
use crate::world::{CompanyProto, Office, User};
use crate::Emulator;

#[derive(Serialize)]
pub struct CompanyView {
    #[serde(flatten)]
    company: CompanyProto,
    offices: Vec<Office>,
    users: Vec<User>,
}

pub async fn companies(State(emulator): State<Emulator>) -> Json<Vec<CompanyView>> {
    let store = emulator.store();
    let world = &store.world;
    let views = world
        .companies
        .iter()
        .filter_map(|c| {
            Some(CompanyView {
                company: world.company_proto(c.id)?,
                offices: world.offices_of(c.id).cloned().collect(),
                users: world.users_of(c.id).cloned().collect(),
            })
        })
        .collect();
    Json(views)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyBody {
    company_id: CompanyId,
    user_id: Option<UserId>,
}

pub async fn create_api_key(
    State(emulator): State<Emulator>,
    body: Result<Json<ApiKeyBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), ControlError> {
    let Json(body) = body?;
    let api_key = emulator
        .issue_api_key(body.company_id, body.user_id)
        .ok_or_else(|| {
            ControlError::NotFound(match body.user_id {
                Some(user) => format!("no user {user} in company {}", body.company_id),
                None => format!("unknown company {}", body.company_id),
            })
        })?;
    Ok((StatusCode::CREATED, Json(json!({ "api_key": api_key }))))
}
