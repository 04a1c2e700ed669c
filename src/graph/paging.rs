//! Paging: collections page by page (`@odata.nextLink`), bounded. Every pager, the delta
//! rounds' included, counts its pages against one cap ([`PageBudget`]) and follows a link only
//! when it stays on the client's Graph origin ([`GraphClient::same_origin`]): the bearer token
//! goes with every request, so a link elsewhere is an error and is never requested.

use std::marker::PhantomData;

use reqwest::Method;
use serde::de::DeserializeOwned;
use url::Url;

use super::client::{GraphClient, decode};
use super::error::{GraphError, Operation};
use super::limits::DEFAULT_PAGE_SIZE;
use super::models::Collection;

/// Options of a collection read.
#[derive(Clone, Debug, Default)]
pub struct ListQuery {
    /// `$select`.
    pub select: Vec<String>,
    /// `$filter`.
    pub filter: Option<String>,
    /// `$top` (1..=999); 999 keeps reads at one resource unit per page.
    pub top: Option<u32>,
    /// `$count=true` with `ConsistencyLevel: eventual` ("advanced query").
    pub advanced: bool,
}

/// One page of a collection.
#[derive(Debug)]
pub struct Page<T> {
    /// The objects.
    pub items: Vec<T>,
    /// `@odata.count` (first page of an advanced query).
    pub count: Option<u64>,
}

/// Pages one listing may still take.
#[derive(Debug)]
pub(super) struct PageBudget {
    taken: u64,
    cap: u64,
}

impl PageBudget {
    /// Counts a page about to be requested; past the cap, the listing's error.
    pub(super) fn take(&mut self, operation: Operation) -> Result<(), GraphError> {
        if self.taken >= self.cap {
            return Err(GraphError::TooManyPages {
                operation,
                pages: self.cap,
            });
        }
        self.taken += 1;
        Ok(())
    }
}

/// Follows `@odata.nextLink` page by page, so memory stays bounded by one page and time by
/// the page cap.
pub struct Pager<T> {
    client: GraphClient,
    operation: Operation,
    next: Option<Url>,
    advanced: bool,
    budget: PageBudget,
    _t: PhantomData<fn() -> T>,
}

impl<T: DeserializeOwned> Pager<T> {
    /// The next page, or `None` when the collection is exhausted.
    pub async fn next_page(&mut self) -> Result<Option<Page<T>>, GraphError> {
        let Some(url) = self.next.take() else {
            return Ok(None);
        };
        self.budget.take(self.operation)?;
        let resp = self
            .client
            .send(self.operation, Method::GET, url, None, self.advanced)
            .await?;
        let page: Collection<T> = decode(self.operation, resp.body)?;
        if let Some(link) = page.next_link {
            self.next = Some(self.client.same_origin(self.operation, &link)?);
        }
        Ok(Some(Page {
            items: page.value,
            count: page.count,
        }))
    }
}

impl GraphClient {
    /// The page budget of a listing whose pages hold up to `page_size` objects.
    pub(super) fn page_budget(&self, page_size: u32) -> PageBudget {
        PageBudget {
            taken: 0,
            cap: self.limits().pages(page_size),
        }
    }

    /// A paging link (`@odata.nextLink`, `@odata.deltaLink`) as a URL to request, if it
    /// stays on Graph's origin (scheme, host and port) and carries no user info: the bearer
    /// token goes with it.
    pub(super) fn same_origin(&self, op: Operation, link: &str) -> Result<Url, GraphError> {
        let url = Url::parse(link).map_err(|e| GraphError::Decode {
            operation: op,
            detail: format!("an unparsable paging link ({e})"),
        })?;
        let origin = url.origin().ascii_serialization();
        if origin != self.origin() {
            return Err(GraphError::ForeignLink {
                operation: op,
                link: origin,
            });
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(GraphError::Decode {
                operation: op,
                detail: "a paging link with user info".into(),
            });
        }
        Ok(url)
    }

    pub(super) fn pager<T>(
        &self,
        op: Operation,
        path: &str,
        q: &ListQuery,
    ) -> Result<Pager<T>, GraphError> {
        let mut url = self.url(path)?;
        let top = q.top.map(|t| t.clamp(1, 999));
        {
            let mut pairs = url.query_pairs_mut();
            if !q.select.is_empty() {
                pairs.append_pair("$select", &q.select.join(","));
            }
            if let Some(f) = &q.filter {
                pairs.append_pair("$filter", f);
            }
            if let Some(top) = top {
                pairs.append_pair("$top", &top.to_string());
            }
            if q.advanced {
                pairs.append_pair("$count", "true");
            }
        }
        Ok(Pager {
            client: self.clone(),
            operation: op,
            next: Some(url),
            advanced: q.advanced,
            budget: self.page_budget(top.unwrap_or(DEFAULT_PAGE_SIZE)),
            _t: PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_budget_refuses_the_page_past_its_cap() {
        let mut b = PageBudget { taken: 0, cap: 2 };
        assert!(b.take(Operation::ListUsers).is_ok());
        assert!(b.take(Operation::ListUsers).is_ok());
        assert!(matches!(
            b.take(Operation::ListUsers),
            Err(GraphError::TooManyPages { pages: 2, .. })
        ));
    }
}
