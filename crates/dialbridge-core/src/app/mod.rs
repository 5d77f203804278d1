//! The vendor's Dialpad OAuth app: credentials per environment and the scope selection, and
//! the view of it (never a secret). Other parts ask it for an environment's base URL and OAuth
//! client.

mod branding;
mod environment;
pub(crate) mod scopes;

pub use branding::{Branding, MAX_LOGO_BYTES};
pub use environment::Environment;

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, FieldError, Result};
use crate::gateway::RateLimits;
use crate::platform::Shared;
use crate::store::{AppCredentialsRecord, AppStore, SettingsStore};
use crate::time::Timestamp;
use scopes::{ScopeSelection, MANDATORY_SCOPES};

const SCOPES_SETTING: &str = "app.scopes";
const BRANDING_SETTING: &str = "app.branding";

/// `PUT /api/v1/app/credentials/{environment}`. A field it does not know is refused, not
/// ignored: a misspelt `rate_limits` would otherwise leave Dialpad's defaults in force unseen.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CredentialsInput {
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub base_url: Option<String>,
    /// Dialpad's limits to throttle to (default: Dialpad's documented ones).
    pub rate_limits: Option<RateLimits>,
}

/// `PUT /api/v1/app/scopes` (unknown fields refused, as on every other body).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ScopesInput {
    pub scopes: Vec<String>,
    #[serde(default)]
    pub custom_scopes: Vec<String>,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AppView {
    pub callback_url: String,
    pub environments: BTreeMap<Environment, EnvironmentView>,
    pub scopes: Vec<ScopeView>,
    pub available_scopes: Vec<AvailableScope>,
    /// What the hosted connect page shows customers.
    pub branding: Branding,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct EnvironmentView {
    pub client_id: Option<String>,
    pub base_url: Option<String>,
    pub configured: bool,
    /// The limits requests to this environment are throttled to.
    pub rate_limits: RateLimits,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ScopeView {
    pub name: String,
    pub mandatory: bool,
    pub description: String,
    pub custom: bool,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AvailableScope {
    pub name: &'static str,
    pub description: &'static str,
}

/// The app's settings, as the other parts read them.
#[derive(Clone)]
pub struct AppSettings {
    pub(crate) credentials: Arc<dyn AppStore>,
    pub(crate) values: Arc<dyn SettingsStore>,
    pub(crate) shared: Shared,
}

impl AppSettings {
    pub async fn view(&self) -> Result<AppView> {
        let records = self.credentials.list_app_credentials().await?;
        let environments = Environment::ALL
            .into_iter()
            .map(|env| {
                let record = records.iter().find(|r| r.environment == env);
                let view = EnvironmentView {
                    client_id: record.map(|r| r.client_id.clone()),
                    base_url: record.map(|r| r.base_url.clone()).or_else(|| {
                        env.default_base_url()
                            .map(|u| u.as_str().trim_end_matches('/').to_owned())
                    }),
                    configured: record.is_some(),
                    rate_limits: record.and_then(|r| r.rate_limits).unwrap_or_default(),
                };
                (env, view)
            })
            .collect();
        let selection = self.scope_selection().await?;
        let mut scopes: Vec<ScopeView> = selection
            .effective()
            .into_iter()
            .map(|name| ScopeView {
                mandatory: MANDATORY_SCOPES.contains(&name.as_str()),
                custom: selection.custom_scopes.contains(&name),
                description: scopes::describe(&name)
                    .unwrap_or("Custom scope, not in dialbridge's catalog")
                    .to_owned(),
                name,
            })
            .collect();
        scopes.sort_by_key(|s| (!s.mandatory, s.custom));
        Ok(AppView {
            callback_url: self.shared.settings().callback_url.to_string(),
            environments,
            scopes,
            available_scopes: scopes::CATALOG
                .iter()
                .map(|s| AvailableScope {
                    name: s.name,
                    description: s.description,
                })
                .collect(),
            branding: self.branding().await?,
        })
    }

    pub async fn put_credentials(
        &self,
        environment: Environment,
        input: CredentialsInput,
    ) -> Result<AppView> {
        let mut problems = Vec::new();
        let client_id = required(&mut problems, "client_id", input.client_id);
        let client_secret = required(&mut problems, "client_secret", input.client_secret);
        let base_url = match environment.default_base_url() {
            Some(url) => Some(url),
            None => match input.base_url.as_deref().map(str::trim) {
                None | Some("") => {
                    problems.push(FieldError::new(
                        "base_url",
                        "is required for the custom environment",
                    ));
                    None
                }
                Some(text) => match Url::parse(text) {
                    Ok(url) if matches!(url.scheme(), "http" | "https") && url.host().is_some() => {
                        Some(url)
                    }
                    _ => {
                        problems.push(FieldError::new(
                            "base_url",
                            "must be an absolute http(s) URL",
                        ));
                        None
                    }
                },
            },
        };
        if let Some(limits) = &input.rate_limits {
            if !(1..=10_000).contains(&limits.per_second) {
                problems.push(FieldError::new(
                    "rate_limits.per_second",
                    "must be between 1 and 10000 requests per second",
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::InvalidInput(problems));
        }
        let (Some(client_id), Some(client_secret), Some(base_url)) =
            (client_id, client_secret, base_url)
        else {
            return Err(Error::Internal("validated credentials went missing".into()));
        };
        let record = AppCredentialsRecord {
            environment,
            client_id,
            client_secret: self.shared.seal(&client_secret),
            base_url: base_url.as_str().trim_end_matches('/').to_owned(),
            rate_limits: input.rate_limits,
            updated_at: Timestamp::now(),
        };
        self.credentials.put_app_credentials(&record).await?;
        self.shared.config_changed().await;
        tracing::info!(%environment, "app credentials updated");
        self.view().await
    }

    pub async fn put_scopes(&self, input: ScopesInput) -> Result<AppView> {
        let selection = ScopeSelection::validated(input.scopes, input.custom_scopes)?;
        let json = serde_json::to_string(&selection).map_err(|e| Error::Internal(e.to_string()))?;
        self.values.put_setting(SCOPES_SETTING, &json).await?;
        self.view().await
    }

    /// The connect page's brand: the vendor's, or a neutral one until it sets its own.
    pub async fn branding(&self) -> Result<Branding> {
        Ok(self.vendor_branding().await?.unwrap_or_default())
    }

    /// The brand the vendor set, if it has set one.
    pub async fn vendor_branding(&self) -> Result<Option<Branding>> {
        self.values
            .get_setting(BRANDING_SETTING)
            .await?
            .map(|json| {
                serde_json::from_str(&json)
                    .map_err(|e| Error::Internal(format!("stored branding: {e}")))
            })
            .transpose()
    }

    pub async fn put_branding(&self, input: Branding) -> Result<AppView> {
        let branding = input.validated()?;
        let json = serde_json::to_string(&branding).map_err(|e| Error::Internal(e.to_string()))?;
        self.values.put_setting(BRANDING_SETTING, &json).await?;
        self.view().await
    }

    pub(crate) async fn scope_selection(&self) -> Result<ScopeSelection> {
        match self.values.get_setting(SCOPES_SETTING).await? {
            Some(json) => serde_json::from_str(&json)
                .map_err(|e| Error::Internal(format!("stored scopes: {e}"))),
            None => Ok(ScopeSelection::default()),
        }
    }

    pub(crate) async fn app_credentials(
        &self,
        environment: Environment,
    ) -> Result<AppCredentialsRecord> {
        Ok(self.configured(environment).await?.record.clone())
    }

    /// An environment's credentials, from the cache; `EnvironmentNotConfigured` without them.
    async fn configured(&self, environment: Environment) -> Result<Arc<Configured>> {
        self.all_credentials()
            .await?
            .iter()
            .find(|c| c.record.environment == environment)
            .cloned()
            .ok_or(Error::EnvironmentNotConfigured(environment))
    }

    /// Every environment's credentials, cached until the configuration changes (they are
    /// read for every request to Dialpad).
    async fn all_credentials(&self) -> Result<Arc<Vec<Arc<Configured>>>> {
        self.shared
            .caches()
            .app
            .get_or_load((), || async {
                let records = self.credentials.list_app_credentials().await?;
                Ok(Arc::new(
                    records
                        .into_iter()
                        .map(Configured::new)
                        .map(Arc::new)
                        .collect(),
                ))
            })
            .await
    }

    /// The limits requests to an environment are throttled to.
    pub(crate) async fn rate_limits(&self, environment: Environment) -> Result<RateLimits> {
        match self.configured(environment).await {
            Ok(configured) => Ok(configured.record.rate_limits.unwrap_or_default()),
            Err(Error::EnvironmentNotConfigured(_)) => Ok(RateLimits::default()),
            Err(e) => Err(e),
        }
    }

    /// The Dialpad host of an environment: its credentials' base URL, or Dialpad's own host.
    pub(crate) async fn base_url(&self, environment: Environment) -> Result<Url> {
        match self.configured(environment).await {
            Ok(configured) => configured.base_url(),
            Err(Error::EnvironmentNotConfigured(_)) if environment != Environment::Custom => {
                environment
                    .default_base_url()
                    .ok_or_else(|| Error::Internal("no default base URL".into()))
            }
            Err(e) => Err(e),
        }
    }

    pub(crate) async fn oauth_app(&self, environment: Environment) -> Result<dialpad::OAuthApp> {
        let configured = self.configured(environment).await?;
        let record = &configured.record;
        let secret = self.shared.open(&record.client_secret)?;
        dialpad::OAuthApp::new(
            self.shared.http().clone(),
            &configured.base_url()?,
            &record.client_id,
            secret.expose(),
            &self.shared.settings().callback_url,
        )
        .map_err(|e| Error::Internal(format!("OAuth URLs: {e}")))
    }

    /// The environment a connect attempt uses when the vendor names none: production when it
    /// is configured, else the only configured one.
    pub(crate) async fn default_environment(&self) -> Result<Environment> {
        let configured: Vec<Environment> = self
            .credentials
            .list_app_credentials()
            .await?
            .into_iter()
            .map(|r| r.environment)
            .collect();
        if configured.contains(&Environment::Production) {
            return Ok(Environment::Production);
        }
        match configured.as_slice() {
            [only] => Ok(*only),
            [] => Err(Error::EnvironmentNotConfigured(Environment::Production)),
            _ => Err(Error::invalid(
                "environment",
                "several environments are configured: name one (production, sandbox or custom)",
            )),
        }
    }
}

/// An environment's stored credentials as the cache holds them, with the base URL parsed once:
/// every request to Dialpad starts from it.
pub(crate) struct Configured {
    record: AppCredentialsRecord,
    base_url: std::result::Result<Url, url::ParseError>,
}

impl Configured {
    fn new(record: AppCredentialsRecord) -> Self {
        let base_url = Url::parse(&record.base_url);
        Configured { record, base_url }
    }

    fn base_url(&self) -> Result<Url> {
        self.base_url
            .clone()
            .map_err(|e| Error::Internal(format!("stored base_url: {e}")))
    }
}

fn required(problems: &mut Vec<FieldError>, field: &str, value: Option<String>) -> Option<String> {
    match value.map(|v| v.trim().to_owned()) {
        Some(v) if !v.is_empty() => Some(v),
        _ => {
            problems.push(FieldError::new(field, "is required"));
            None
        }
    }
}
