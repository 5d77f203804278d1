//! The action catalog: the 19 Dialpad actions of DESIGN.md plus `http_request`. Each names the
//! spec operation it performs; its input schema and scopes are derived from the official spec
//! (`input.rs`), so the catalog cannot drift from what Dialpad documents.

/// One catalog entry.
#[derive(Debug, Clone, Copy)]
pub struct ActionDef {
    pub key: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// The spec's `operationId`; `None` for `http_request`, which takes any operation.
    pub operation_id: Option<&'static str>,
    /// A list operation: the input also takes `limit`, `cursor`, `all` and `max_items`.
    pub list: bool,
}

const fn action(
    key: &'static str,
    operation_id: &'static str,
    name: &'static str,
    description: &'static str,
    list: bool,
) -> ActionDef {
    ActionDef {
        key,
        name,
        description,
        operation_id: Some(operation_id),
        list,
    }
}

pub const HTTP_REQUEST: &str = "http_request";

pub static ACTIONS: &[ActionDef] = &[
    action("list_calls", "call.list", "List calls", "Concluded calls, newest first, filtered by start time or target. Needs the calls:list scope.", true),
    action("get_call", "call.get_call_info", "Get a call", "One call by id. Dialpad allows 10 per minute.", false),
    action("add_participant", "call.participants.add", "Add a participant", "Adds a phone number or a target (with a primary number) to an ongoing call.", false),
    action("transfer_call", "call.transfer_call", "Transfer a call", "Transfers an ongoing call to a number, another call or a target.", false),
    action("hangup_call", "call.actions.hangup", "Hang up a call", "Ends an ongoing call.", false),
    action("list_channels", "channels.list", "List channels", "The company's channels.", true),
    action("create_channel", "channels.post", "Create a channel", "A new channel with a name, a description and a privacy type.", false),
    action("get_channel", "channels.get", "Get a channel", "One channel by id.", false),
    action("delete_channel", "channels.delete", "Delete a channel", "Deletes a channel.", false),
    action("list_contacts", "contacts.list", "List contacts", "Shared contacts (and local ones with include_local, or one user's with owner_id).", true),
    action("create_contact", "contacts.create", "Create a contact", "A new contact; first_name and last_name are required. Dialpad allows 100 per minute.", false),
    action("get_contact", "contacts.get", "Get a contact", "One contact by id.", false),
    action("update_contact", "contacts.update", "Update a contact", "Changes only the fields given.", false),
    action("delete_contact", "contacts.delete", "Delete a contact", "Deletes a contact.", false),
    action("send_sms", "sms.send", "Send an SMS", "Sends a text from a user to up to 10 numbers. Dialpad allows 100 per minute.", false),
    action("list_users", "users.list", "List users", "The company's users, filtered by state, admin role, email or number.", true),
    action("create_user", "users.create", "Create a user", "A new user in an office; email and office_id are required.", false),
    action("update_user", "users.update", "Update a user", "Changes only the fields given.", false),
    action("get_user", "users.get", "Get a user", "One user by id (or `me`).", false),
    ActionDef {
        key: HTTP_REQUEST,
        name: "HTTP request",
        description: "Any documented Dialpad API v2 operation: method, path (under /api/v2/), query and body; answers Dialpad's status, headers and body.",
        operation_id: None,
        list: false,
    },
];

pub fn find(key: &str) -> Option<&'static ActionDef> {
    ACTIONS.iter().find(|a| a.key == key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_action_names_a_documented_operation_once() {
        assert_eq!(ACTIONS.len(), 20);
        let mut keys: Vec<_> = ACTIONS.iter().map(|a| a.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), 20, "keys are unique");
        for def in ACTIONS.iter().filter_map(|a| a.operation_id) {
            assert!(dialpad_spec::spec().operation(def).is_some(), "{def}");
        }
    }
}
