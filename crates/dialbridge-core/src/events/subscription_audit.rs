//! The audit of each account's Dialpad webhook and subscriptions: subscriptions can vanish at
//! Dialpad (deleted by hand, lost on their side), so each account is reconciled again once per
//! audit interval (default daily), at a moment of the interval fixed by a hash of its id — the
//! accounts spread evenly over the day instead of all at once. Each process audits the accounts
//! of the shards it holds, in small leased batches, a few at a time; an audit that finds
//! nothing to change writes only its next moment. Changes reconcile at once (`sync`), not here.

use std::time::Duration;

use crate::cluster::stable_hash;
use crate::error::Result;
use crate::ids::AccountId;
use crate::time::Timestamp;

use super::Provisioning;

/// Accounts one claim takes.
const AUDIT_BATCH: u32 = 32;
/// Audits a process runs at once (each is about five Dialpad calls, one after another).
const AUDIT_CONCURRENCY: usize = 4;
/// How long a claimed audit stays the claimer's, at most; a process that dies mid-audit leaves
/// the account due again after this, or after one audit interval when that is shorter (an
/// audit is a few Dialpad calls: it never needs the whole interval).
const AUDIT_LEASE: Duration = Duration::from_secs(10 * 60);
/// A provisioning that failed is tried again after this (or the audit interval if shorter).
const RETRY_FAILED: Duration = Duration::from_secs(5 * 60);

/// The account's next audit moment after `now`: the next time the clock passes the account's
/// offset within the interval.
pub(crate) fn next_audit(account: &AccountId, now: Timestamp, interval: Duration) -> Timestamp {
    let period = i64::try_from(interval.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    let offset = (stable_hash(account.as_str()) % period as u64) as i64;
    let since_slot = (now.as_millis() - offset).rem_euclid(period);
    Timestamp::from_millis(now.as_millis() - since_slot + period)
}

/// When a provisioning that failed at `now` is tried again.
pub(crate) fn retry_failed(now: Timestamp, interval: Duration) -> Timestamp {
    now + RETRY_FAILED.min(interval)
}

impl Provisioning {
    /// Moves audits planned further ahead than one interval (planned under a longer one) to
    /// the same point of the current interval, so a shorter interval holds from the first
    /// cycle on; answers how many moved.
    pub async fn bring_audits_within_interval(&self) -> Result<u64> {
        let interval = self.shared.settings().audit_interval;
        let period = i64::try_from(interval.as_millis())
            .unwrap_or(i64::MAX)
            .max(1);
        Ok(self
            .hooks
            .bring_audits_within(Timestamp::now(), period)
            .await?)
    }

    /// Audits the accounts of the held shards whose moment has come. Answers how many.
    pub async fn audit_due(&self) -> Result<usize> {
        let shards: Vec<i64> = self.shared.ownership().shards().iter().copied().collect();
        let lease = AUDIT_LEASE.min(self.shared.settings().audit_interval);
        let mut audited = 0;
        loop {
            let now = Timestamp::now();
            let batch = self
                .hooks
                .claim_audits(&shards, now, now + lease, AUDIT_BATCH)
                .await?;
            if batch.is_empty() {
                return Ok(audited);
            }
            let mut running = tokio::task::JoinSet::new();
            for account in batch {
                while running.len() >= AUDIT_CONCURRENCY {
                    running.join_next().await;
                }
                let provisioning = self.clone();
                running.spawn(async move {
                    if let Err(e) = provisioning.reconcile(&account).await {
                        tracing::warn!(account_id = %account, "subscription audit failed: {e}");
                    }
                });
                audited += 1;
            }
            while running.join_next().await.is_some() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_account_has_its_own_moment_of_the_interval() {
        let day = Duration::from_secs(86_400);
        let now = Timestamp::from_millis(1_790_000_000_000);
        let account = AccountId::from_trusted("acme".into());
        let next = next_audit(&account, now, day);
        assert!(next > now && next <= now + day);
        // The same moment of the next interval, whenever it is asked during this one.
        assert_eq!(next_audit(&account, next, day), next + day);
        assert_eq!(
            next_audit(&account, next - Duration::from_millis(1), day),
            next
        );
        // Accounts spread over the interval.
        let hours: std::collections::BTreeSet<i64> = (0..500)
            .map(|i| {
                let account = AccountId::from_trusted(format!("account-{i}"));
                next_audit(&account, now, day).since(now).as_secs() as i64 / 3600
            })
            .collect();
        assert_eq!(hours.len(), 24, "{hours:?}");
    }
}
