//! Sharing the work between processes. Accounts map to a fixed number of shards — by their
//! Dialpad company once connected, so one company's limits live in one process — and each
//! process holds a fair share of the shards by lease in the database, renewing them while it
//! lives and giving extras back when another process joins. Claims, proactive refreshes and
//! audits touch only the shards a process holds; one that dies has its shards taken over once
//! its leases run out. With SQLite there is one process, and it holds every shard.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::store::ClusterStore;
use crate::time::Timestamp;

/// How many shards the accounts are spread over. Fixed: it is part of every stored shard.
pub const SHARDS: u32 = 64;

/// The shard of an account: of its Dialpad company when known, else of its own id.
pub fn shard_of(key: &str) -> i64 {
    (stable_hash(key) % u64::from(SHARDS)) as i64
}

/// FNV-1a: every process and every version computes the same value for a key (shards, the
/// moment of an account's daily audit).
pub(crate) fn stable_hash(key: &str) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in key.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    hash
}

/// The shard key of an account: `company:<id>` when its Dialpad company is known.
pub fn shard_key(account_id: &str, company_id: Option<&str>) -> String {
    match company_id {
        Some(company) => format!("company:{company}"),
        None => format!("account:{account_id}"),
    }
}

/// The shards this process holds now; the executor, the refresh and the audit read it.
#[derive(Clone)]
pub struct Ownership(watch::Receiver<Arc<BTreeSet<i64>>>);

impl Ownership {
    /// Every shard, for a process that works alone (SQLite).
    pub(crate) fn all() -> (watch::Sender<Arc<BTreeSet<i64>>>, Ownership) {
        let (tx, rx) = watch::channel(Arc::new((0..i64::from(SHARDS)).collect()));
        (tx, Ownership(rx))
    }

    pub fn shards(&self) -> Arc<BTreeSet<i64>> {
        self.0.borrow().clone()
    }

    pub fn holds(&self, shard: i64) -> bool {
        self.0.borrow().contains(&shard)
    }

    /// Waits until the held shards change; forever once nothing can change them any more (on
    /// SQLite the one process holds every shard and the cluster task is gone).
    pub async fn changed(&mut self) {
        if self.0.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// How the shards are shared: by leases in the database (PostgreSQL), or all held here.
pub(crate) struct Cluster {
    store: Arc<dyn ClusterStore>,
    owner: String,
    lease: Duration,
    held: watch::Sender<Arc<BTreeSet<i64>>>,
}

impl Cluster {
    pub(crate) fn new(
        store: Arc<dyn ClusterStore>,
        owner: String,
        lease: Duration,
    ) -> (Cluster, Ownership) {
        let (held, ownership) = Ownership::all();
        if store.shares_work() {
            held.send_replace(Arc::new(BTreeSet::new()));
        }
        (
            Cluster {
                store,
                owner,
                lease,
                held,
            },
            ownership,
        )
    }

    /// Keeps this process's fair share of the shards until `shutdown`, then gives them back
    /// so the others take them over at once. A no-op with SQLite.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        if !self.store.shares_work() {
            return;
        }
        let lease = self.lease;
        let mut last_held = Timestamp::now();
        loop {
            if self.hold(lease).await {
                last_held = Timestamp::now();
            } else if Timestamp::now().since(last_held) >= lease {
                // Our leases have run out: others may hold these shards now.
                self.held.send_replace(Arc::new(BTreeSet::new()));
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(lease / 3) => {}
            }
        }
        self.held.send_replace(Arc::new(BTreeSet::new()));
        if let Err(e) = self.store.leave(&self.owner).await {
            tracing::warn!("giving the shards back failed: {e}");
        }
    }

    /// One round: heartbeat, then renew, take or give back shards to hold a fair share.
    /// Answers whether the leases were renewed.
    async fn hold(&self, lease: Duration) -> bool {
        let owner = self.owner.as_str();
        let now = Timestamp::now();
        let held = async {
            let live = self.store.heartbeat(owner, now, now - lease).await?;
            let fair = SHARDS.div_ceil(live.max(1));
            self.store.hold_shards(owner, now, now + lease, fair).await
        }
        .await;
        match held {
            Ok(shards) => {
                let shards: BTreeSet<i64> = shards.into_iter().collect();
                if **self.held.borrow() != shards {
                    tracing::info!(held = shards.len(), "shards held by this process changed");
                    self.held.send_replace(Arc::new(shards));
                }
                true
            }
            Err(e) => {
                // Keep working on what we hold until the leases would have run out; another
                // round may renew them.
                tracing::warn!("renewing shard leases failed: {e}");
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shards_are_stable_and_spread() {
        assert_eq!(shard_of("company:123"), shard_of("company:123"));
        let mut seen = BTreeSet::new();
        for i in 0..1000 {
            let shard = shard_of(&format!("account:a{i}"));
            assert!((0..i64::from(SHARDS)).contains(&shard));
            seen.insert(shard);
        }
        assert_eq!(seen.len(), SHARDS as usize, "1000 keys reach every shard");
        // A published value: changing the function would move every stored account.
        assert_eq!(shard_of(""), (0xcbf2_9ce4_8422_2325u64 % 64) as i64);
    }

    /// A process alone (SQLite) drops the sender: `changed` must then wait forever, not answer
    /// at once — the executor's loop selects on it, and an answer at once made it spin a core
    /// while idle.
    #[tokio::test]
    async fn with_nothing_left_to_change_the_shards_changed_never_answers() {
        let (sender, mut ownership) = Ownership::all();
        drop(sender);
        let answered =
            tokio::time::timeout(std::time::Duration::from_millis(200), ownership.changed()).await;
        assert!(answered.is_err(), "changed() answered with no sender left");
        assert_eq!(ownership.shards().len(), SHARDS as usize);
    }

    #[tokio::test]
    async fn a_change_of_the_shards_is_seen() {
        let (sender, mut ownership) = Ownership::all();
        let waiter = tokio::spawn(async move {
            ownership.changed().await;
            ownership.shards()
        });
        sender.send_replace(Arc::new([3].into_iter().collect()));
        let seen = tokio::time::timeout(std::time::Duration::from_secs(5), waiter)
            .await
            .expect("the change was seen")
            .unwrap();
        assert_eq!(*seen, [3].into_iter().collect::<BTreeSet<i64>>());
    }
}
