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

/// The cursor asked for: an empty one (`?cursor=`) is the first page, as no cursor is.
pub(crate) fn given(cursor: Option<&str>) -> Option<&str> {
    cursor.filter(|c| !c.is_empty())
}

/// A cursor that is a row's id (`exe_…`, `evt_…`, `aud_…`: `prefix` and `_`, then the id
/// alphabet), checked for that shape. One that is not (a cursor of another listing, a value
/// cut short or made up) is refused rather than answered with an empty page a client would
/// read as the end. A well-formed id whose row is gone (retention) still reads as a position.
pub(crate) fn id_cursor<'a>(cursor: Option<&'a str>, prefix: &str) -> Result<Option<&'a str>> {
    let Some(cursor) = given(cursor) else {
        return Ok(None);
    };
    let id_like = cursor
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix('_'))
        .is_some_and(|rest| {
            (1..=64).contains(&rest.len())
                && rest
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    if id_like {
        Ok(Some(cursor))
    } else {
        Err(Error::invalid(
            "cursor",
            "is not a cursor this API returned",
        ))
    }
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

    #[test]
    fn an_id_cursor_must_look_like_an_id_of_its_listing() {
        let id = crate::ids::new_id("exe");
        assert_eq!(id_cursor(Some(&id), "exe").unwrap(), Some(id.as_str()));
        assert_eq!(id_cursor(None, "exe").unwrap(), None);
        assert_eq!(id_cursor(Some(""), "exe").unwrap(), None, "the first page");
        for wrong in [
            "garbage",
            "exe_",
            "exe",
            "evt_0193abc",
            "exe_a b",
            "exe_ü",
            &"exe_a".repeat(30),
        ] {
            let e = id_cursor(Some(wrong), "exe").unwrap_err();
            assert_eq!(e.code(), "invalid_input", "{wrong}");
        }
    }
}
