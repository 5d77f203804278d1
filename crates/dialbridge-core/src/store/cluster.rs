//! What sharing the work between processes needs from the database: who is alive, who holds
//! which shard, and a channel for signals. SQLite serves one process: it shares nothing.

use async_trait::async_trait;
use tokio::sync::mpsc;

use super::StoreResult;
use crate::gateway::Window;
use crate::time::Timestamp;

#[async_trait]
pub trait ClusterStore: Send + Sync {
    /// Whether several processes may share this database (PostgreSQL).
    fn shares_work(&self) -> bool;
    /// Records that `owner` is alive at `now`, forgets processes not heard of since
    /// `alive_since` (and frees their shards); answers how many processes are alive.
    async fn heartbeat(
        &self,
        owner: &str,
        now: Timestamp,
        alive_since: Timestamp,
    ) -> StoreResult<u32>;
    /// Renews the shards `owner` holds until `until`, takes free or expired ones until it
    /// holds `want`, and gives back any beyond `want` (highest first); answers the shards it
    /// holds. Two owners never hold one shard.
    async fn hold_shards(
        &self,
        owner: &str,
        now: Timestamp,
        until: Timestamp,
        want: u32,
    ) -> StoreResult<Vec<i64>>;
    /// Gives back every shard of `owner` and forgets it (a clean shutdown).
    async fn leave(&self, owner: &str) -> StoreResult<()>;
}

#[async_trait]
pub trait SignalStore: Send + Sync {
    /// Whether signals reach other processes (PostgreSQL).
    fn shares_signals(&self) -> bool;
    /// Sends signal texts to every listening process (this one included).
    async fn publish(&self, texts: &[String]) -> StoreResult<()>;
    /// A stream of the signal texts other processes publish; it ends when the connection
    /// drops (listen again).
    async fn listen(&self) -> StoreResult<mpsc::Receiver<String>>;
}

/// The throttle's windows, shared by the processes of a cluster.
#[async_trait]
pub trait RateStore: Send + Sync {
    /// Whether the windows are kept here for several processes (PostgreSQL); otherwise each
    /// process throttles in memory.
    fn shares_rate_windows(&self) -> bool;
    /// In one transaction that holds them against every other updater: reads the windows of
    /// `keys` (empty for a key not seen before), lets `update` change them, and stores them.
    async fn update_rate_windows(
        &self,
        keys: &[String],
        now: Timestamp,
        update: &mut (dyn for<'w> FnMut(&'w mut [Window]) + Send),
    ) -> StoreResult<()>;
}
