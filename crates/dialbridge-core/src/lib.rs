//! dialbridge's domain: app settings and scope rules, accounts and their Dialpad connections,
//! the connect flow and the token lifecycle. No HTTP server and no SQL: storage is a trait.

mod account;
mod accounts;
mod actions;
mod app;
mod connect;
mod connections;
mod crypto;
mod error;
mod ids;
mod platform;
mod proxy;
mod scopes;
mod secret;
mod store;
mod time;
mod tokens;

pub use account::{Account, AccountPatch, AuthType, ConnectionRecord, ConnectionStatus};
pub use accounts::{AccountPage, AccountView, ConnectionView};
pub use actions::{action, catalog as action_catalog, ActionInfo, RetryPolicy};
pub use app::{AppView, CredentialsInput, Environment, EnvironmentView, ScopesInput};
pub use connect::{CallbackOutcome, CallbackQuery, ConnectLink, ConnectSession, PortalView};
pub use connections::CompanyCheck;
pub use crypto::{hash_api_key, random_token, Cipher, CryptoError, MasterKey, Sealed};
pub use error::{Error, FieldError, Result};
pub use ids::AccountId;
pub use platform::{Platform, Settings};
pub use proxy::ProxyRequest;
pub use scopes::{ScopeInfo, ScopeSelection, CATALOG as SCOPE_CATALOG, MANDATORY_SCOPES};
pub use secret::Secret;
pub use store::{
    AccountStore, AdminKeyStore, AppCredentialsRecord, AppStore, ConnectSessionStore,
    ConnectionStore, RefreshFailure, SettingsStore, Store, StoreError, StoreResult, TokenUpdate,
};
pub use time::{now_ms, Timestamp};
pub use tokens::Credential;
