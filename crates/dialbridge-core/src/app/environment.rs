//! Dialpad's environments: production, sandbox, and `custom` (any base URL: the emulator or a
//! test double).

use std::fmt;

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, Result};

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Environment {
    Production,
    Sandbox,
    Custom,
}

impl Environment {
    pub const ALL: [Environment; 3] = [
        Environment::Production,
        Environment::Sandbox,
        Environment::Custom,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Production => "production",
            Environment::Sandbox => "sandbox",
            Environment::Custom => "custom",
        }
    }

    pub fn parse(value: &str) -> Result<Self> {
        Environment::ALL
            .into_iter()
            .find(|e| e.as_str() == value)
            .ok_or_else(|| {
                Error::invalid("environment", "must be one of production, sandbox, custom")
            })
    }

    /// Dialpad's own host for this environment; `custom` has none.
    pub fn default_base_url(self) -> Option<Url> {
        let url = match self {
            Environment::Production => dialpad::PRODUCTION_URL,
            Environment::Sandbox => dialpad::SANDBOX_URL,
            Environment::Custom => return None,
        };
        Url::parse(url).ok()
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
