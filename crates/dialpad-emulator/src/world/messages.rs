//! SMS messages, sent through the API or simulated inbound; serialize as
//! `schemas.sms.SMSProto`.

use serde::Serialize;

use super::TargetType;
use crate::ids::{CompanyId, ContactId, SmsId, UserId};

#[allow(dead_code)] // the spec's full enum; the emulator delivers every message
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MessageStatus {
    Failed,
    Pending,
    Success,
}

#[allow(dead_code)] // the spec's full enum
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryResult {
    Accepted,
    InternalError,
    InvalidDestination,
    InvalidSource,
    NoRoute,
    NotSupported,
    Rejected,
    RejectedSpam,
    TimeOut,
}

#[derive(Clone, Debug, Serialize)]
pub struct Sms {
    pub id: SmsId,
    #[serde(skip)]
    pub company_id: CompanyId,
    pub direction: super::Direction,
    pub from_number: String,
    pub to_numbers: Vec<String>,
    /// Shown only to callers with `message_content_export` (events) — the API's own answer to
    /// a send always carries it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    pub target_id: String,
    pub target_type: TargetType,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contact_id: Option<ContactId>,
    pub user_id: UserId,
    /// ISO 8601, UTC.
    pub created_date: String,
    pub message_status: MessageStatus,
    pub message_delivery_result: DeliveryResult,
}
