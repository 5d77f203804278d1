//! Rotating the master key: every sealed value (`SealedColumn::ALL`) is opened under the
//! previous key and sealed again under the new one, a batch per transaction, each value
//! written only if its row still holds what was read. Servers running meanwhile hold both keys
//! (`--previous-master-key`) and seal under the new one, so a value they rewrite is left
//! alone; passes repeat until none is left under the previous key. The master-key check value
//! is sealed again last, so afterwards a server started with only the previous key refuses to
//! start instead of failing at first use.

use std::fmt;

use crate::admin::{check_value, opens_check_value, MASTER_KEY_CHECK};
use crate::audit::{record_of, Actor, Change};
use crate::crypto::{Cipher, MasterKey, Sealed};
use crate::error::{Error, Result};
use crate::store::{SealedCell, SealedColumn, Store};
use crate::time::Timestamp;

/// Passes over every value before giving up on values still being written under the
/// previous key.
const MAX_PASSES: usize = 5;

/// What a rotation did, per kind of secret.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct RotationReport {
    /// Values sealed again under the new key.
    pub resealed: u64,
    /// Values that were under the new key already (a rotation run again, or written by a
    /// server during this one).
    pub already_current: u64,
    /// Per kind of secret: `(kind, resealed, already_current)`.
    pub columns: Vec<(SealedColumn, u64, u64)>,
}

impl fmt::Display for RotationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} secrets sealed again under the new master key, {} already under it",
            self.resealed, self.already_current
        )?;
        for (column, resealed, current) in &self.columns {
            write!(
                f,
                "\n  {}: {resealed} sealed again, {current} already",
                column.describe()
            )?;
        }
        Ok(())
    }
}

/// One pass over one column: how many values were written, found current, left under the
/// previous key (their row changed before they were written), or opened by neither key.
#[derive(Default)]
struct Pass {
    resealed: u64,
    current: u64,
    left: u64,
    unreadable: u64,
}

/// Re-encrypts every secret of the database from `previous` to `new`, `batch_size` values
/// per transaction, and records the rotation in the audit log. Run it again after an
/// interruption: values already under the new key are counted and left alone.
pub async fn rotate_master_key(
    store: &dyn Store,
    previous: &MasterKey,
    new: &MasterKey,
    batch_size: u32,
) -> Result<RotationReport> {
    let (old, new) = (Cipher::new(previous), Cipher::new(new));
    let batch_size = batch_size.max(1);
    let check = store.get_setting(MASTER_KEY_CHECK).await?;
    if let Some(stored) = &check {
        if !opens_check_value(&new, stored) && !opens_check_value(&old, stored) {
            return Err(Error::Internal(
                "neither key opens this database's master-key check value: the previous key must be the one its servers use now".into(),
            ));
        }
    }

    let mut report = RotationReport::default();
    let mut unreadable = Vec::new();
    for column in SealedColumn::ALL {
        let first = pass(store, column, &old, &new, batch_size).await?;
        let (mut resealed, mut left) = (first.resealed, first.left);
        let mut passes = 1;
        while left > 0 {
            if passes == MAX_PASSES {
                return Err(Error::Internal(format!(
                    "{}: values keep being written under the previous key; start every server with the new --master-key (and the old one as --previous-master-key), then rotate again",
                    column.describe()
                )));
            }
            let again = pass(store, column, &old, &new, batch_size).await?;
            resealed += again.resealed;
            left = again.left;
            passes += 1;
        }
        if first.unreadable > 0 {
            unreadable.push(format!("{} {}", first.unreadable, column.describe()));
        }
        tracing::info!(
            "{}: {resealed} sealed again, {} already under the new key",
            column.describe(),
            first.current
        );
        report.resealed += resealed;
        report.already_current += first.current;
        report.columns.push((column, resealed, first.current));
    }
    if !unreadable.is_empty() {
        return Err(Error::Internal(format!(
            "some values open under neither key ({}); the others were sealed again, the master-key check value was left as it was",
            unreadable.join(", ")
        )));
    }

    store
        .put_setting(MASTER_KEY_CHECK, &check_value(&new))
        .await?;
    let change = Change::new(
        "master_key.rotate",
        "master_key",
        serde_json::json!({
            "resealed": report.resealed,
            "already_current": report.already_current,
        }),
    );
    store
        .insert_audit_record(&record_of(&Actor::CommandLine, change, Timestamp::now()))
        .await?;
    Ok(report)
}

/// One pass over `column`, a batch at a time.
async fn pass(
    store: &dyn Store,
    column: SealedColumn,
    old: &Cipher,
    new: &Cipher,
    batch_size: u32,
) -> Result<Pass> {
    let mut pass = Pass::default();
    let mut after: Option<String> = None;
    loop {
        let cells = store
            .sealed_values(column, after.as_deref(), batch_size)
            .await?;
        let Some(last) = cells.last() else {
            break;
        };
        after = Some(last.row.clone());
        let full = cells.len() == batch_size as usize;
        let mut changes: Vec<(SealedCell, Sealed)> = Vec::new();
        for cell in cells {
            if new.open(&cell.value).is_ok() {
                pass.current += 1;
            } else if let Ok(plaintext) = old.open(&cell.value) {
                let sealed = new.seal(plaintext.expose());
                changes.push((cell, sealed));
            } else {
                pass.unreadable += 1;
            }
        }
        let written = store.reseal(column, &changes).await?;
        pass.resealed += written;
        pass.left += changes.len() as u64 - written;
        if !full {
            break;
        }
    }
    Ok(pass)
}
