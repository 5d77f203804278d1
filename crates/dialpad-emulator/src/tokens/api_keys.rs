//! API keys: company-level (an admin's key) or user-level, as Dialpad's admin settings make
//! them. They never expire; the control API creates them.

use super::{ApiKey, TokenStore};
use crate::ids::{CompanyId, UserId};
use crate::random;

impl TokenStore {
    /// A new key; the caller has checked that the company (and user) exist.
    pub fn create_api_key(&mut self, company_id: CompanyId, user_id: Option<UserId>) -> String {
        self.install_api_key(random::token(), company_id, user_id)
    }

    /// Registers a key with a value chosen by the caller (`dialbridge emulator --api-key`).
    pub fn install_api_key(
        &mut self,
        key: String,
        company_id: CompanyId,
        user_id: Option<UserId>,
    ) -> String {
        self.api_keys.insert(
            key.clone(),
            ApiKey {
                company_id,
                user_id,
            },
        );
        key
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn api_keys_resolve_to_their_company_and_user_and_survive_expire_all() {
        let mut store = TokenStore::default();
        let company_key = store.create_api_key(CompanyId(1), None);
        let user_key = store.create_api_key(CompanyId(1), Some(UserId(7)));
        let now = Instant::now();
        store.expire_all_access_tokens(now);
        let company = store.principal(&company_key, now).unwrap();
        assert_eq!((company.company_id, company.user_id), (CompanyId(1), None));
        let user = store.principal(&user_key, now).unwrap();
        assert_eq!(user.user_id, Some(UserId(7)));
    }
}
