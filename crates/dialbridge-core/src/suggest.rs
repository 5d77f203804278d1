//! "Did you mean …?": the known names closest to a misspelt one.

/// Up to three of `candidates` close to `name`, closest first.
pub(crate) fn close_matches<'c>(name: &str, candidates: &[&'c str]) -> Vec<&'c str> {
    let mut scored: Vec<(f64, &str)> = candidates
        .iter()
        .map(|c| (strsim::jaro_winkler(name, c), *c))
        .filter(|(score, _)| *score >= 0.8)
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0));
    scored.into_iter().take(3).map(|(_, c)| c).collect()
}

/// "did you mean x? " for the candidate closest to `name`; empty when none is close.
pub(crate) fn did_you_mean(name: &str, candidates: &[&str]) -> String {
    closest(name, candidates)
        .map(|c| format!("did you mean {c}? "))
        .unwrap_or_default()
}

/// The one candidate closest to `name`, if any is close.
pub(crate) fn closest<'c>(name: &str, candidates: &[&'c str]) -> Option<&'c str> {
    close_matches(name, candidates).into_iter().next()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn close_names_are_suggested_closest_first() {
        let known = ["list_users", "list_calls", "send_sms"];
        assert_eq!(close_matches("list_user", &known)[0], "list_users");
        assert_eq!(closest("sned_sms", &known), Some("send_sms"));
        assert_eq!(closest("hangup", &known), None);
        assert_eq!(did_you_mean("sned_sms", &known), "did you mean send_sms? ");
        assert_eq!(did_you_mean("hangup", &known), "");
    }
}
