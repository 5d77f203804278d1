//! What went wrong when a request got no answer, in plain words: reqwest's own wording
//! ("builder error", "error sending request") names its internals, not what happened, so
//! every transport failure of this crate is described here instead.

use std::error::Error as StdError;
use std::io;

/// Describes a reqwest failure for the person reading the error: what happened, and the
/// underlying cause when the system gave one ("connection refused"). Never the URL (it may
/// carry a credential) and never reqwest's internal wording.
pub fn describe(err: &reqwest::Error) -> String {
    if err.is_builder() {
        return "the request was not sent: the credential or a header holds characters HTTP \
                headers cannot carry (control characters or line breaks)"
            .into();
    }
    let what = if err.is_timeout() {
        "no answer came in time"
    } else if err.is_connect() {
        "the connection could not be opened"
    } else if err.is_redirect() {
        "the answer was a redirect, which is not followed"
    } else if err.is_body() || err.is_decode() {
        "the connection broke off while the answer was being read"
    } else {
        "the connection failed before an answer came"
    };
    match system_cause(err) {
        Some(cause) if !err.is_timeout() => format!("{what} ({cause})"),
        _ => what.to_owned(),
    }
}

/// The operating system's reason, from the innermost I/O error of the chain, without its
/// error number: "connection refused", "failed to lookup address information: …".
fn system_cause(err: &reqwest::Error) -> Option<String> {
    let mut source: Option<&(dyn StdError + 'static)> = err.source();
    let mut innermost = None;
    while let Some(current) = source {
        if let Some(io_error) = current.downcast_ref::<io::Error>() {
            innermost = Some(io_error);
        }
        source = current.source();
    }
    let text = innermost?.to_string();
    let text = match text.rfind(" (os error ") {
        Some(at) if text.ends_with(')') => text[..at].to_owned(),
        _ => text,
    };
    let mut chars = text.chars();
    let first = chars.next()?;
    Some(first.to_lowercase().chain(chars).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_control_character_in_the_credential_is_named_not_builder_error() {
        let err = reqwest::Client::new()
            .get("http://127.0.0.1:9/")
            .bearer_auth("key\u{7}with-bell")
            .build()
            .expect_err("an invalid header value");
        let text = describe(&err);
        assert!(
            text.contains("characters HTTP headers cannot carry"),
            "{text}"
        );
        assert!(!text.contains("builder"), "{text}");
    }
}
