//! How the emulator behaves where Dialpad's behaviour is a choice: token lifetime, rotation.
//! Set at construction, changed at run time through `PATCH /_control/config`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Knobs of the emulated Dialpad.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EmulatorConfig {
    /// Lifetime of an access token (`expires_in`). Default: one hour.
    pub access_token_ttl: Duration,
    /// Whether a refresh issues a new refresh token and retires the old one. Default: true.
    pub rotate_refresh_tokens: bool,
}

impl Default for EmulatorConfig {
    fn default() -> Self {
        EmulatorConfig {
            access_token_ttl: Duration::from_secs(3600),
            rotate_refresh_tokens: true,
        }
    }
}

/// The configuration as the control API shows and changes it.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigView {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_ttl_secs: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rotate_refresh_tokens: Option<bool>,
}

impl EmulatorConfig {
    pub fn view(&self) -> ConfigView {
        ConfigView {
            access_token_ttl_secs: Some(self.access_token_ttl.as_secs()),
            rotate_refresh_tokens: Some(self.rotate_refresh_tokens),
        }
    }

    /// Applies the fields a patch names, leaving the others.
    pub fn apply(&mut self, patch: &ConfigView) {
        if let Some(secs) = patch.access_token_ttl_secs {
            self.access_token_ttl = Duration::from_secs(secs);
        }
        if let Some(rotate) = patch.rotate_refresh_tokens {
            self.rotate_refresh_tokens = rotate;
        }
    }
}
