//! Workflows as the vendor manages them: the `Workflows` part saves definitions as versions and
//! enables them per account with config (`config.rs`). The definition model is in
//! `definition.rs`, read from YAML or JSON by `parse.rs`, validated on save by `validate.rs`;
//! each step kind has one module in `steps/` owning its parsing, stored form, checks and run.
//! The template language steps use is `template/` (its budget in `budget.rs`, `operators.rs`, `filters.rs`). Executions run them (`executions/`).

mod config;
mod definition;
mod parse;
mod steps;
pub mod template;
#[cfg(test)]
mod tests;
mod validate;

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use crate::error::{Error, Resource, Result};
use crate::events::Provisioning;
use crate::ids::AccountId;
use crate::platform::Shared;
use crate::store::{AccountStore, EnablementRecord, WorkflowRecord, WorkflowStore};
use crate::time::Timestamp;
use config::check_config;

pub use definition::{ConfigField, ConfigType, Definition, OnError, RetrySpec, Step, TriggerSpec};
pub use steps::{ActionStep, DelayStep, ForEachStep, HttpStep, IfStep, SetStep, StepKind};
pub use validate::validate;

pub(crate) use validate::schema_problems;

/// A workflow's latest (or a given) version as the API shows it.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct WorkflowView {
    pub key: String,
    pub version: i64,
    #[schema(value_type = Object)]
    pub definition: Value,
    pub created_at: Timestamp,
}

impl From<WorkflowRecord> for WorkflowView {
    fn from(record: WorkflowRecord) -> Self {
        WorkflowView {
            key: record.key,
            version: record.version,
            definition: record.definition,
            created_at: record.created_at,
        }
    }
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnablementView {
    pub account_id: AccountId,
    pub workflow: String,
    #[schema(value_type = Object)]
    pub config: Value,
    pub enabled_at: Timestamp,
    pub updated_at: Timestamp,
}

impl From<EnablementRecord> for EnablementView {
    fn from(record: EnablementRecord) -> Self {
        EnablementView {
            account_id: record.account_id,
            workflow: record.workflow_key,
            config: record.config,
            enabled_at: record.created_at,
            updated_at: record.updated_at,
        }
    }
}

/// Not found: no saved workflow is called `key` (the closest saved key is suggested).
pub(crate) async fn unknown_workflow(store: &dyn WorkflowStore, key: &str) -> Error {
    match store.list_workflows().await {
        Ok(saved) => {
            let keys: Vec<&str> = saved.iter().map(|w| w.key.as_str()).collect();
            Error::unknown(Resource::Workflow, key, &keys)
        }
        Err(e) => e.into(),
    }
}

/// Saves, reads and enables workflows.
#[derive(Clone)]
pub struct Workflows {
    pub(crate) workflows: Arc<dyn WorkflowStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) provisioning: Provisioning,
    pub(crate) shared: Shared,
}

impl Workflows {
    async fn require_account(&self, account: &AccountId) -> Result<()> {
        match self.accounts.get_account(account).await? {
            Some(_) => Ok(()),
            None => Err(Error::not_found(Resource::Account, account.as_str())),
        }
    }

    /// Saves a new version of workflow `key` from JSON or YAML; answers the version.
    pub async fn save(&self, key: &str, body: &[u8], content_type: Option<&str>) -> Result<i64> {
        check_key(key)?;
        let definition = Definition::parse(body, content_type).map_err(Error::InvalidInput)?;
        let version = self
            .workflows
            .insert_workflow_version(key, &definition.to_value(), Timestamp::now())
            .await?;
        self.shared.config_changed().await;
        tracing::info!(workflow = key, version, "workflow saved");
        Ok(version)
    }

    pub async fn get(&self, key: &str, version: Option<i64>) -> Result<WorkflowView> {
        if let Some(record) = self.workflows.get_workflow(key, version).await? {
            return Ok(record.into());
        }
        if let Some(version) = version {
            return Err(Error::not_found(
                Resource::Workflow,
                format!("{key} version {version}"),
            ));
        }
        Err(unknown_workflow(self.workflows.as_ref(), key).await)
    }

    pub async fn list(&self) -> Result<Vec<WorkflowView>> {
        Ok(self
            .workflows
            .list_workflows()
            .await?
            .into_iter()
            .map(WorkflowView::from)
            .collect())
    }

    /// Deletes the workflow and its enablements; executions keep their versions.
    pub async fn delete(&self, key: &str) -> Result<()> {
        let accounts: Vec<AccountId> = self
            .workflows
            .list_enablements(None, Some(key))
            .await?
            .into_iter()
            .map(|e| e.account_id)
            .collect();
        if !self
            .workflows
            .delete_workflow(key, Timestamp::now())
            .await?
        {
            return Err(unknown_workflow(self.workflows.as_ref(), key).await);
        }
        self.shared.config_changed().await;
        for account in accounts {
            self.provisioning.sync(&account).await;
        }
        Ok(())
    }

    /// Enables the workflow for the account with `config` checked against its config fields
    /// (defaults applied).
    pub async fn enable(
        &self,
        account: &AccountId,
        key: &str,
        config: &Value,
    ) -> Result<EnablementView> {
        self.require_account(account).await?;
        let workflow = self.get(key, None).await?;
        let definition =
            Definition::from_value(&workflow.definition).map_err(Error::InvalidInput)?;
        let config = check_config(&definition, config)?;
        let now = Timestamp::now();
        let existing = self.workflows.get_enablement(account, key).await?;
        let record = EnablementRecord {
            account_id: account.clone(),
            workflow_key: key.to_owned(),
            config,
            created_at: existing.map_or(now, |e| e.created_at),
            updated_at: now,
        };
        self.workflows.put_enablement(&record).await?;
        self.shared.config_changed().await;
        self.provisioning.sync(account).await;
        Ok(record.into())
    }

    pub async fn disable(&self, account: &AccountId, key: &str) -> Result<()> {
        if !self.workflows.delete_enablement(account, key).await? {
            if self.workflows.get_workflow(key, None).await?.is_none() {
                return Err(unknown_workflow(self.workflows.as_ref(), key).await);
            }
            return Err(Error::NotEnabled {
                account: account.clone(),
                workflow: key.to_owned(),
            });
        }
        self.shared.config_changed().await;
        self.provisioning.sync(account).await;
        Ok(())
    }

    pub async fn enabled_for(&self, account: &AccountId) -> Result<Vec<EnablementView>> {
        self.require_account(account).await?;
        Ok(self
            .workflows
            .list_enablements(Some(account), None)
            .await?
            .into_iter()
            .map(EnablementView::from)
            .collect())
    }
}

pub(crate) fn check_key(key: &str) -> Result<()> {
    let ok = !key.is_empty()
        && key.len() <= 64
        && key
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '_' | '-'));
    if ok {
        Ok(())
    } else {
        Err(Error::invalid(
            "key",
            "must be 1 to 64 characters of a-z, 0-9, '_' or '-'",
        ))
    }
}
