//! Authorization requests shown on a consent page and waiting for the person's decision,
//! keyed by an unguessable id that the page's form carries back.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::oauth::AuthorizeRequest;
use crate::random;

/// How long a consent page stays answerable.
const PENDING_TTL: Duration = Duration::from_secs(30 * 60);

#[derive(Clone, Debug, Default)]
pub struct PendingRequests {
    by_id: HashMap<String, (AuthorizeRequest, Instant)>,
}

impl PendingRequests {
    pub fn insert(&mut self, request: AuthorizeRequest, now: Instant) -> String {
        self.by_id
            .retain(|_, (_, created)| now.saturating_duration_since(*created) < PENDING_TTL);
        let id = random::token();
        self.by_id.insert(id.clone(), (request, now));
        id
    }

    /// The request, once: a page is answered at most one time.
    pub fn take(&mut self, id: &str, now: Instant) -> Option<AuthorizeRequest> {
        let (request, created) = self.by_id.remove(id)?;
        (now.saturating_duration_since(created) < PENDING_TTL).then_some(request)
    }
}
