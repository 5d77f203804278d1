//! `POST /webhooks/dialpad/{hook_id}`'s body through `read_dialpad_event`, as the route reads
//! it: either raw bytes (anything an attacker sends), or bytes signed as an HS256 JWT with the
//! hook's secret, so the fuzzer also reaches the claims' JSON and the timing checks behind a
//! valid signature.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use dialbridge_core::{read_dialpad_event, Timestamp, WebhookKey};
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The hook's secret the targets sign with.
pub const SECRET: &[u8] = b"fuzz-hook-secret";
/// A fixed "now" (2023-11-14), so a run can be replayed.
pub const NOW_MILLIS: i64 = 1_700_000_000_000;

/// An odd first byte signs the rest as the JWT's claims; an even one sends the rest raw.
pub fn webhook_ingress(input: &[u8]) {
    let Some((mode, rest)) = super::steer(input) else {
        return;
    };
    let body = if mode & 1 == 1 {
        signed_jwt(rest)
    } else {
        rest.to_vec()
    };
    match read_dialpad_event(
        &body,
        &WebhookKey::new(SECRET),
        Timestamp::from_millis(NOW_MILLIS),
    ) {
        Ok(event) => {
            assert!(event.payload.is_object(), "an event is a JSON object");
            assert_eq!(
                event.dedupe_key.len(),
                84,
                "20 digits of time, then a SHA-256 digest in hex"
            );
        }
        Err(e) => assert_eq!(e.code(), "invalid_signature", "{e}"),
    }
}

/// `claims` (any bytes) as the payload of an HS256 JWT signed with `SECRET`.
pub fn signed_jwt(claims: &[u8]) -> Vec<u8> {
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims)
    );
    let mut mac = Hmac::<Sha256>::new_from_slice(SECRET).expect("HMAC takes any key length");
    mac.update(signing_input.as_bytes());
    let signature = URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes());
    format!("{signing_input}.{signature}").into_bytes()
}
