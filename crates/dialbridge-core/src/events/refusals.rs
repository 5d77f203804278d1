//! Dialpad deliveries this process refused (a signature that did not verify, an expired or
//! malformed token): never stored — unauthenticated input must not be able to fill the
//! database — but the last `KEPT` of them are kept in memory, so the events page can say why
//! an expected event never arrived. Only deliveries to a known webhook are kept (each names
//! its account); posts to unknown hook ids are scanners' noise.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::ids::AccountId;
use crate::time::Timestamp;

/// How many refusals a process keeps.
const KEPT: usize = 200;

/// One refused delivery.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RefusedDelivery {
    pub account_id: AccountId,
    pub received_at: Timestamp,
    /// The error code it was answered with (`invalid_signature`, `invalid_input`, …).
    pub code: String,
    pub message: String,
}

/// The last refusals of this process, newest first when listed.
#[derive(Clone, Default)]
pub struct RefusedDeliveries(Arc<Mutex<VecDeque<RefusedDelivery>>>);

impl RefusedDeliveries {
    pub(crate) fn record(&self, refused: RefusedDelivery) {
        let mut kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if kept.len() == KEPT {
            kept.pop_front();
        }
        kept.push_back(refused);
    }

    /// Newest first, only `account`'s when given.
    pub fn list(&self, account: Option<&AccountId>) -> Vec<RefusedDelivery> {
        let kept = self.0.lock().unwrap_or_else(|p| p.into_inner());
        kept.iter()
            .rev()
            .filter(|r| account.is_none_or(|a| &r.account_id == a))
            .cloned()
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(account: &str, n: i64) -> RefusedDelivery {
        RefusedDelivery {
            account_id: AccountId::from_trusted(account.to_owned()),
            received_at: Timestamp::from_millis(n),
            code: "invalid_signature".into(),
            message: String::new(),
        }
    }

    #[test]
    fn the_last_ones_are_kept_newest_first() {
        let log = RefusedDeliveries::default();
        for n in 0..(KEPT as i64 + 5) {
            log.record(refused(if n % 2 == 0 { "a" } else { "b" }, n));
        }
        let all = log.list(None);
        assert_eq!(all.len(), KEPT, "bounded");
        assert_eq!(all[0].received_at, Timestamp::from_millis(KEPT as i64 + 4));
        let a = log.list(Some(&AccountId::from_trusted("a".to_owned())));
        assert!(a.iter().all(|r| r.account_id.as_str() == "a"));
        assert_eq!(a.len(), KEPT / 2);
    }
}
