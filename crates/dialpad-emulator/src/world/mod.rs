//! The emulated Dialpad world: every resource of every company, shaped as the spec's protos.
//! Plain data with lookups and the rules of each resource; who may call what is decided by the
//! API layer, and which events a change causes by `events`.

mod calls;
mod channels;
mod contacts;
mod directory;
mod messages;
mod webhooks;

pub use calls::{Call, CallParty, CallState, Direction};
pub use channels::{Channel, PrivacyType};
pub use contacts::{Contact, ContactFields, ContactType};
pub use directory::{AccountType, Company, CompanyProto, Enablement, License, Office, User};
pub use messages::{DeliveryResult, MessageStatus, Sms};
pub use webhooks::{
    AgentStatusSubscription, CallSubscription, ContactSubscription, SmsDirectionFilter,
    SmsSubscription, Subscription, SubscriptionKind, TargetType, Webhook,
};

use crate::ids::{CompanyId, UserId};

#[derive(Clone, Debug)]
pub struct World {
    pub companies: Vec<Company>,
    pub offices: Vec<Office>,
    pub users: Vec<User>,
    pub contacts: Vec<Contact>,
    pub channels: Vec<Channel>,
    pub calls: Vec<Call>,
    pub messages: Vec<Sms>,
    pub webhooks: Vec<Webhook>,
    pub subscriptions: Vec<Subscription>,
    /// The next id handed out to anything created at run time (ids are unique across kinds,
    /// as Dialpad's datastore keys are).
    next_id: i64,
}

/// Where run-time ids start: after every seeded id, still a 16-digit int64 like Dialpad's.
const FIRST_RUNTIME_ID: i64 = 6_700_000_000_000_000;

impl Default for World {
    fn default() -> Self {
        World {
            companies: Vec::new(),
            offices: Vec::new(),
            users: Vec::new(),
            contacts: Vec::new(),
            channels: Vec::new(),
            calls: Vec::new(),
            messages: Vec::new(),
            webhooks: Vec::new(),
            subscriptions: Vec::new(),
            next_id: FIRST_RUNTIME_ID,
        }
    }
}

impl World {
    /// A fresh id for a new resource.
    pub fn next_id(&mut self) -> i64 {
        // A stride rather than +1, so ids of consecutive objects do not look like counters.
        self.next_id += 7_919;
        self.next_id
    }

    pub fn company(&self, id: CompanyId) -> Option<&Company> {
        self.companies.iter().find(|c| c.id == id)
    }

    pub fn user(&self, id: UserId) -> Option<&User> {
        self.users.iter().find(|u| u.id == id)
    }

    pub fn offices_of(&self, company: CompanyId) -> impl Iterator<Item = &Office> {
        self.offices.iter().filter(move |o| o.company_id == company)
    }

    pub fn users_of(&self, company: CompanyId) -> impl Iterator<Item = &User> {
        self.users.iter().filter(move |u| u.company_id == company)
    }

    /// The company's administrator (every seeded company has exactly one).
    pub fn admin_of(&self, company: CompanyId) -> Option<&User> {
        self.users_of(company).find(|u| u.is_admin)
    }

    /// The user a control call signs in as when it names none: the first company's admin.
    pub fn default_user(&self) -> Option<&User> {
        self.companies.first().and_then(|c| self.admin_of(c.id))
    }

    /// The user of `company` who has `number` among their phone numbers.
    pub fn user_by_number(&self, company: CompanyId, number: &str) -> Option<&User> {
        self.users_of(company)
            .find(|u| u.phone_numbers.iter().any(|n| n == number))
    }

    pub fn company_proto(&self, id: CompanyId) -> Option<CompanyProto> {
        let company = self.company(id)?;
        Some(CompanyProto {
            company: company.clone(),
            office_count: self.offices_of(id).count().to_string(),
            admin_email: self
                .admin_of(id)
                .and_then(|admin| admin.emails.first().cloned()),
        })
    }
}
