//! The company directory: companies, their offices and users, shaped as the spec's protos.

use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, OfficeId, UserId};

/// Enablement state of a company, office or user (the spec's shared enum).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Enablement {
    Active,
    Cancelled,
    Deleted,
    Pending,
    Suspended,
}

/// Company pricing tier (`schemas.company.CompanyProto.account_type`).
#[allow(dead_code)] // the spec's full enum
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountType {
    Enterprise,
    Free,
    Pro,
    Standard,
}

/// License of a user (`schemas.user.UserProto.license`).
#[allow(dead_code)] // the spec's full enum
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum License {
    Admins,
    Agents,
    DpdeAll,
    DpdeOne,
    LiteLines,
    LiteSupportAgents,
    MagentaLines,
    Talk,
}

#[derive(Clone, Debug, Serialize)]
pub struct Company {
    pub id: CompanyId,
    pub name: String,
    pub domain: String,
    pub country: String,
    pub account_type: AccountType,
    pub state: Enablement,
}

/// `schemas.company.CompanyProto`, as `GET /api/v2/company` answers it.
#[derive(Clone, Debug, Serialize)]
pub struct CompanyProto {
    #[serde(flatten)]
    pub company: Company,
    /// int64, written as a string like every int64 of the API.
    pub office_count: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub admin_email: Option<String>,
}

#[derive(Clone, Debug, Serialize)]
pub struct Office {
    pub id: OfficeId,
    pub company_id: CompanyId,
    pub name: String,
    pub country: String,
    pub timezone: String,
    pub state: Enablement,
}

/// A user; serializes as `schemas.user.UserProto`.
#[derive(Clone, Debug, Serialize)]
pub struct User {
    pub id: UserId,
    pub company_id: CompanyId,
    pub office_id: OfficeId,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    pub emails: Vec<String>,
    pub phone_numbers: Vec<String>,
    pub state: Enablement,
    pub is_admin: bool,
    pub is_super_admin: bool,
    pub admin_office_ids: Vec<OfficeId>,
    pub country: String,
    pub language: String,
    pub timezone: String,
    pub license: License,
    pub job_title: String,
    pub date_added: String,
    pub date_active: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub date_first_login: Option<String>,
    pub do_not_disturb: bool,
    pub is_available: bool,
    pub is_online: bool,
    pub is_on_duty: bool,
    pub muted: bool,
    pub international_dialing_enabled: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    pub forwarding_numbers: Vec<String>,
}

impl User {
    /// A new, active, non-admin user of `office` with one email and no number, as Dialpad
    /// creates one; callers set what differs.
    pub fn new(
        id: UserId,
        office: &Office,
        first: &str,
        last: &str,
        email: String,
        date_added: String,
    ) -> User {
        User {
            id,
            company_id: office.company_id,
            office_id: office.id,
            first_name: first.into(),
            last_name: last.into(),
            display_name: format!("{first} {last}").trim().to_owned(),
            emails: vec![email],
            phone_numbers: Vec::new(),
            state: Enablement::Active,
            is_admin: false,
            is_super_admin: false,
            admin_office_ids: Vec::new(),
            country: office.country.clone(),
            language: "en".into(),
            timezone: office.timezone.clone(),
            license: License::Talk,
            job_title: String::new(),
            date_active: date_added.clone(),
            date_added,
            date_first_login: None,
            do_not_disturb: false,
            is_available: true,
            is_online: false,
            is_on_duty: false,
            muted: false,
            international_dialing_enabled: false,
            extension: None,
            forwarding_numbers: Vec::new(),
        }
    }
}
