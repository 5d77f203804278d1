//! Channels (group chats), as `schemas.channel.ChannelProto` shows them: `id` and `name`
//! (unique within a company). Description, privacy and members are checked on create but not
//! kept: no operation the emulator implements reads them back.

use serde::{Deserialize, Serialize};

use crate::ids::{ChannelId, CompanyId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PrivacyType {
    Private,
    Public,
}

#[derive(Clone, Debug, Serialize)]
pub struct Channel {
    pub id: ChannelId,
    pub name: String,
    #[serde(skip)]
    pub company_id: CompanyId,
}
