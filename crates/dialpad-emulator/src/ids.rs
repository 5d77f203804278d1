//! Identifiers of the emulated Dialpad world: int64 values that travel as JSON strings.
//! One newtype per kind of thing, so a user id cannot be passed where a company id is expected.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

macro_rules! int64_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub struct $name(pub i64);

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = std::num::ParseIntError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                s.parse().map($name)
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.collect_str(&self.0)
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                match StringOrInt::deserialize(deserializer)? {
                    StringOrInt::Int(n) => Ok($name(n)),
                    StringOrInt::String(s) => s.parse().map_err(serde::de::Error::custom),
                }
            }
        }
    };
}

/// Dialpad writes ids as strings; accept a bare number too, as a lenient reader would.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrInt {
    Int(i64),
    String(String),
}

int64_id!(
    /// A Dialpad company (a customer account).
    CompanyId
);
int64_id!(
    /// An office of a company.
    OfficeId
);
int64_id!(
    /// A user of a company.
    UserId
);
int64_id!(
    /// A contact (shared with the company, or local to one user).
    ContactId
);
int64_id!(
    /// A channel (group chat) of a company.
    ChannelId
);
int64_id!(
    /// One call leg; a customer call may span several.
    CallId
);
int64_id!(
    /// One SMS message.
    SmsId
);
int64_id!(
    /// A webhook: where events are delivered, with an optional signing secret.
    WebhookId
);
int64_id!(
    /// The id of a target of any type (user, office, call center, …), read with its type.
    TargetId
);
int64_id!(
    /// An event subscription of any kind (call, SMS, contact, agent status).
    SubscriptionId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_json_strings_and_read_back_from_strings_or_numbers() {
        let id = UserId(5629499534213120);
        assert_eq!(serde_json::to_string(&id).unwrap(), "\"5629499534213120\"");
        let from_string: UserId = serde_json::from_str("\"5629499534213120\"").unwrap();
        let from_number: UserId = serde_json::from_str("5629499534213120").unwrap();
        assert_eq!(from_string, id);
        assert_eq!(from_number, id);
        assert!(serde_json::from_str::<UserId>("\"me\"").is_err());
    }
}
