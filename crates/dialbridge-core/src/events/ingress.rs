//! Events in. Where a webhook enters: `receive_dialpad_event` accepts only an HS256 JWT valid
//! for the hook's secret (and, when it says so, not expired nor early), then hands the event to
//! the writer, which stores it with the executions it starts before it is acknowledged (a
//! redelivered identical event is recognised and starts nothing). The vendor's own events
//! (`post_vendor_event`) take the same path.
//!
//! The writer is a group commit (`batch.rs`): concurrent events are routed in memory
//! (`executions/routing.rs`) and stored in one transaction, so a burst of N events costs one
//! commit, and no event is acknowledged before its commit. A failed commit answers every event
//! of the batch with the error (Dialpad retries on a 5xx).
//!
//! Routing runs in the request. Before the commit, the writer runs to its end an execution
//! whose steps are all self-contained, which is stored finished (`executions/at_ingest.rs`). Of
//! the others, one that can start here at once is stored already leased to this process and
//! handed to the executor, with no claim (`executions/slots.rs`); the rest are stored queued
//! and signalled.

use std::sync::{Arc, OnceLock};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Serialize;
use serde_json::Value;

use super::dedupe_key::dedupe_key;
use super::refusals::{RefusedDeliveries, RefusedDelivery};
use crate::batch::{Batcher, Submitted};
use crate::error::{Error, Resource, Result};
use crate::executions::routing::EventKind;
use crate::executions::{AfterIngest, Executions};
use crate::ids::{new_id, AccountId};
use crate::platform::{HookSecret, Shared};
use crate::store::{EventRecord, HookStore, IncomingEvent, StoreError};
use crate::time::Timestamp;
use crate::triggers;

/// How far a JWT's `exp`, `nbf` and `iat` may be off (clocks differ).
const CLOCK_LEEWAY_SECS: u64 = 60;
/// Events a commit takes at most, and how many may wait for one.
const MAX_BATCH: usize = 512;
const QUEUE: usize = 8192;
/// The longest an event waits for the writer to take it. Dialpad gives up on a delivery after
/// 5 s; an event not taken by then is withdrawn — never stored — and answered 503, so Dialpad
/// sends it again and its 5xx always means "not stored". One taken is answered after its
/// commit.
const QUEUE_DEADLINE: std::time::Duration = std::time::Duration::from_secs(2);

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
    pub(crate) executions: Executions,
    pub(crate) shared: Shared,
    /// The group-commit writer, started on first use.
    pub(crate) writer: Arc<OnceLock<Batcher<IncomingEvent, Result<Landed>>>>,
    /// The last deliveries refused here (for the events page).
    pub(crate) refused: RefusedDeliveries,
}

/// How an event landed: new or a duplicate, and the executions it started.
pub(crate) struct Landed {
    new: bool,
    executions: Vec<String>,
}

impl Ingress {
    /// `POST /webhooks/dialpad/{hook_id}`.
    pub async fn receive_dialpad_event(
        &self,
        hook_id: &str,
        body: &[u8],
    ) -> Result<IngressOutcome> {
        let hook = self.hook(hook_id).await?;
        let DialpadEvent {
            payload,
            keys,
            dedupe_key,
        } = read_dialpad_event(body, hook.secret.expose().as_bytes(), Timestamp::now())
            .inspect_err(|e| {
                self.refused.record(RefusedDelivery {
                    account_id: hook.account_id.clone(),
                    received_at: Timestamp::now(),
                    code: e.code().to_owned(),
                    message: e.to_string(),
                })
            })?;
        let event = EventRecord {
            id: new_id("evt"),
            account_id: hook.account_id.clone(),
            source: "dialpad".into(),
            name: keys.join(","),
            dedupe_key: Some(dedupe_key),
            payload,
            received_at: Timestamp::now(),
        };
        let landed = self
            .land(event, EventKind::Dialpad { keys: keys.clone() })
            .await?;
        Ok(IngressOutcome {
            triggers: keys,
            duplicate: !landed.new,
            executions: landed.executions,
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
        let event = EventRecord {
            id: new_id("evt"),
            account_id: account.clone(),
            source: "vendor".into(),
            name: name.to_owned(),
            dedupe_key: None,
            payload,
            received_at: Timestamp::now(),
        };
        let landed = self
            .land(
                event,
                EventKind::Vendor {
                    name: name.to_owned(),
                },
            )
            .await?;
        Ok(landed.executions)
    }

    /// The hook's account and secret, from the cache or the store.
    async fn hook(&self, hook_id: &str) -> Result<Arc<HookSecret>> {
        let load = || async {
            match self.hooks.get_hook(hook_id).await? {
                Some(hook) => Ok::<_, Error>(Some(Arc::new(HookSecret {
                    account_id: hook.account_id,
                    secret: self.shared.open(&hook.secret)?,
                }))),
                None => Ok(None),
            }
        };
        let caches = self.shared.caches();
        let found = caches.hooks.get_or_load(hook_id.to_owned(), load).await?;
        found.ok_or_else(|| Error::not_found(Resource::DialpadHook, hook_id))
    }

    /// Routes the event, hands it to the writer and waits until it is stored (or refused, or
    /// withdrawn unstored after `QUEUE_DEADLINE` in the queue).
    async fn land(&self, event: EventRecord, kind: EventKind) -> Result<Landed> {
        let executions = &self.executions;
        let Some(routes) = executions.routes(&event.account_id).await? else {
            return Err(Error::not_found(
                Resource::Account,
                event.account_id.as_str(),
            ));
        };
        let started = executions.route(&routes, &event, &kind, Timestamp::now());
        let incoming = IncomingEvent::new(event, started);
        let writer = self.writer.get_or_init(|| {
            let executions = self.executions.clone();
            Batcher::spawn(MAX_BATCH, QUEUE, move |batch| {
                let executions = executions.clone();
                async move { land_batch(&executions, batch).await }
            })
        });
        match writer.submit_within(incoming, QUEUE_DEADLINE).await {
            Submitted::Done(landed) => landed,
            Submitted::Withdrawn => Err(Error::Store(StoreError::Unavailable(
                "the database did not take the event in time; it was not stored".into(),
            ))),
            Submitted::Gone => Err(Error::Internal("the event writer stopped".into())),
        }
    }
}

/// Stores a batch of routed events, with their executions, in one transaction. Executions that
/// can run to their end do so here, in the writer's turn (run in each request instead, SQLite
/// ingest spent up to a third more CPU per event in some runs: BENCHMARKS.md, *Executions of
/// `set`/`if` workflows run at ingest*), while the database takes the batch's redelivery keys
/// rather than before, so that the database does not wait for them (*The event writer's turn,
/// step by step*; on this project's two cores, no faster).
async fn land_batch(executions: &Executions, mut batch: Vec<IncomingEvent>) -> Vec<Result<Landed>> {
    executions.shared.metrics().ingest_batch(batch.len());
    let mut after = AfterIngest::default();
    let stored = async {
        let mut tx = executions.executions.begin_events(&batch);
        let prepared = prepare(executions, &mut batch, &mut after.spent_contexts);
        let (new, ()) = tokio::join!(tx.insert_keys(), prepared);
        let new = new?;
        tx.finish(&batch, &new).await?;
        Ok::<_, StoreError>(new)
    };
    let new = match stored.await {
        Ok(new) => new,
        Err(e) => {
            tracing::warn!(
                events = batch.len(),
                "storing a batch of events failed: {e}"
            );
            executions.ingest_failed(&batch);
            return batch
                .iter()
                .map(|_| Err(Error::Store(e.replicate())))
                .collect();
        }
    };
    for (incoming, &new) in batch.iter().zip(&new) {
        executions
            .shared
            .metrics()
            .event(&incoming.event.source, !new);
        executions.ingested(incoming, new, &mut after);
    }
    let landed = batch
        .iter()
        .zip(new)
        .map(|(incoming, new)| {
            Ok(Landed {
                new,
                executions: if new {
                    incoming.executions.iter().map(|e| e.id.clone()).collect()
                } else {
                    Vec::new()
                },
            })
        })
        .collect();
    after.spent_events = batch;
    after.spawn(executions);
    landed
}

/// Runs the batch's executions that can run to their end, and starts here those that can
/// start at once (`executions/slots.rs`). The runs' template contexts are added to `spent`.
async fn prepare(
    executions: &Executions,
    batch: &mut [IncomingEvent],
    spent: &mut Vec<Arc<Value>>,
) {
    let now = Timestamp::now();
    for incoming in batch {
        if let Ok(Some(routes)) = executions.routes(&incoming.event.account_id).await {
            executions.run_at_ingest(&routes, incoming, spent).await;
        }
        executions.start_at_ingest(&mut incoming.executions, now);
    }
}

/// A Dialpad event read from a webhook's body, before it is stored.
#[derive(Debug, Clone, PartialEq)]
pub struct DialpadEvent {
    /// The JWT's claims: the event.
    pub payload: Value,
    /// The trigger keys the event maps to.
    pub keys: Vec<&'static str>,
    /// What a redelivery of the same event shares (`dedupe_key.rs`).
    pub dedupe_key: String,
}

/// Reads the body of `POST /webhooks/dialpad/{hook_id}` for the hook's `secret` at `now`: the
/// verified claims, their trigger keys and their redelivery digest. Pure, so the fuzz targets
/// (`crates/dialbridge-fuzz`) drive exactly what the route runs.
pub fn read_dialpad_event(body: &[u8], secret: &[u8], now: Timestamp) -> Result<DialpadEvent> {
    let payload = verify_jwt(body, secret, now)?;
    Ok(DialpadEvent {
        keys: triggers::trigger_keys(&payload),
        dedupe_key: dedupe_key(&payload),
        payload,
    })
}

/// The event inside an HS256 JWT signed with `secret`; nothing else is accepted: no unsigned
/// JSON, no `none`, no other algorithm, no bad signature, and — when the JWT has them — no
/// `exp` in the past, `nbf` or `iat` in the future (give or take a minute).
fn verify_jwt(body: &[u8], secret: &[u8], now: Timestamp) -> Result<Value> {
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
    // The timing claims are checked below, against `now`, when present.
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    let data = jsonwebtoken::decode::<Value>(text, &DecodingKey::from_secret(secret), &validation)
        .map_err(|_| refuse("the JWT's signature does not match this webhook's secret"))?;
    if !data.claims.is_object() {
        return Err(refuse("the JWT's payload is not an event object"));
    }
    let now = now.as_millis() / 1000;
    let leeway = CLOCK_LEEWAY_SECS as i64;
    let claim = |name: &str| data.claims.get(name).and_then(Value::as_i64);
    // Saturating: a claim near i64's ends is far away, not a wrap to the other end.
    if claim("exp").is_some_and(|exp| exp.saturating_add(leeway) < now) {
        return Err(refuse("the JWT has expired (exp is in the past)"));
    }
    if claim("nbf").is_some_and(|nbf| nbf.saturating_sub(leeway) > now) {
        return Err(refuse("the JWT is not valid yet (nbf is in the future)"));
    }
    if claim("iat").is_some_and(|iat| iat.saturating_sub(leeway) > now) {
        return Err(refuse("the JWT was issued in the future (iat)"));
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    #[test]
    fn only_hs256_with_the_hooks_secret_passes() {
        let event = json!({ "call_id": "1", "state": "hangup" });
        let good = sign(Algorithm::HS256, &event, b"s3cret");
        assert_eq!(
            verify_jwt(good.as_bytes(), b"s3cret", Timestamp::now()).unwrap(),
            event
        );
        assert!(
            verify_jwt(good.as_bytes(), b"other", Timestamp::now()).is_err(),
            "wrong secret"
        );
        let hs512 = sign(Algorithm::HS512, &event, b"s3cret");
        assert!(
            verify_jwt(hs512.as_bytes(), b"s3cret", Timestamp::now()).is_err(),
            "another algorithm"
        );
        assert!(
            verify_jwt(br#"{"call_id":"1"}"#, b"s3cret", Timestamp::now()).is_err(),
            "unsigned JSON"
        );
        // alg none: header {"alg":"none"} and an empty signature
        let none = format!(
            "{}.{}.",
            base64_url(br#"{"alg":"none","typ":"JWT"}"#),
            base64_url(event.to_string().as_bytes())
        );
        assert!(
            verify_jwt(none.as_bytes(), b"s3cret", Timestamp::now()).is_err(),
            "alg none"
        );
        let mut tampered = good.clone();
        tampered.insert(good.find('.').unwrap() + 2, 'x');
        assert!(
            verify_jwt(tampered.as_bytes(), b"s3cret", Timestamp::now()).is_err(),
            "tampered"
        );
    }

    fn base64_url(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
    }

    #[test]
    fn timing_claims_are_checked_when_present() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let secs = 1_700_000_000;
        let check =
            |claims: Value| verify_jwt(sign(Algorithm::HS256, &claims, b"k").as_bytes(), b"k", now);
        assert!(
            check(json!({ "state": "hangup" })).is_ok(),
            "no timing claims"
        );
        assert!(check(json!({ "exp": secs + 300, "iat": secs - 5, "nbf": secs - 5 })).is_ok());
        assert!(
            check(json!({ "exp": secs - 30 })).is_ok(),
            "within the leeway"
        );
        for (claims, why) in [
            (json!({ "exp": 978_307_200 }), "expired in 2001"),
            (
                json!({ "nbf": secs + 365 * 86_400 }),
                "not before next year",
            ),
            (json!({ "iat": secs + 3_600 }), "issued in an hour"),
        ] {
            let err = check(claims).unwrap_err();
            assert_eq!(err.code(), "invalid_signature", "{why}");
        }
    }

    /// The leeway is exactly a minute each way: a claim a minute off is still accepted, one
    /// a second further is not (found by cargo-mutants: `<` for `<=` passed).
    #[test]
    fn the_leeway_is_one_minute_to_the_second() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let secs: i64 = 1_700_000_000;
        let check =
            |claims: Value| verify_jwt(sign(Algorithm::HS256, &claims, b"k").as_bytes(), b"k", now);
        for claim in ["exp", "nbf", "iat"] {
            // Away from now in the direction the claim is refused in.
            let away = if claim == "exp" { -1 } else { 1 };
            let at_the_edge = json!({ claim: secs + away * 60 });
            assert!(check(at_the_edge).is_ok(), "{claim} a minute off");
            let past_it = json!({ claim: secs + away * 61 });
            assert!(check(past_it).is_err(), "{claim} a minute and a second off");
        }
    }

    /// Found by the `webhook_ingress` fuzz target: a timing claim at i64's ends overflowed
    /// with the leeway (a panic in debug builds, a wrapped and wrong answer in release).
    #[test]
    fn timing_claims_at_the_ends_of_the_range_are_far_away() {
        let now = Timestamp::from_millis(1_700_000_000_000);
        let check =
            |claims: Value| verify_jwt(sign(Algorithm::HS256, &claims, b"k").as_bytes(), b"k", now);
        assert!(
            check(json!({ "exp": i64::MAX, "nbf": i64::MIN, "iat": i64::MIN })).is_ok(),
            "expires at the end of time, valid since its start"
        );
        for (claims, why) in [
            (json!({ "exp": i64::MIN }), "expired at the start of time"),
            (json!({ "nbf": i64::MAX }), "valid at the end of time"),
            (json!({ "iat": i64::MAX }), "issued at the end of time"),
        ] {
            let err = check(claims).unwrap_err();
            assert_eq!(err.code(), "invalid_signature", "{why}");
        }
    }
}
