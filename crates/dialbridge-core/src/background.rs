//! The work a process does besides answering requests, started together and stopped together:
//! the executor, the scheduler, vendor-webhook deliveries, the refresh of idle connections'
//! tokens (with the purge of old connect links), the audit of Dialpad subscriptions, and
//! retention.

use std::future::Future;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::connections::Tokens;
use crate::platform::Platform;
use crate::signals::Signal;
use crate::time::Timestamp;

/// How often history past its retention is purged (and the coming days' partitions made).
const RETENTION_CYCLE: Duration = Duration::from_secs(3600);
/// Connect links are forgotten this long after they expired.
const KEEP_EXPIRED_LINKS: Duration = Duration::from_secs(24 * 3600);

/// The running background tasks.
pub struct Background {
    /// Stopped at once on shutdown: what they were doing is safe to cut short.
    interruptible: Vec<JoinHandle<()>>,
    /// Awaited on shutdown: they stop claiming and finish what they hold.
    draining: Vec<JoinHandle<()>>,
    /// Its token exchanges under way are awaited too: a refresh token Dialpad may have spent
    /// is not dropped with the answer that replaces it.
    tokens: Tokens,
}

impl Platform {
    /// Starts every background task; they stop when `shutdown` fires (see `Background::wait`).
    pub fn start_background(&self, shutdown: CancellationToken) -> Background {
        let settings = self.settings();
        let mut draining = Vec::new();
        if let Some(cluster) = self.take_cluster() {
            // Drained, so the shards are given back on a clean shutdown.
            draining.push(tokio::spawn(cluster.run(shutdown.clone())));
        }
        let signals = self.signals().clone();
        let stop = shutdown.clone();
        let relay = tokio::spawn(async move { signals.relay(stop).await });
        let caches = self.forget_stale_configuration(shutdown.clone());
        let executions = self.executions.clone();
        let stop = shutdown.clone();
        let executor = tokio::spawn(async move { executions.run_executor(stop).await });
        let vendor_webhooks = self.vendor_webhooks.clone();
        let (stop, retry_base) = (shutdown.clone(), settings.webhook_retry_base);
        let deliveries =
            tokio::spawn(async move { vendor_webhooks.run_deliveries(retry_base, stop).await });
        let executions = self.executions.clone();
        let (stop, every) = (shutdown.clone(), settings.schedule_interval);
        let scheduler = tokio::spawn(async move { executions.run_scheduler(every, stop).await });

        let platform = self.clone();
        let refresh = every_interval(
            settings.refresh_interval,
            true,
            shutdown.clone(),
            move || {
                let platform = platform.clone();
                async move { platform.refresh_idle_connections().await }
            },
        );
        let provisioning = self.provisioning.clone();
        // Looks often enough that an audit starts within a minute (or a tenth of a short
        // interval) of its moment; each look is one indexed query when nothing is due.
        let look =
            (settings.audit_interval / 10).clamp(Duration::from_secs(1), Duration::from_secs(60));
        // The first look also brings audits planned under a longer interval (a restart with a
        // shorter `--audit-interval-secs`) within the new one.
        let shortened = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let audit = every_interval(look, true, shutdown.clone(), move || {
            let (provisioning, shortened) = (provisioning.clone(), shortened.clone());
            async move {
                if !shortened.load(std::sync::atomic::Ordering::Relaxed) {
                    match provisioning.bring_audits_within_interval().await {
                        Ok(moved) => {
                            shortened.store(true, std::sync::atomic::Ordering::Relaxed);
                            if moved > 0 {
                                tracing::info!(moved, "audits brought within the audit interval");
                            }
                        }
                        Err(e) => tracing::warn!("bringing audits within the interval: {e}"),
                    }
                }
                match provisioning.audit_due().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(audited = n, "audited Dialpad subscriptions"),
                    Err(e) => tracing::warn!("auditing Dialpad subscriptions: {e}"),
                }
            }
        });
        let retention = self.retention.clone();
        let purge = every_interval(RETENTION_CYCLE, true, shutdown, move || {
            let retention = retention.clone();
            async move {
                if let Err(e) = retention.run_cycle().await {
                    tracing::warn!("retention: {e}");
                }
            }
        });
        draining.extend([executor, deliveries]);
        Background {
            interruptible: vec![scheduler, refresh, audit, purge, relay, caches],
            draining,
            tokens: self.tokens.clone(),
        }
    }

    /// Empties the configuration caches when another process changed the configuration, and
    /// forgets an account whose connection it changed (this process does both itself as it
    /// makes the change).
    fn forget_stale_configuration(&self, shutdown: CancellationToken) -> JoinHandle<()> {
        let platform = self.clone();
        let mut signals = self.signals().subscribe();
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    signal = signals.recv() => match signal {
                        Ok(Signal::Config) | Err(broadcast::error::RecvError::Lagged(_)) => {
                            platform.clear_caches();
                        }
                        Ok(Signal::Account(account)) => platform.forget_account(&account),
                        Ok(_) => {}
                        Err(broadcast::error::RecvError::Closed) => return,
                    },
                }
            }
        })
    }

    /// Keeps idle connections' tokens fresh and forgets long-expired connect links.
    async fn refresh_idle_connections(&self) {
        match self.tokens.refresh_due().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(refreshed = n, "refreshed expiring tokens"),
            Err(e) => tracing::warn!("background refresh: {e}"),
        }
        if let Err(e) = self
            .connections
            .purge_connect_links(Timestamp::now() - KEEP_EXPIRED_LINKS)
            .await
        {
            tracing::warn!("purging old connect links: {e}");
        }
    }
}

impl Background {
    /// After the shutdown token fired: stops what can be cut short and waits for the executor
    /// (it stops claiming; running steps finish or resume elsewhere), the webhook worker
    /// (attempts under way finish, each bounded by its timeout) and the token exchanges under
    /// way (each bounded by its timeout).
    pub async fn wait(self) {
        for task in self.interruptible {
            task.abort();
        }
        for task in self.draining {
            let _ = task.await;
        }
        self.tokens.finish_exchanges().await;
    }
}

/// Runs `work` every `every` until `shutdown`, first at once when `at_start`.
fn every_interval<F, Fut>(
    every: Duration,
    at_start: bool,
    shutdown: CancellationToken,
    work: F,
) -> JoinHandle<()>
where
    F: Fn() -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send,
{
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(every.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        if !at_start {
            tick.tick().await;
        }
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => {}
            }
            work().await;
        }
    })
}
