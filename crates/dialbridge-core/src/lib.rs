//! dialbridge's domain: app settings and scope rules, accounts and their Dialpad connections,
//! the connect flow and the token lifecycle. No HTTP server and no SQL: storage is a trait.

mod account;
mod accounts;
mod actions;
mod app;
mod automation;
mod connect;
mod connections;
mod crypto;
mod dialpad_events;
mod error;
mod executor;
mod ids;
mod metrics;
mod platform;
mod proxy;
mod scopes;
mod secret;
mod store;
mod time;
mod tokens;
mod triggers;
mod vendor_webhooks;
mod workflows;

pub use account::{Account, AccountPatch, AuthType, ConnectionRecord, ConnectionStatus};
pub use accounts::{AccountPage, AccountView, ConnectionView};
pub use actions::{action, catalog as action_catalog, ActionInfo, RetryPolicy};
pub use app::{AppView, CredentialsInput, Environment, EnvironmentView, ScopesInput};
pub use automation::{
    EnablementView, ExecutionPage, ExecutionView, ReplayVersion, StepView, WorkflowView,
};
pub use connect::{CallbackOutcome, CallbackQuery, ConnectLink, ConnectSession, PortalView};
pub use connections::CompanyCheck;
pub use crypto::{hash_api_key, random_token, Cipher, CryptoError, MasterKey, Sealed};
pub use dialpad_events::{IngressOutcome, ProvisioningView};
pub use error::{Error, FieldError, Result};
pub use executor::ExecutorSettings;
pub use ids::AccountId;
pub use metrics::{HttpLabels, Metrics};
pub use platform::{Platform, Settings};
pub use proxy::ProxyRequest;
pub use scopes::{ScopeInfo, ScopeSelection, CATALOG as SCOPE_CATALOG, MANDATORY_SCOPES};
pub use secret::Secret;
pub use store::{
    AccountStore, AdminKeyStore, AppCredentialsRecord, AppStore, ConnectSessionStore,
    ConnectionStore, DeliveryRecord, EnablementRecord, EndpointRecord, EndpointStore, EventRecord,
    ExecutionFilter, ExecutionRecord, ExecutionStatus, ExecutionStore, HookRecord, HookStore,
    RefreshFailure, SettingsStore, StepRecord, StepStatus, Store, StoreError, StoreResult,
    TokenUpdate, WorkflowRecord, WorkflowStore,
};
pub use time::{now_ms, Timestamp};
pub use tokens::Credential;
pub use triggers::{
    classify, event_name_matches, params_match, schedule_ticks, subscription_needs, trigger,
    trigger_catalog, trigger_keys, DialpadEventKind, SubscriptionNeeds, TriggerInfo, CALL_STATES,
};
pub use vendor_webhooks::{
    DeliveryView, EndpointInput, EndpointView, MAX_DELIVERY_ATTEMPTS, VENDOR_EVENT_TYPES,
};
pub use workflows::{
    template, validate as validate_workflow, ConfigField, ConfigType, Definition, OnError,
    RetrySpec, Step, StepKind, TriggerSpec,
};
