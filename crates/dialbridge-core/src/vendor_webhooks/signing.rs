//! Standard Webhooks signatures (<https://www.standardwebhooks.com>) and endpoint secrets.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use hmac::{Hmac, Mac};
use rand::RngCore;
use sha2::Sha256;

use crate::secret::Secret;

const SECRET_PREFIX: &str = "whsec_";
const SECRET_BYTES: usize = 24;

/// `v1,<base64 HMAC-SHA256 of "{id}.{timestamp}.{body}">` under the decoded `whsec_` secret.
pub(crate) fn sign(
    secret: &str,
    id: &str,
    timestamp: i64,
    body: &[u8],
) -> std::result::Result<String, String> {
    let key = STANDARD
        .decode(secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret))
        .map_err(|e| format!("the secret is not base64: {e}"))?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).map_err(|e| format!("unusable key: {e}"))?;
    mac.update(id.as_bytes());
    mac.update(b".");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    Ok(format!(
        "v1,{}",
        STANDARD.encode(mac.finalize().into_bytes())
    ))
}

/// `whsec_` and the base64 of 24 random bytes.
pub(crate) fn generate_secret() -> Secret {
    let mut bytes = [0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    Secret::new(format!("{SECRET_PREFIX}{}", STANDARD.encode(bytes)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_match_the_standard_webhooks_test_vector() {
        let signature = sign(
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            "msg_p5jXN8AQM9LWM0D4loKWxJek",
            1_614_265_330,
            br#"{"test": 2432232314}"#,
        )
        .unwrap();
        assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
    }

    #[test]
    fn a_different_body_id_or_timestamp_changes_the_signature() {
        let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let base = sign(secret, "msg_1", 100, b"{}").unwrap();
        assert_ne!(base, sign(secret, "msg_2", 100, b"{}").unwrap());
        assert_ne!(base, sign(secret, "msg_1", 101, b"{}").unwrap());
        assert_ne!(base, sign(secret, "msg_1", 100, b"{ }").unwrap());
        assert!(sign("whsec_not base64!", "msg_1", 100, b"{}").is_err());
    }

    #[test]
    fn secrets_are_whsec_and_24_random_bytes() {
        let a = generate_secret();
        let b = generate_secret();
        assert_ne!(a.expose(), b.expose());
        let encoded = a.expose().strip_prefix("whsec_").expect("prefix");
        assert_eq!(STANDARD.decode(encoded).unwrap().len(), 24);
    }
}
