//! Events in. Where a webhook enters: `receive_dialpad_event` accepts only an HS256 JWT valid
//! for the hook's secret, stores the event (a redelivered identical one is recognised and runs
//! nothing) before it is acknowledged, and starts the matching workflows. The vendor's own
//! events (`post_vendor_event`) start workflows the same way.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

use crate::error::{Error, Resource, Result};
use crate::executions::Executions;
use crate::ids::{new_id, AccountId};
use crate::platform::Shared;
use crate::store::{AccountStore, EventRecord, HookStore};
use crate::time::Timestamp;
use crate::triggers;

/// What the ingress did with an event.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct IngressOutcome {
    /// The trigger keys the event maps to.
    pub triggers: Vec<&'static str>,
    /// The same event was received before: nothing ran again.
    pub duplicate: bool,
    pub executions: Vec<String>,
}

/// Receives events and hands them to the executions they start.
#[derive(Clone)]
pub struct Ingress {
    pub(crate) hooks: Arc<dyn HookStore>,
    pub(crate) accounts: Arc<dyn AccountStore>,
    pub(crate) executions: Executions,
    pub(crate) shared: Shared,
}

impl Ingress {
    /// `POST /webhooks/dialpad/{hook_id}`.
    pub async fn receive_dialpad_event(
        &self,
        hook_id: &str,
        body: &[u8],
    ) -> Result<IngressOutcome> {
        let hook = self
            .hooks
            .get_hook(hook_id)
            .await?
            .ok_or_else(|| Error::not_found(Resource::DialpadHook, hook_id))?;
        let secret = self.shared.open(&hook.secret)?;
        let payload = verify_jwt(body, secret.expose().as_bytes())?;
        let keys = triggers::trigger_keys(&payload);
        let event = EventRecord {
            id: new_id("evt"),
            account_id: hook.account_id.clone(),
            source: "dialpad".into(),
            name: keys.join(","),
            dedupe_key: Some(event_digest(&payload)),
            payload,
            received_at: Timestamp::now(),
        };
        let trigger = json!({ "type": "dialpad", "keys": keys, "event_id": event.id });
        let (new, executions) = self
            .executions
            .start_from_event(&event, trigger, |spec, payload| {
                keys.contains(&spec.key.as_str()) && triggers::params_match(spec, payload)
            })
            .await?;
        Ok(IngressOutcome {
            triggers: keys,
            duplicate: !new,
            executions,
        })
    }

    /// A vendor event (`POST …/events/{name}`): starts every enabled workflow of the account
    /// whose trigger is `event` with that name and whose filter passes; answers their ids.
    pub async fn post_vendor_event(
        &self,
        account: &AccountId,
        name: &str,
        payload: Value,
    ) -> Result<Vec<String>> {
        if self.accounts.get_account(account).await?.is_none() {
            return Err(Error::not_found(Resource::Account, account.as_str()));
        }
        let event = EventRecord {
            id: new_id("evt"),
            account_id: account.clone(),
            source: "vendor".into(),
            name: name.to_owned(),
            dedupe_key: None,
            payload,
            received_at: Timestamp::now(),
        };
        let trigger = json!({ "type": "event", "name": name, "event_id": event.id });
        let (_, ids) = self
            .executions
            .start_from_event(&event, trigger, |spec, _| {
                spec.key == "event"
                    && spec.params.get("event").and_then(Value::as_str) == Some(name)
            })
            .await?;
        Ok(ids)
    }
}

/// What identifies an event across redeliveries: a digest of its claims in canonical order
/// (object keys sorted), leaving out the JWT's own timing claims, which a redelivery may renew.
fn event_digest(payload: &Value) -> String {
    let mut claims = payload.clone();
    if let Some(map) = claims.as_object_mut() {
        for volatile in ["iat", "exp", "nbf", "jti"] {
            map.remove(volatile);
        }
    }
    hex::encode(Sha256::digest(claims.to_string().as_bytes()))
}

/// The event inside an HS256 JWT signed with `secret`; nothing else is accepted: no unsigned
/// JSON, no `none`, no other algorithm, no bad signature.
fn verify_jwt(body: &[u8], secret: &[u8]) -> Result<Value> {
    let refuse = |why: &str| Error::InvalidSignature(why.to_owned());
    let text = std::str::from_utf8(body)
        .map_err(|_| refuse("the body is not a JWT"))?
        .trim();
    if text.starts_with('{') {
        return Err(refuse(
            "unsigned JSON events are refused: the webhook's events must be HS256 JWTs",
        ));
    }
    let header = jsonwebtoken::decode_header(text).map_err(|_| refuse("the body is not a JWT"))?;
    if header.alg != Algorithm::HS256 {
        return Err(refuse("only HS256 JWTs are accepted"));
    }
    let mut validation = Validation::new(Algorithm::HS256);
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(text, &DecodingKey::from_secret(secret), &validation)
        .map_err(|_| refuse("the JWT's signature does not match this webhook's secret"))?;
    if !data.claims.is_object() {
        return Err(refuse("the JWT's payload is not an event object"));
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};

    fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn a_redelivery_with_renewed_timing_claims_is_the_same_event() {
        let first = json!({ "call_id": "1", "state": "hangup", "iat": 100 });
        let again = json!({ "iat": 200, "state": "hangup", "call_id": "1" });
        let other = json!({ "call_id": "1", "state": "connected", "iat": 100 });
        assert_eq!(event_digest(&first), event_digest(&again));
        assert_ne!(event_digest(&first), event_digest(&other));
    }

    #[test]
    fn only_hs256_with_the_hooks_secret_passes() {
        let event = json!({ "call_id": "1", "state": "hangup" });
        let good = sign(Algorithm::HS256, &event, b"s3cret");
        assert_eq!(verify_jwt(good.as_bytes(), b"s3cret").unwrap(), event);
        assert!(
            verify_jwt(good.as_bytes(), b"other").is_err(),
            "wrong secret"
        );
        let hs512 = sign(Algorithm::HS512, &event, b"s3cret");
        assert!(
            verify_jwt(hs512.as_bytes(), b"s3cret").is_err(),
            "another algorithm"
        );
        assert!(
            verify_jwt(br#"{"call_id":"1"}"#, b"s3cret").is_err(),
            "unsigned JSON"
        );
        // alg none: header {"alg":"none"} and an empty signature
        let none = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url(event.to_string().as_bytes())
        );
        assert!(verify_jwt(none.as_bytes(), b"s3cret").is_err(), "alg none");
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 2, 'x');
        assert!(
            verify_jwt(tampered.as_bytes(), b"s3cret").is_err(),
            "tampered"
        );
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }
}
