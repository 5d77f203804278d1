//! The seeded world every emulator starts from (and returns to on reset): two companies, an
//! office each, users (one admin each), contacts, channels and recent calls. Ids are fixed, so
//! tests and docs can name them; call times are relative to `now`.

use crate::ids::{CallId, ChannelId, CompanyId, ContactId, OfficeId, UserId};
use crate::world::{
    AccountType, Call, CallParty, CallState, Channel, Company, Contact, ContactFields, Direction,
    Enablement, Office, User, World,
};

pub const ACME: CompanyId = CompanyId(5629499534213120);
pub const ACME_HQ: OfficeId = OfficeId(6192449487634432);
pub const GLOBEX: CompanyId = CompanyId(4644337115725824);
pub const GLOBEX_LONDON: OfficeId = OfficeId(5207287069147136);

/// The seeded world with call times relative to `now_ms`.
pub fn world(now_ms: i64) -> World {
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
        office: &offices[0],
        domain: "acme.example",
    };
    let globex = Place {
        office: &offices[1],
        domain: "globex.example",
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
    let mut world = World::default();
    world.companies = companies;
    world.offices = offices;
    world.users = users;
    seed_contacts(&mut world);
    seed_channels(&mut world);
    seed_calls(&mut world, now_ms);
    world
}

fn seed_contacts(world: &mut World) {
    let contacts = [
        (
            4_600_000_000_000_001,
            ACME,
            None,
            "Dana",
            "Diaz",
            "Initech",
            "+14155550150",
        ),
        (
            4_600_000_000_000_002,
            ACME,
            None,
            "Eli",
            "Evans",
            "Hooli",
            "+14155550151",
        ),
        (
            4_600_000_000_000_003,
            ACME,
            None,
            "Fay",
            "Fox",
            "Umbrella",
            "+14155550152",
        ),
        (
            4_600_000_000_000_004,
            ACME,
            Some(UserId(4785074604081152)),
            "Gus",
            "Green",
            "Vandelay",
            "+14155550153",
        ),
        (
            4_600_000_000_000_011,
            GLOBEX,
            None,
            "Iris",
            "Ito",
            "Soylent",
            "+442079460150",
        ),
        (
            4_600_000_000_000_012,
            GLOBEX,
            None,
            "Jon",
            "Jay",
            "Tyrell",
            "+442079460151",
        ),
    ];
    for (id, company, owner, first, last, org, phone) in contacts {
        world.contacts.push(Contact::new(
            ContactId(id),
            company,
            ContactFields {
                first_name: Some(first.into()),
                last_name: Some(last.into()),
                company_name: Some(org.into()),
                emails: Some(vec![format!(
                    "{}@{}.example",
                    first.to_lowercase(),
                    org.to_lowercase()
                )]),
                phones: Some(vec![phone.into()]),
                owner_id: owner,
                ..ContactFields::default()
            },
        ));
    }
}

fn seed_channels(world: &mut World) {
    let channels = [
        (4_700_000_000_000_001, ACME, "general"),
        (4_700_000_000_000_002, ACME, "support"),
        (4_700_000_000_000_011, GLOBEX, "general"),
    ];
    for (id, company, name) in channels {
        world.channels.push(Channel {
            id: ChannelId(id),
            name: name.into(),
            company_id: company,
        });
    }
}

/// Concluded calls over the last two days: answered inbound and outbound, missed, voicemail.
fn seed_calls(world: &mut World, now_ms: i64) {
    const HOUR: i64 = 3_600_000;
    // (id, user, contact, direction, started hours ago, outcome)
    let calls = [
        (
            4_800_000_000_000_001,
            5910974510923776,
            4_600_000_000_000_001,
            Direction::Inbound,
            40,
            CallState::Hangup,
        ),
        (
            4_800_000_000_000_002,
            4785074604081152,
            4_600_000_000_000_002,
            Direction::Outbound,
            30,
            CallState::Hangup,
        ),
        (
            4_800_000_000_000_003,
            4785074604081152,
            4_600_000_000_000_003,
            Direction::Inbound,
            20,
            CallState::Missed,
        ),
        (
            4_800_000_000_000_004,
            6473924464345088,
            4_600_000_000_000_001,
            Direction::Inbound,
            10,
            CallState::VoicemailUploaded,
        ),
        (
            4_800_000_000_000_005,
            6473924464345088,
            4_600_000_000_000_002,
            Direction::Outbound,
            5,
            CallState::Hangup,
        ),
        (
            4_800_000_000_000_006,
            5910974510923776,
            4_600_000_000_000_003,
            Direction::Outbound,
            2,
            CallState::Hangup,
        ),
        (
            4_800_000_000_000_011,
            5770237022568448,
            4_600_000_000_000_011,
            Direction::Inbound,
            26,
            CallState::Hangup,
        ),
        (
            4_800_000_000_000_012,
            6333186975989760,
            4_600_000_000_000_012,
            Direction::Outbound,
            3,
            CallState::Hangup,
        ),
    ];
    for (id, user, contact, direction, hours_ago, outcome) in calls {
        let started = now_ms - hours_ago * HOUR;
        let Some(call) = seeded_call(
            world,
            CallId(id),
            UserId(user),
            ContactId(contact),
            direction,
            started,
            outcome,
        ) else {
            continue;
        };
        world.calls.push(call);
    }
}

fn seeded_call(
    world: &World,
    id: CallId,
    user: UserId,
    contact: ContactId,
    direction: Direction,
    started: i64,
    outcome: CallState,
) -> Option<Call> {
    let user = world.user(user)?;
    let contact = world.contacts.iter().find(|c| c.id == contact)?;
    user.phone_numbers.first()?; // a call needs the user's number
    let external = contact.phones.first()?.clone();
    let mut call = Call::begin(
        id,
        user,
        direction,
        &external,
        CallParty::contact(contact),
        started,
    );
    call.advance(CallState::Ringing, started + 1_000);
    match outcome {
        CallState::Missed => call.advance(CallState::Missed, started + 30_000),
        CallState::VoicemailUploaded => {
            call.advance(CallState::Voicemail, started + 25_000);
            call.advance(CallState::Hangup, started + 55_000);
            call.voicemail_share_link = Some(format!("https://dialpad.example/v/{id}"));
            call.transcription_text = Some("Hi, please call me back about my order.".into());
            call.advance(CallState::VoicemailUploaded, started + 70_000);
        }
        _ => {
            call.advance(CallState::Connected, started + 8_000);
            call.advance(CallState::Hangup, started + 188_000);
        }
    }
    Some(call)
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

/// Where a seeded user works: the office, and the company's email domain.
struct Place<'a> {
    office: &'a Office,
    domain: &'static str,
}

impl Place<'_> {
    fn user(&self, id: i64, first: &str, last: &str, phone: &str, job: &str, admin: bool) -> User {
        let email = format!("{}@{}", first.to_lowercase(), self.domain);
        let mut user = User::new(
            UserId(id),
            self.office,
            first,
            last,
            email,
            "2024-01-15T09:00:00".into(),
        );
        user.phone_numbers = vec![phone.into()];
        user.is_admin = admin;
        user.is_super_admin = admin;
        user.admin_office_ids = if admin { vec![self.office.id] } else { vec![] };
        user.job_title = job.into();
        user.date_active = "2024-01-15T09:30:00".into();
        user.date_first_login = Some("2024-01-15T09:30:00".into());
        user
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_company_has_one_office_and_exactly_one_admin() {
        let world = world(1_800_000_000_000);
        assert_eq!(world.companies.len(), 2);
        assert_eq!(
            world.calls.len(),
            8,
            "every seeded call finds its user and contact"
        );
        assert!(world.calls.iter().all(Call::is_concluded));
        for company in &world.companies {
            assert_eq!(world.offices_of(company.id).count(), 1);
            let users: Vec<_> = world.users_of(company.id).collect();
            assert!((2..=3).contains(&users.len()));
            assert_eq!(users.iter().filter(|u| u.is_admin).count(), 1);
        }
        assert_eq!(world.default_user().map(|u| u.company_id), Some(ACME));
    }
}
