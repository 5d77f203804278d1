//! The registry of OAuth apps (client id, secret, allowed redirect URIs), as Dialpad keeps the
//! apps vendors registered through its form. Seeded with the development app.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

pub const DEV_CLIENT_ID: &str = "dialbridge-dev";
pub const DEV_CLIENT_SECRET: &str = "dialbridge-dev-secret";

#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct App {
    pub client_id: String,
    pub client_secret: String,
    /// Exact redirect URIs this app may use; empty means any absolute URI.
    #[serde(default)]
    pub redirect_uris: Vec<String>,
    /// Shown on the consent page; defaults to the client id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

impl App {
    pub fn display_name(&self) -> &str {
        self.name.as_deref().unwrap_or(&self.client_id)
    }

    pub fn allows_redirect(&self, redirect_uri: &str) -> bool {
        self.redirect_uris.is_empty() || self.redirect_uris.iter().any(|u| u == redirect_uri)
    }

    /// Whether `secret` is this app's secret.
    pub fn secret_matches(&self, secret: &str) -> bool {
        self.client_secret == secret
    }
}

#[derive(Clone, Debug)]
pub struct Apps {
    by_client_id: HashMap<String, App>,
}

impl Apps {
    /// The registry with only the development app, which accepts any redirect URI.
    pub fn seeded() -> Self {
        let mut apps = Apps {
            by_client_id: HashMap::new(),
        };
        apps.register(App {
            client_id: DEV_CLIENT_ID.into(),
            client_secret: DEV_CLIENT_SECRET.into(),
            redirect_uris: Vec::new(),
            name: Some("Dialbridge (development)".into()),
        });
        apps
    }

    /// Adds the app, replacing any app with the same client id.
    pub fn register(&mut self, app: App) {
        self.by_client_id.insert(app.client_id.clone(), app);
    }

    pub fn get(&self, client_id: &str) -> Option<&App> {
        self.by_client_id.get(client_id)
    }
}

/// The seeded apps plus `strict`, which allows only `https://app.example/cb`.
#[cfg(test)]
pub(crate) fn with_strict_app() -> Apps {
    let mut apps = Apps::seeded();
    apps.register(App {
        client_id: "strict".into(),
        client_secret: "s".into(),
        redirect_uris: vec!["https://app.example/cb".into()],
        name: None,
    });
    apps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listed_redirect_uris_are_exact_and_an_empty_list_allows_any() {
        let apps = with_strict_app();
        let strict = apps.get("strict").unwrap();
        assert!(strict.allows_redirect("https://app.example/cb"));
        assert!(!strict.allows_redirect("https://app.example/cb/"));
        assert!(!strict.allows_redirect("https://evil.example/cb"));
        assert_eq!(strict.display_name(), "strict");
        let dev = apps.get(DEV_CLIENT_ID).unwrap();
        assert!(dev.allows_redirect("http://localhost:1234/anything"));
        assert!(dev.secret_matches(DEV_CLIENT_SECRET));
        assert!(!dev.secret_matches("nope"));
    }
}
