//! `POST /_control/companies/bulk` `{count}`: many Dialpad customers at once, for benchmarks and
//! tests that need thousands of connected accounts. Each new company has one office, one admin
//! (with a phone number, so it can send SMS and take calls), one `general` channel and a
//! company-admin API key; the answer lists their ids and keys in creation order.

use axum::extract::rejection::JsonRejection;
use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::ControlError;
use crate::ids::{ChannelId, CompanyId, OfficeId, UserId};
use crate::world::{AccountType, Channel, Company, Enablement, Office, User};
use crate::Emulator;

/// At most this many companies per request (the answer stays a few MB).
const MAX_COUNT: u32 = 20_000;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkBody {
    count: u32,
}

#[derive(Serialize)]
pub struct BulkCompany {
    company_id: CompanyId,
    office_id: OfficeId,
    admin_user_id: UserId,
    admin_phone: String,
    channel_id: ChannelId,
    api_key: String,
}

pub async fn create_companies(
    State(emulator): State<Emulator>,
    body: Result<Json<BulkBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Vec<BulkCompany>>), ControlError> {
    let Json(body) = body?;
    if body.count == 0 || body.count > MAX_COUNT {
        return Err(ControlError::BadRequest(format!(
            "count must be between 1 and {MAX_COUNT}"
        )));
    }
    let mut store = emulator.store();
    let mut created = Vec::with_capacity(body.count as usize);
    for _ in 0..body.count {
        let world = &mut store.world;
        let company_id = CompanyId(world.next_id());
        let office_id = OfficeId(world.next_id());
        let user_id = UserId(world.next_id());
        let channel_id = ChannelId(world.next_id());
        // A unique, valid-looking E.164 number per admin (ids are unique, so their digits are).
        let phone = format!("+1555{:07}", user_id.0.rem_euclid(10_000_000));
        let domain = format!("bulk-{company_id}.example");
        world.companies.push(Company {
            id: company_id,
            name: format!("Bulk {company_id}"),
            domain: domain.clone(),
            country: "us".into(),
            account_type: AccountType::Standard,
            state: Enablement::Active,
        });
        let office = Office {
            id: office_id,
            company_id,
            name: "Head office".into(),
            country: "us".into(),
            timezone: "US/Pacific".into(),
            state: Enablement::Active,
        };
        let mut admin = User::new(
            user_id,
            &office,
            "Admin",
            "User",
            format!("admin@{domain}"),
            "2024-01-15T09:00:00".into(),
        );
        admin.phone_numbers = vec![phone.clone()];
        admin.is_admin = true;
        admin.is_super_admin = true;
        admin.admin_office_ids = vec![office_id];
        world.offices.push(office);
        world.users.push(admin);
        world.channels.push(Channel {
            id: channel_id,
            name: "general".into(),
            company_id,
        });
        let api_key = store.tokens.create_api_key(company_id, None);
        created.push(BulkCompany {
            company_id,
            office_id,
            admin_user_id: user_id,
            admin_phone: phone,
            channel_id,
            api_key,
        });
    }
    Ok((StatusCode::CREATED, Json(created)))
}
