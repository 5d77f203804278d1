//! API v2 calls with a bearer credential (an OAuth access token or an API key), answering
//! typed models or Dialpad's status and body.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use url::Url;

use crate::ids::{int64_as_string, opt_int64_as_string};
use crate::raw::RawRequest;
use crate::ApiError;

/// A Dialpad company (`schemas.company.CompanyProto`), the fields dialbridge keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct Company {
    #[serde(deserialize_with = "int64_as_string")]
    pub id: String,
    pub name: Option<String>,
    pub domain: Option<String>,
}

/// A Dialpad user (`schemas.user.UserProto`), the fields dialbridge keeps.
#[derive(Debug, Clone, Deserialize)]
pub struct User {
    #[serde(deserialize_with = "int64_as_string")]
    pub id: String,
    #[serde(default, deserialize_with = "opt_int64_as_string")]
    pub company_id: Option<String>,
    #[serde(default)]
    pub emails: Vec<String>,
}

/// Calls Dialpad's API v2 on one host.
#[derive(Clone)]
pub struct DialpadClient {
    http: reqwest::Client,
    base_url: Url,
}

impl DialpadClient {
    pub fn new(http: reqwest::Client, base_url: Url) -> Self {
        DialpadClient { http, base_url }
    }

    pub(crate) fn http(&self) -> &reqwest::Client {
        &self.http
    }

    pub(crate) fn base_url(&self) -> &Url {
        &self.base_url
    }

    /// `GET /api/v2/company`: the credential's company. A good check that a credential works.
    pub async fn company(&self, token: &str) -> Result<Company, ApiError> {
        self.get_json("api/v2/company", token).await
    }

    /// `GET /api/v2/users/{id}`; `me` is the user behind a user-level credential.
    pub async fn user(&self, id: &str, token: &str) -> Result<User, ApiError> {
        self.get_json(&format!("api/v2/users/{id}"), token).await
    }

    async fn get_json<T: DeserializeOwned>(&self, path: &str, token: &str) -> Result<T, ApiError> {
        let request = RawRequest {
            method: reqwest::Method::GET,
            path: path.to_owned(),
            query: Vec::new(),
            body: None,
        };
        let response = self.send(token, &request).await?;
        if !response.is_success() {
            return Err(ApiError::Status {
                status: response.status,
                body: response.body(),
                retry_after: response.retry_after,
            });
        }
        serde_json::from_slice(&response.raw).map_err(|e| {
            ApiError::Transport(format!(
                "the answer to GET /{path} was not what Dialpad documents ({e})"
            ))
        })
    }
}
