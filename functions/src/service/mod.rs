//! The typed operations of the API, one function each. The API's routes parse a request,
//! call one and serialize its answer; the portal calls the same functions and renders
//! what they return. Each checks the caller's scope, validates, reads and writes only the
//! caller's account, and masks what its caller may not see, so no caller can skip any
//! of it.

use hookline_shared::store::Page;

use crate::paging;

pub mod alerts;
pub mod deliveries;
pub mod trials;
pub mod webhooks;

/// Which page of a list: at most `limit` items, after the item `after` (a cursor the API
/// returned, decoded).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PageRequest {
    pub limit: usize,
    pub after: Option<String>,
}

impl Default for PageRequest {
    fn default() -> Self {
        Self {
            limit: paging::DEFAULT_PAGE_SIZE,
            after: None,
        }
    }
}

/// A page of a list, with the cursor of the next page when there is one.
#[derive(Clone, Debug)]
pub struct Listed<T> {
    pub items: Vec<T>,
    pub next_cursor: Option<String>,
}

impl<T> Listed<T> {
    fn of<S>(page: Page<S>, view: impl FnMut(S) -> T) -> Self {
        Self {
            items: page.items.into_iter().map(view).collect(),
            next_cursor: page.next_after.as_deref().map(paging::encode_cursor),
        }
    }
}
