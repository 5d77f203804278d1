//! The seeded world every emulator starts from (and returns to on reset): two companies, an
//! office each, a handful of users. Deterministic, so tests and docs can name these ids.

use crate::ids::{CompanyId, OfficeId, UserId};
use crate::world::{AccountType, Company, Enablement, License, Office, User, World};

pub const ACME: CompanyId = CompanyId(5629499534213120);
pub const ACME_HQ: OfficeId = OfficeId(6192449487634432);
pub const GLOBEX: CompanyId = CompanyId(4644337115725824);
pub const GLOBEX_LONDON: OfficeId = OfficeId(5207287069147136);

pub fn world() -> World {
    let companies = vec![
        Company {
            id: ACME,
            name: "Acme Corp".into(),
            domain: "acme.example".into(),
            country: "us".into(),
            account_type: AccountType::Pro,
            state: Enablement::Active,
        },
        Company {
            id: GLOBEX,
            name: "Globex".into(),
            domain: "globex.example".into(),
            country: "gb".into(),
            account_type: AccountType::Standard,
            state: Enablement::Active,
        },
    ];
    let offices = vec![
        office(ACME_HQ, ACME, "Acme HQ", "us", "US/Pacific"),
        office(
            GLOBEX_LONDON,
            GLOBEX,
            "Globex London",
            "gb",
            "Europe/London",
        ),
    ];
    let acme = Place {
        company: ACME,
        office: ACME_HQ,
        domain: "acme.example",
        country: "us",
        timezone: "US/Pacific",
    };
    let globex = Place {
        company: GLOBEX,
        office: GLOBEX_LONDON,
        domain: "globex.example",
        country: "gb",
        timezone: "Europe/London",
    };
    let users = vec![
        acme.user(
            5910974510923776,
            "Avery",
            "Adams",
            "+14155550101",
            "CEO",
            true,
        ),
        acme.user(
            4785074604081152,
            "Blake",
            "Brown",
            "+14155550102",
            "Support",
            false,
        ),
        acme.user(
            6473924464345088,
            "Casey",
            "Chen",
            "+14155550103",
            "Sales",
            false,
        ),
        globex.user(
            5770237022568448,
            "Gina",
            "Grant",
            "+442079460101",
            "COO",
            true,
        ),
        globex.user(
            6333186975989760,
            "Hugo",
            "Hale",
            "+442079460102",
            "Support",
            false,
        ),
    ];
    World {
        companies,
        offices,
        users,
    }
}

fn office(id: OfficeId, company_id: CompanyId, name: &str, country: &str, tz: &str) -> Office {
    Office {
        id,
        company_id,
        name: name.into(),
        country: country.into(),
        timezone: tz.into(),
        state: Enablement::Active,
    }
}

/// Where a seeded user works; fills in what all users of one office share.
struct Place {
    company: CompanyId,
    office: OfficeId,
    domain: &'static str,
    country: &'static str,
    timezone: &'static str,
}

impl Place {
    fn user(&self, id: i64, first: &str, last: &str, phone: &str, job: &str, admin: bool) -> User {
        User {
            id: UserId(id),
            company_id: self.company,
            office_id: self.office,
            first_name: first.into(),
            last_name: last.into(),
            display_name: format!("{first} {last}"),
            emails: vec![format!("{}@{}", first.to_lowercase(), self.domain)],
            phone_numbers: vec![phone.into()],
            state: Enablement::Active,
            is_admin: admin,
            is_super_admin: admin,
            admin_office_ids: if admin { vec![self.office] } else { vec![] },
            country: self.country.into(),
            language: "en".into(),
            timezone: self.timezone.into(),
            license: License::Talk,
            job_title: job.into(),
            date_added: "2024-01-15T09:00:00".into(),
            date_active: "2024-01-15T09:30:00".into(),
            date_first_login: "2024-01-15T09:30:00".into(),
            do_not_disturb: false,
            is_available: true,
            is_online: false,
            is_on_duty: false,
            muted: false,
            international_dialing_enabled: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_company_has_one_office_and_exactly_one_admin() {
        let world = world();
        assert_eq!(world.companies.len(), 2);
        for company in &world.companies {
            assert_eq!(world.offices_of(company.id).count(), 1);
            let users: Vec<_> = world.users_of(company.id).collect();
            assert!((2..=3).contains(&users.len()));
            assert_eq!(users.iter().filter(|u| u.is_admin).count(), 1);
        }
        assert_eq!(world.default_user().map(|u| u.company_id), Some(ACME));
    }
}
