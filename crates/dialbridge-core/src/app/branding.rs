//! The vendor's brand on the hosted connect page: the name customers know the vendor by, an
//! accent colour, a logo and a support link. Validated here, stored as one setting.

use serde::{Deserialize, Serialize};
use url::Url;

use crate::error::{Error, FieldError, Result};

/// The longest logo accepted inline (an uploaded image, kept as a `data:` URL).
pub const MAX_LOGO_BYTES: usize = 256 * 1024;

/// `PUT /api/v1/app/branding`, and what the connect page shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Branding {
    /// The name the vendor's customers know it by, 1–80 characters.
    #[schema(example = "Acme CRM")]
    pub display_name: String,
    /// `#rrggbb`: buttons and links on the connect page.
    #[schema(example = "#0b6bcb")]
    pub accent_color: String,
    /// An absolute http(s) URL, or a `data:image/…;base64,` URL up to 256 KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub logo_url: Option<String>,
    /// Where a customer with a problem can get help (http(s) or `mailto:`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub support_url: Option<String>,
}

impl Default for Branding {
    /// Neutral until the vendor sets its own: no product name of ours reaches a customer.
    fn default() -> Self {
        Branding {
            display_name: "Connect Dialpad".to_owned(),
            accent_color: "#5b3ec8".to_owned(),
            logo_url: None,
            support_url: None,
        }
    }
}

impl Branding {
    /// Trims the fields, drops empty optional ones, and lists every problem at once.
    pub fn validated(mut self) -> Result<Self> {
        let mut problems = Vec::new();
        self.display_name = self.display_name.trim().to_owned();
        let name_chars = self.display_name.chars().count();
        if !(1..=80).contains(&name_chars) {
            problems.push(FieldError::new(
                "display_name",
                "must be 1 to 80 characters",
            ));
        }
        self.accent_color = self.accent_color.trim().to_ascii_lowercase();
        if !is_hex_colour(&self.accent_color) {
            problems.push(FieldError::new(
                "accent_color",
                "must be a colour as #rrggbb, e.g. #0b6bcb",
            ));
        }
        self.logo_url = non_empty(self.logo_url);
        if let Some(logo) = &self.logo_url {
            if let Some(problem) = logo_problem(logo) {
                problems.push(FieldError::new("logo_url", problem));
            }
        }
        self.support_url = non_empty(self.support_url);
        if let Some(support) = &self.support_url {
            if !is_web_url(support) && !support.starts_with("mailto:") {
                problems.push(FieldError::new(
                    "support_url",
                    "must be an absolute http(s) URL or a mailto: address",
                ));
            }
        }
        if problems.is_empty() {
            Ok(self)
        } else {
            Err(Error::InvalidInput(problems))
        }
    }
}

fn non_empty(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn is_hex_colour(text: &str) -> bool {
    text.len() == 7 && text.starts_with('#') && text[1..].chars().all(|c| c.is_ascii_hexdigit())
}

fn is_web_url(text: &str) -> bool {
    Url::parse(text)
        .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.host().is_some())
}

fn logo_problem(logo: &str) -> Option<String> {
    if let Some(rest) = logo.strip_prefix("data:") {
        let allowed = [
            "image/png;base64,",
            "image/jpeg;base64,",
            "image/gif;base64,",
            "image/webp;base64,",
        ];
        if !allowed.iter().any(|prefix| rest.starts_with(prefix)) {
            return Some("an inline logo must be a base64 PNG, JPEG, GIF or WebP image".into());
        }
        if logo.len() > MAX_LOGO_BYTES * 4 / 3 + 64 {
            return Some(format!(
                "an inline logo must be at most {} KiB",
                MAX_LOGO_BYTES / 1024
            ));
        }
        return None;
    }
    (!is_web_url(logo)).then(|| "must be an absolute http(s) URL or an uploaded image".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn branding(name: &str, colour: &str) -> Branding {
        Branding {
            display_name: name.into(),
            accent_color: colour.into(),
            logo_url: Some(" ".into()),
            support_url: None,
        }
    }

    #[test]
    fn a_good_brand_is_trimmed_and_kept() {
        let ok = branding("  Acme CRM ", "#0B6BCB")
            .validated()
            .expect("valid");
        assert_eq!(ok.display_name, "Acme CRM");
        assert_eq!(ok.accent_color, "#0b6bcb");
        assert_eq!(ok.logo_url, None);
    }

    #[test]
    fn every_problem_is_listed_with_its_field() {
        let mut bad = branding("", "blue");
        bad.logo_url = Some("javascript:alert(1)".into());
        bad.support_url = Some("ftp://x".into());
        let Err(Error::InvalidInput(problems)) = bad.validated() else {
            panic!("accepted");
        };
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        assert_eq!(
            fields,
            ["display_name", "accent_color", "logo_url", "support_url"]
        );
    }

    #[test]
    fn an_inline_logo_must_be_an_image() {
        let mut brand = branding("Acme", "#000000");
        brand.logo_url = Some("data:text/html;base64,PHNjcmlwdD4=".into());
        assert!(brand.clone().validated().is_err());
        brand.logo_url = Some("data:image/png;base64,iVBORw0KGgo=".into());
        assert!(brand.validated().is_ok());
    }
}
