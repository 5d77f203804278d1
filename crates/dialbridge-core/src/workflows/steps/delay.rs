//! The `delay` step (`delay: 10m`): a durable pause. Its journal entry holds the wake-up time,
//! and the execution is handed back until then, so the pause survives restarts.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::Kind;
use crate::error::Error;
use crate::executions::{Flow, JournalEntry, StepRun};
use crate::time::Timestamp;
use crate::workflows::definition::duration_text;
use crate::workflows::parse::{join, Reader};
use crate::workflows::validate::StepCheck;

/// The longest delay.
pub const MAX_DELAY: Duration = Duration::from_secs(30 * 24 * 3600);

/// `delay: <duration>` (stored as humantime writes it: `10m`, `1h 30m`).
#[derive(Debug, Clone, PartialEq)]
pub struct DelayStep {
    pub duration: Duration,
}

impl Kind for DelayStep {
    const KEY: &'static str = "delay";

    fn parse(read: &mut Reader, step: &Map<String, Value>, path: &str) -> Option<Self> {
        let duration = read.duration(&step["delay"], &join(path, "delay"))?;
        Some(DelayStep { duration })
    }

    fn write(&self, step: &mut Map<String, Value>) {
        step.insert("delay".into(), json!(duration_text(self.duration)));
    }

    fn validate(&self, check: &mut StepCheck<'_, '_>) {
        if self.duration.is_zero() || self.duration > MAX_DELAY {
            check.error(
                "delay",
                format!(
                    "must be more than 0 and at most {}",
                    duration_text(MAX_DELAY)
                ),
            );
        }
    }

    async fn run(&self, run: &mut StepRun<'_, '_>) -> Result<Flow, Error> {
        let now = Timestamp::now();
        let wake_at = match run.journaled().and_then(|r| r.wake_at) {
            Some(wake_at) => wake_at,
            None => {
                let wake_at = now + self.duration;
                let input = json!({ "delay_ms": self.duration.as_millis() as u64 });
                run.record(JournalEntry::waiting(input, wake_at)).await?;
                wake_at
            }
        };
        if now < wake_at {
            return Ok(Flow::Wait(wake_at));
        }
        let input = run.journaled().and_then(|r| r.input.clone());
        run.succeed(input, json!({ "waited_until": wake_at.as_millis() }), 1)
            .await?;
        Ok(Flow::Done)
    }
}
