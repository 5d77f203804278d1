//! The HS256 JWT that a Dialpad webhook's body is: its signature checked against the hook's
//! key, its claims read once.
//!
//! `jsonwebtoken::decode` decoded the header twice (once to check `alg`, once inside), read the
//! claims' JSON twice (into the event, then into its own timing claims, which are checked here
//! instead) and prepared the HMAC key from the secret on every delivery. Here the header is
//! decoded once by `jsonwebtoken::decode_header`, the key is prepared when the hook is cached
//! (`WebhookKey`), and the MAC is compared in constant time by the `hmac` crate.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use jsonwebtoken::Algorithm;
use serde_json::Value;
use sha2::Sha256;

use crate::error::{Error, Result};
use crate::time::Timestamp;

/// How far a JWT's `exp`, `nbf` and `iat` may be off (clocks differ).
const CLOCK_LEEWAY_SECS: i64 = 60;

/// A hook's secret prepared as an HMAC-SHA256 key: a delivery's check hashes only its own
/// bytes, not the key's two padded blocks again.
#[derive(Clone)]
pub struct WebhookKey(Hmac<Sha256>);

impl WebhookKey {
    pub fn new(secret: &[u8]) -> Self {
        WebhookKey(Hmac::new_from_slice(secret).expect("HMAC takes a key of any length"))
    }
}

/// The event inside an HS256 JWT signed with `key`; nothing else is accepted: no unsigned
/// JSON, no `none`, no other algorithm, no bad signature (in its one base64url form), and —
/// when the JWT has them — no `exp` in the past, `nbf` or `iat` in the future (give or take a
/// minute).
pub(super) fn verify(body: &[u8], key: &WebhookKey, now: Timestamp) -> Result<Value> {
    let refuse = |why: &str| Error::InvalidSignature(why.to_owned());
    let not_a_jwt = || refuse("the body is not a JWT");
    let text = std::str::from_utf8(body).map_err(|_| not_a_jwt())?.trim();
    if text.starts_with('{') {
        return Err(refuse(
            "unsigned JSON events are refused: the webhook's events must be HS256 JWTs",
        ));
    }
    let header = jsonwebtoken::decode_header(text).map_err(|_| not_a_jwt())?;
    if header.alg != Algorithm::HS256 {
        return Err(refuse("only HS256 JWTs are accepted"));
    }
    // As `decode_header` split it: the signature after the last dot, the claims before it.
    let (signed, signature) = text.rsplit_once('.').ok_or_else(not_a_jwt)?;
    let (_, claims) = signed.rsplit_once('.').ok_or_else(not_a_jwt)?;
    let mismatch = || refuse("the JWT's signature does not match this webhook's secret");
    // Strict base64url: padding or stray trailing bits are another text, refused.
    let signature = URL_SAFE_NO_PAD.decode(signature).map_err(|_| mismatch())?;
    let mut mac = key.0.clone();
    mac.update(signed.as_bytes());
    mac.verify_slice(&signature).map_err(|_| mismatch())?;
    let claims: Value = URL_SAFE_NO_PAD
        .decode(claims)
        .ok()
        .and_then(|json| serde_json::from_slice(&json).ok())
        .ok_or_else(|| refuse("the JWT's payload is not base64url-encoded JSON"))?;
    if !claims.is_object() {
        return Err(refuse("the JWT's payload is not an event object"));
    }
    check_timing(&claims, now.as_millis() / 1000).map_err(refuse)?;
    Ok(claims)
}

/// The timing claims that are present, against `now` (seconds) with the leeway.
fn check_timing(claims: &Value, now: i64) -> std::result::Result<(), &'static str> {
    let claim = |name: &str| claims.get(name).and_then(Value::as_i64);
    // Saturating: a claim near i64's ends is far away, not a wrap to the other end.
    if claim("exp").is_some_and(|exp| exp.saturating_add(CLOCK_LEEWAY_SECS) < now) {
        return Err("the JWT has expired (exp is in the past)");
    }
    if claim("nbf").is_some_and(|nbf| nbf.saturating_sub(CLOCK_LEEWAY_SECS) > now) {
        return Err("the JWT is not valid yet (nbf is in the future)");
    }
    if claim("iat").is_some_and(|iat| iat.saturating_sub(CLOCK_LEEWAY_SECS) > now) {
        return Err("the JWT was issued in the future (iat)");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{encode, EncodingKey, Header};
    use serde_json::json;

    fn sign(alg: Algorithm, claims: &Value, secret: &[u8]) -> String {
        encode(&Header::new(alg), claims, &EncodingKey::from_secret(secret)).unwrap()
    }

    fn verify_jwt(body: &[u8], secret: &[u8], now: Timestamp) -> Result<Value> {
        verify(body, &WebhookKey::new(secret), now)
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

    /// One key checks delivery after delivery: a check does not use up the prepared key.
    #[test]
    fn one_prepared_key_checks_every_delivery() {
        let key = WebhookKey::new(b"s3cret");
        for n in 0..3 {
            let event = json!({ "call_id": n.to_string() });
            let good = sign(Algorithm::HS256, &event, b"s3cret");
            assert_eq!(
                verify(good.as_bytes(), &key, Timestamp::now()).unwrap(),
                event
            );
            let forged = sign(Algorithm::HS256, &event, b"guess");
            assert!(verify(forged.as_bytes(), &key, Timestamp::now()).is_err());
        }
    }

    /// The signature is accepted in the one form the signer writes it: base64url, unpadded,
    /// with the unused low bits of its last character zero (as `jsonwebtoken::decode`, which
    /// compared the encoded texts).
    #[test]
    fn a_signature_is_accepted_only_in_its_one_encoding() {
        let event = json!({ "call_id": "1" });
        let good = sign(Algorithm::HS256, &event, b"s3cret");
        let check = |body: &str| verify_jwt(body.as_bytes(), b"s3cret", Timestamp::now());
        assert!(check(&good).is_ok());
        const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        let last = good.as_bytes()[good.len() - 1];
        let index = ALPHABET.iter().position(|&c| c == last).unwrap();
        // 43 characters carry 32 bytes: the last one's two low bits are unused.
        let same_bytes = char::from(ALPHABET[index ^ 1]);
        let stray_bits = format!("{}{same_bytes}", &good[..good.len() - 1]);
        let err = check(&stray_bits).unwrap_err();
        assert_eq!(err.code(), "invalid_signature");
        assert!(check(&format!("{good}=")).is_err(), "padded");
        let (signed, signature) = good.rsplit_once('.').unwrap();
        let standard = signature.replace('-', "+").replace('_', "/");
        if standard != signature {
            assert!(
                check(&format!("{signed}.{standard}")).is_err(),
                "standard alphabet"
            );
        }
        assert!(
            check(&format!("{signed}.{}", &signature[..40])).is_err(),
            "shortened"
        );
    }

    #[test]
    fn claims_that_are_not_an_event_object_are_refused() {
        let key = WebhookKey::new(b"k");
        let header = base64_url(br#"{"alg":"HS256","typ":"JWT"}"#);
        for claims in [&b"[1,2]"[..], b"not json", b"\"text\""] {
            let signed = format!("{header}.{}", base64_url(claims));
            let mut mac = key.0.clone();
            mac.update(signed.as_bytes());
            let signature = base64_url(&mac.finalize().into_bytes());
            let body = format!("{signed}.{signature}");
            let err = verify(body.as_bytes(), &key, Timestamp::now()).unwrap_err();
            assert_eq!(err.code(), "invalid_signature", "{claims:?}");
        }
    }

    fn base64_url(bytes: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(bytes)
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
