//! Contacts: shared with the whole company, or local to one user (`owner_id`). Serialize as
//! `schemas.contact.ContactProto`; `display_name`, `primary_email` and `primary_phone` are
//! derived from the fields, as Dialpad derives them.

use serde::{Deserialize, Serialize};

use crate::ids::{CompanyId, ContactId, UserId};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactType {
    Local,
    Shared,
}

#[derive(Clone, Debug, Serialize)]
pub struct Contact {
    pub id: ContactId,
    #[serde(skip)]
    pub company_id: CompanyId,
    /// The owning user of a local contact; absent for a shared one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner_id: Option<UserId>,
    #[serde(rename = "type")]
    pub contact_type: ContactType,
    pub first_name: String,
    pub last_name: String,
    pub display_name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub company_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub job_title: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extension: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trunk_group: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub urls: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_email: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub primary_phone: Option<String>,
}

/// The fields of `CreateContactMessage` / `UpdateContactMessage` (the spec has checked types
/// and unknown fields before this is read); in an update, `None` leaves a field as it is.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct ContactFields {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub company_name: Option<String>,
    pub job_title: Option<String>,
    pub extension: Option<String>,
    pub trunk_group: Option<String>,
    pub emails: Option<Vec<String>>,
    pub phones: Option<Vec<String>>,
    pub urls: Option<Vec<String>>,
    pub owner_id: Option<UserId>,
}

impl Contact {
    pub fn new(id: ContactId, company_id: CompanyId, fields: ContactFields) -> Contact {
        let mut contact = Contact {
            id,
            company_id,
            owner_id: fields.owner_id,
            contact_type: if fields.owner_id.is_some() {
                ContactType::Local
            } else {
                ContactType::Shared
            },
            first_name: String::new(),
            last_name: String::new(),
            display_name: String::new(),
            company_name: None,
            job_title: None,
            extension: None,
            trunk_group: None,
            emails: Vec::new(),
            phones: Vec::new(),
            urls: Vec::new(),
            primary_email: None,
            primary_phone: None,
        };
        contact.apply(fields);
        contact
    }

    /// Applies the fields given, then re-derives the display fields.
    pub fn apply(&mut self, fields: ContactFields) {
        let ContactFields {
            first_name,
            last_name,
            company_name,
            job_title,
            extension,
            trunk_group,
            emails,
            phones,
            urls,
            owner_id: _,
        } = fields;
        if let Some(v) = first_name {
            self.first_name = v;
        }
        if let Some(v) = last_name {
            self.last_name = v;
        }
        if company_name.is_some() {
            self.company_name = company_name;
        }
        if job_title.is_some() {
            self.job_title = job_title;
        }
        if extension.is_some() {
            self.extension = extension;
        }
        if trunk_group.is_some() {
            self.trunk_group = trunk_group;
        }
        if let Some(v) = emails {
            self.emails = v;
        }
        if let Some(v) = phones {
            self.phones = v;
        }
        if let Some(v) = urls {
            self.urls = v;
        }
        self.display_name = format!("{} {}", self.first_name, self.last_name)
            .trim()
            .to_owned();
        self.primary_email = self.emails.first().cloned();
        self.primary_phone = self.phones.first().cloned();
    }

    /// Whether `user` may see this contact: shared contacts are the company's, local ones
    /// their owner's (a company-level caller, `None`, sees them all).
    pub fn visible_to(&self, user: Option<UserId>) -> bool {
        match (self.owner_id, user) {
            (None, _) | (_, None) => true,
            (Some(owner), Some(user)) => owner == user,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_fields_follow_updates_and_absent_fields_stay() {
        let mut contact = Contact::new(
            ContactId(1),
            CompanyId(2),
            ContactFields {
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                phones: Some(vec!["+14155550100".into()]),
                ..ContactFields::default()
            },
        );
        assert_eq!(contact.display_name, "Ada Lovelace");
        assert_eq!(contact.contact_type, ContactType::Shared);
        assert_eq!(contact.primary_phone.as_deref(), Some("+14155550100"));
        contact.apply(ContactFields {
            last_name: Some("King".into()),
            ..ContactFields::default()
        });
        assert_eq!(contact.display_name, "Ada King");
        assert_eq!(contact.phones, vec!["+14155550100".to_owned()]);
    }
}
