//! The pages of every listing (accounts, executions, events, the audit log): a size of 1–200,
//! 50 unless asked, and a keyset cursor — the last row's key when more rows follow. Stores
//! read one row more than the page to tell.

use crate::error::{Error, Result};

const DEFAULT_PAGE: u32 = 50;
const MAX_PAGE: u32 = 200;

/// The page size asked for, checked.
pub(crate) fn page_size(limit: Option<u32>) -> Result<u32> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if !(1..=MAX_PAGE).contains(&limit) {
        return Err(Error::invalid(
            "limit",
            format!("must be between 1 and {MAX_PAGE}"),
        ));
    }
    Ok(limit)
}

/// Cuts `rows`, read with one row more than `limit`, to the page; answers the next page's
/// cursor (`cursor_of` the last row kept) when more rows follow.
pub(crate) fn cut_page<T>(
    rows: &mut Vec<T>,
    limit: u32,
    cursor_of: impl FnOnce(&T) -> String,
) -> Option<String> {
    let more = rows.len() > limit as usize;
    rows.truncate(limit as usize);
    more.then(|| rows.last().map(cursor_of)).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_checked_and_pages_cut_with_their_cursor() {
        assert_eq!(page_size(None).unwrap(), 50);
        assert_eq!(page_size(Some(200)).unwrap(), 200);
        assert_eq!(page_size(Some(0)).unwrap_err().code(), "invalid_input");
        assert!(page_size(Some(201)).is_err());
        let mut rows = vec![1, 2, 3];
        assert_eq!(cut_page(&mut rows, 2, |r| r.to_string()), Some("2".into()));
        assert_eq!(rows, [1, 2]);
        assert_eq!(cut_page(&mut rows, 2, |r| r.to_string()), None);
    }
}
