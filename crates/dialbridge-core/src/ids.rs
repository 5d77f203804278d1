//! Identifiers: the vendor's own id for an account (a URL-safe string of 1 to 128
//! characters), and the sortable ids dialbridge makes for what it stores.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use rand::RngCore;
use serde::Serialize;

use crate::error::{Error, FieldError};

/// The vendor's id for its customer: 1 to 128 of `A-Z a-z 0-9 - _ . ~`, not only dots.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, utoipa::ToSchema)]
#[serde(transparent)]
#[schema(value_type = String, example = "acme")]
pub struct AccountId(String);

impl AccountId {
    pub fn parse(value: &str) -> Result<Self, Error> {
        let ok_char = |c: char| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '~');
        if value.is_empty() || value.len() > 128 || !value.chars().all(ok_char) {
            return Err(Error::invalid(
                "account_id",
                "must be 1 to 128 characters of A-Z, a-z, 0-9, '-', '_', '.' or '~'",
            ));
        }
        if value.chars().all(|c| c == '.') {
            // `.` and `..` are path segments every URL library normalises away, so such an
            // account could never be addressed again; longer runs of dots go with them.
            return Err(Error::invalid(
                "account_id",
                "must contain a character other than '.': ids made only of dots ('.', '..') are path segments that URLs normalise away",
            ));
        }
        Ok(AccountId(value.to_owned()))
    }

    /// For ids read back from storage, which were checked when written.
    pub fn from_trusted(value: String) -> Self {
        AccountId(value)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<AccountId> for FieldError {
    fn from(id: AccountId) -> Self {
        FieldError::new("account_id", format!("'{id}'"))
    }
}

/// A sortable unique id: a prefix, the time, and 64 random bits (`exe_0193…`). The bits come
/// from the thread's generator (`rand::thread_rng`: a CSPRNG seeded from the OS), not from a
/// system call per id as the secrets of `crypto::random_token` do: every event takes two ids.
pub(crate) fn new_id(prefix: &str) -> String {
    let mut random = [0u8; 8];
    rand::thread_rng().fill_bytes(&mut random);
    format!(
        "{prefix}_{:013x}{}",
        crate::time::Timestamp::now().as_millis(),
        URL_SAFE_NO_PAD.encode(random)
    )
}

#[cfg(test)]
mod tests {
    use super::{new_id, AccountId};

    /// `exe_`, 13 hex digits of milliseconds, 11 base64url characters of randomness; ids made
    /// in the same millisecond still differ, and ids sort by time.
    #[test]
    fn new_ids_keep_their_shape_and_differ() {
        let ids: Vec<String> = (0..10_000).map(|_| new_id("exe")).collect();
        for id in &ids {
            let rest = id.strip_prefix("exe_").unwrap();
            assert_eq!(rest.len(), 24, "{id}");
            assert!(rest[..13].bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
            assert!(
                rest[13..]
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                "{id}"
            );
        }
        let distinct: std::collections::HashSet<&String> = ids.iter().collect();
        assert_eq!(distinct.len(), ids.len());
        assert!(ids.windows(2).all(|w| w[0][..17] <= w[1][..17]));
    }

    #[test]
    fn accepts_url_safe_ids_only() {
        assert!(AccountId::parse("acme-42_x.y~z").is_ok());
        assert!(AccountId::parse(&"a".repeat(128)).is_ok());
        for bad in ["", "a b", "a/b", "ä", &"a".repeat(129)] {
            assert!(AccountId::parse(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn refuses_ids_made_only_of_dots() {
        for bad in [".", "..", "...", &".".repeat(128)] {
            let err = AccountId::parse(bad).expect_err(bad);
            assert_eq!(err.code(), "invalid_input");
            assert!(err.to_string().contains("only of dots"), "{err}");
        }
        for good in [".a", "a..", "..a.", "a.b"] {
            assert!(
                AccountId::parse(good).is_ok(),
                "{good:?} should be accepted"
            );
        }
    }
}
