//! Telling processes what changed, so none has to poll for it: work queued for an account, an
//! execution cancelled, the configuration (workflows, enablements, accounts, hooks, vendor
//! endpoints) changed, an account's connection changed. Signals go to this process at once
//! and, through the store, to the others (PostgreSQL `LISTEN`/`NOTIFY`); a signal that is lost
//! only delays, because every listener also looks on its own every second (the caches expire
//! after seconds).

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::ids::AccountId;
use crate::store::SignalStore;

/// What changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Executions of these accounts (in this shard) became claimable.
    Work {
        shard: i64,
        accounts: Vec<AccountId>,
    },
    /// This execution was cancelled: stop it where it runs.
    Cancel { execution_id: String },
    /// Workflows, enablements, accounts, hooks or vendor endpoints changed: cached views of
    /// them are stale.
    Config,
    /// This account's connection changed (its tokens, its status): a cached copy is stale.
    Account(AccountId),
}

/// The longest text a signal may take (PostgreSQL's payload limit is 8000 bytes).
const MAX_TEXT: usize = 7_900;

impl Signal {
    /// The signals as texts, splitting the accounts of a large `Work` over several.
    pub fn to_texts(&self) -> Vec<String> {
        match self {
            Signal::Work { shard, accounts } => {
                let mut texts = Vec::new();
                let mut text = format!("work:{shard}:");
                let empty = text.len();
                for account in accounts {
                    if text.len() + account.as_str().len() + 1 > MAX_TEXT {
                        texts.push(std::mem::replace(&mut text, format!("work:{shard}:")));
                    }
                    if text.len() > empty {
                        text.push(',');
                    }
                    text.push_str(account.as_str());
                }
                texts.push(text);
                texts
            }
            Signal::Cancel { execution_id } => vec![format!("cancel:{execution_id}")],
            Signal::Config => vec!["config".to_owned()],
            Signal::Account(account) => vec![format!("account:{account}")],
        }
    }

    /// A signal from its text; `None` for anything else (another version's signal).
    pub fn parse(text: &str) -> Option<Signal> {
        if text == "config" {
            return Some(Signal::Config);
        }
        if let Some(account) = text.strip_prefix("account:") {
            return AccountId::parse(account).ok().map(Signal::Account);
        }
        if let Some(id) = text.strip_prefix("cancel:") {
            return Some(Signal::Cancel {
                execution_id: id.to_owned(),
            });
        }
        let rest = text.strip_prefix("work:")?;
        let (shard, accounts) = rest.split_once(':')?;
        let accounts = accounts
            .split(',')
            .filter(|a| !a.is_empty())
            .map(|a| AccountId::parse(a).ok())
            .collect::<Option<Vec<_>>>()?;
        Some(Signal::Work {
            shard: shard.parse().ok()?,
            accounts,
        })
    }
}

/// This process's signal bus.
#[derive(Clone)]
pub struct Signals {
    local: broadcast::Sender<Signal>,
    store: Arc<dyn SignalStore>,
}

impl Signals {
    pub(crate) fn new(store: Arc<dyn SignalStore>) -> Self {
        let (local, _) = broadcast::channel(4096);
        Signals { local, store }
    }

    /// Tells this process at once and the others through the store. A failure to tell the
    /// others is logged: they find the change by looking on their own.
    pub async fn send(&self, signal: Signal) {
        let _ = self.local.send(signal.clone());
        if self.store.shares_signals() {
            if let Err(e) = self.store.publish(&signal.to_texts()).await {
                tracing::warn!("telling other processes failed ({signal:?}): {e}");
            }
        }
    }

    /// Everything sent from now on, here or (through `relay`) by other processes.
    pub fn subscribe(&self) -> broadcast::Receiver<Signal> {
        self.local.subscribe()
    }

    /// Feeds other processes' signals into this process's bus until `shutdown`; reconnects
    /// when the listening connection drops.
    pub(crate) async fn relay(&self, shutdown: tokio_util::sync::CancellationToken) {
        if !self.store.shares_signals() {
            return;
        }
        loop {
            let mut texts = match self.store.listen().await {
                Ok(texts) => texts,
                Err(e) => {
                    tracing::warn!("listening for other processes' signals failed: {e}");
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        _ = tokio::time::sleep(std::time::Duration::from_secs(1)) => continue,
                    }
                }
            };
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    text = texts.recv() => match text {
                        Some(text) => {
                            if let Some(signal) = Signal::parse(&text) {
                                let _ = self.local.send(signal);
                            }
                        }
                        None => break,
                    },
                }
            }
            tracing::info!("the signal connection dropped; listening again");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signals_round_trip_through_text() {
        let a = AccountId::parse("acme").unwrap();
        let b = AccountId::parse("b-2").unwrap();
        for signal in [
            Signal::Config,
            Signal::Cancel {
                execution_id: "exe_1".into(),
            },
            Signal::Account(b.clone()),
            Signal::Work {
                shard: 7,
                accounts: vec![a.clone(), b.clone()],
            },
        ] {
            let texts = signal.to_texts();
            assert_eq!(texts.len(), 1);
            assert_eq!(Signal::parse(&texts[0]), Some(signal));
        }
        assert_eq!(Signal::parse("something:else"), None);
    }

    #[test]
    fn a_large_work_signal_is_split_under_the_payload_limit() {
        let accounts: Vec<AccountId> = (0..1000)
            .map(|i| AccountId::parse(&format!("account-{i:04}-{}", "x".repeat(20))).unwrap())
            .collect();
        let texts = Signal::Work {
            shard: 3,
            accounts: accounts.clone(),
        }
        .to_texts();
        assert!(texts.len() > 1);
        let mut back = Vec::new();
        for text in &texts {
            assert!(text.len() <= MAX_TEXT);
            match Signal::parse(text) {
                Some(Signal::Work { shard: 3, accounts }) => back.extend(accounts),
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(back, accounts);
    }
}
