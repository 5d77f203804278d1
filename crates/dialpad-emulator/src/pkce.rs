//! PKCE (RFC 7636): the challenge an authorize request commits to, and checking the verifier
//! the token request reveals (S256 and plain).

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sha2::{Digest, Sha256};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    S256,
    Plain,
}

impl Method {
    /// `code_challenge_method`; absent means `plain` (RFC 7636 §4.3).
    pub fn parse(method: Option<&str>) -> Option<Method> {
        match method {
            None | Some("plain") => Some(Method::Plain),
            Some("S256") => Some(Method::S256),
            Some(_) => None,
        }
    }
}

#[derive(Clone, Debug)]
pub struct Challenge {
    pub value: String,
    pub method: Method,
}

impl Challenge {
    pub fn verifies(&self, verifier: &str) -> bool {
        match self.method {
            Method::Plain => verifier == self.value,
            Method::S256 => {
                URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes())) == self.value
            }
        }
    }
}

/// RFC 7636 §4.1: 43 to 128 characters of `A-Z a-z 0-9 - . _ ~`.
pub fn well_formed_verifier(verifier: &str) -> bool {
    (43..=128).contains(&verifier.len())
        && verifier
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s256_matches_the_rfc_7636_example() {
        // RFC 7636 appendix B.
        let challenge = Challenge {
            value: "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM".into(),
            method: Method::S256,
        };
        let verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk";
        assert!(well_formed_verifier(verifier));
        assert!(challenge.verifies(verifier));
        assert!(!challenge.verifies("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXK"));
    }

    #[test]
    fn plain_compares_and_methods_parse() {
        let challenge = Challenge {
            value: "a".repeat(43),
            method: Method::Plain,
        };
        assert!(challenge.verifies(&"a".repeat(43)));
        assert!(!challenge.verifies(&"b".repeat(43)));
        assert_eq!(Method::parse(None), Some(Method::Plain));
        assert_eq!(Method::parse(Some("S256")), Some(Method::S256));
        assert_eq!(Method::parse(Some("s256")), None);
        assert!(!well_formed_verifier("short"));
        assert!(!well_formed_verifier(&"a b".repeat(20)));
    }
}
