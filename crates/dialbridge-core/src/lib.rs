//! dialbridge's domain, free of HTTP and SQL. `Platform` holds the parts, each in the module of
//! its concern: the vendor's app (`app`), accounts and connections with the token lifecycle
//! (`connections`), calling Dialpad (`gateway`), actions and the proxy (`actions`), events in
//! and Dialpad subscriptions (`events`), triggers, workflows and executions, and webhooks to
//! the vendor. Storage is a set of traits (`store`) that `dialbridge-storage` implements.

mod actions;
mod admin;
mod app;
mod audit;
mod background;
mod batch;
mod cache;
mod cluster;
mod connections;
mod crypto;
mod error;
mod events;
mod executions;
mod gateway;
mod ids;
mod mcp;
mod metrics;
mod paging;
mod platform;
mod retention;
mod rotation;
mod secret;
mod signals;
mod store;
mod suggest;
mod time;
mod triggers;
mod vendor_webhooks;
mod workflows;

pub use actions::{
    action, catalog as action_catalog, check_action_input, require_action, ActionInfo, Actions,
    ProxyRequest,
};
pub use admin::{Admin, AdminIdentity, AdminKeyInput, AdminKeyView, NewAdminKey, KEY_RECHECK};
pub use app::scopes::{
    plain_words as scope_in_plain_words, ScopeInfo, ScopeSelection, CATALOG as SCOPE_CATALOG,
    MANDATORY_SCOPES,
};
pub use app::{
    AppSettings, AppView, Branding, CredentialsInput, Environment, EnvironmentView, ScopesInput,
    MAX_LOGO_BYTES,
};
pub use audit::{Actor, Audit, AuditEntryView, AuditPage, Change};
pub use background::Background;
pub use cluster::{shard_key, shard_of, Ownership, SHARDS};
pub use connections::{
    Account, AccountPage, AccountPatch, AccountView, AuthType, CallbackOutcome, CallbackQuery,
    CompanyCheck, ConnectLink, ConnectSession, ConnectState, ConnectionRecord, ConnectionStatus,
    ConnectionView, Connections, Credential, LinkStatus, PortalView, Tokens,
};
pub use crypto::{hash_api_key, random_token, Cipher, CryptoError, MasterKey, Sealed};
/// Dialpad's answer to a proxied request (`Actions::proxy`).
pub use dialpad::RawResponse;
pub use error::{Error, FieldError, Resource, Result};
pub use events::{
    legacy_dedupe_key, read_dialpad_event, DialpadEvent, EventHistory, EventPage, EventView,
    Ingress, IngressOutcome, Provisioning, ProvisioningView, RefusedDelivery, WebhookKey,
};
pub use executions::{
    ExecutionPage, ExecutionView, Executions, ExecutorSettings, ReplayVersion, StepView,
};
pub use gateway::{RateLimits, RetryPolicy, Window};
pub use ids::AccountId;
pub use mcp::{
    Grant, Hints, Mcp, McpTokenInput, McpTokenView, NewMcpToken, ResourceInfo, ToolInfo,
    MAX_LIST_ITEMS, WORKFLOW_TOOL_PREFIX,
};
pub use metrics::{HttpLabels, Metrics};
pub use platform::{Parts, Platform, Settings};
pub use retention::Retention;
pub use rotation::{rotate_master_key, RotationReport};
pub use secret::Secret;
pub use signals::{Signal, Signals};
pub use store::{
    AccountStore, AdminKeyStore, AppCredentialsRecord, AppStore, ClaimWant, Claimed, ClusterStore,
    ConnectSessionStore, ConnectionStore, DeliveryRecord, DeliveryWant, EnablementRecord,
    EndpointCircuit, EndpointRecord, EndpointStore, EventRecord, EventsTx, ExecutionFilter,
    ExecutionRecord, ExecutionStatus, ExecutionStore, HookRecord, HookStore, IncomingEvent,
    JournalOutcome, JournalWrite, Purged, RateStore, RefreshFailure, RetentionStore, SettingsStore,
    SignalStore, StepRecord, StepStatus, Store, StoreError, StoreResult, TokenUpdate,
    WorkflowRecord, WorkflowStore,
};
pub use store::{
    AdminKeyRecord, AdminKeyRegistry, AuditRecord, AuditStore, McpTokenRecord, McpTokenStore,
    ResealStore, Revocation, SealedCell, SealedColumn,
};
pub use time::Timestamp;
pub use triggers::{
    classify, event_name_matches, params_match, schedule_ticks, subscription_needs, trigger,
    trigger_catalog, trigger_keys, DialpadEventKind, SubscriptionNeeds, TriggerInfo, CALL_STATES,
};
pub use vendor_webhooks::{
    CircuitState, CircuitView, DeliveryView, EndpointInput, EndpointView, VendorWebhooks,
    MAX_DELIVERY_ATTEMPTS, TEST_EVENT_TYPE, VENDOR_EVENT_TYPES,
};
pub use workflows::{
    template, validate as validate_workflow, ActionStep, ConfigField, ConfigType, Definition,
    DelayStep, EnablementView, ForEachStep, HttpStep, IfStep, OnError, RetrySpec, SetStep, Step,
    StepKind, TriggerSpec, WorkflowView, Workflows,
};
