//! Reading the `Authorization` header: Bearer tokens (API calls, deauthorize) and Basic client
//! credentials, whose parts are form-url-encoded before base64 (RFC 6749 §2.3.1).

use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD};
use base64::Engine;

/// The header's scheme (`Bearer`, `Basic`, …), for the request log: never its credentials.
pub fn scheme(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
    value.split_whitespace().next().map(str::to_owned)
}

/// The token of `Authorization: Bearer <token>` (scheme matched case-insensitively).
pub fn bearer(headers: &HeaderMap) -> Option<&str> {
    credentials(headers, "bearer").filter(|token| !token.is_empty())
}

/// What an `Authorization: Basic` header says, if the request has one.
#[derive(Debug, PartialEq, Eq)]
pub enum Basic {
    Absent,
    Malformed,
    Credentials { client_id: String, secret: String },
}

pub fn basic(headers: &HeaderMap) -> Basic {
    let Some(encoded) = credentials(headers, "basic") else {
        return Basic::Absent;
    };
    let decoded = STANDARD
        .decode(encoded)
        .or_else(|_| STANDARD_NO_PAD.decode(encoded))
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some((id, secret)) = decoded.as_deref().and_then(|s| s.split_once(':')) else {
        return Basic::Malformed;
    };
    match (form_decode(id), form_decode(secret)) {
        (Some(client_id), Some(secret)) => Basic::Credentials { client_id, secret },
        _ => Basic::Malformed,
    }
}

fn credentials<'h>(headers: &'h HeaderMap, scheme: &str) -> Option<&'h str> {
    let value = headers.get(AUTHORIZATION)?.to_str().ok()?.trim();
    let (given, rest) = value.split_once(' ')?;
    given.eq_ignore_ascii_case(scheme).then(|| rest.trim())
}

/// `application/x-www-form-urlencoded` decoding of one value: `+` is a space, `%XX` a byte.
fn form_decode(s: &str) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(i + 1..i + 3)?;
                let hex = std::str::from_utf8(hex).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8(out).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn with(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(AUTHORIZATION, HeaderValue::from_str(value).unwrap());
        headers
    }

    #[test]
    fn basic_credentials_are_form_decoded() {
        // "my+app:s%3Acr%25t" → client "my app", secret "s:cr%t".
        let encoded = STANDARD.encode("my+app:s%3Acr%25t");
        assert_eq!(
            basic(&with(&format!("Basic {encoded}"))),
            Basic::Credentials {
                client_id: "my app".into(),
                secret: "s:cr%t".into()
            }
        );
        assert_eq!(basic(&with("Basic !!!")), Basic::Malformed);
        let bad_escape = STANDARD.encode("id:%zz");
        assert_eq!(
            basic(&with(&format!("Basic {bad_escape}"))),
            Basic::Malformed
        );
        assert_eq!(basic(&with("Bearer abc")), Basic::Absent);
        assert_eq!(basic(&HeaderMap::new()), Basic::Absent);
    }

    #[test]
    fn bearer_scheme_is_case_insensitive() {
        assert_eq!(bearer(&with("Bearer abc")), Some("abc"));
        assert_eq!(bearer(&with("bearer  abc ")), Some("abc"));
        assert_eq!(bearer(&with("Basic abc")), None);
        assert_eq!(bearer(&with("Bearer ")), None);
        assert_eq!(scheme(&with("Basic abc")).as_deref(), Some("Basic"));
    }
}
