//! Lists of the API server read in pages (`limit` and `continue`), keeping
//! only what the caller needs of each object.
//!
//! Why: an unpaged list holds the whole answer at once, as JSON and then as
//! parsed objects with their `managedFields` (a tree of every field each
//! writer set: most of a Node's metadata, kept up to date by the kubelet or
//! kwok). At 10,000 Nodes one re-check of every Node held about 200 MB
//! that way, and the allocator kept it. Paged, one page is held at a time,
//! and only the trimmed objects outlive it.

use std::fmt::Debug;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::Resource;
use kube::api::{Api, ListParams, ObjectList, PartialObjectMeta};
use serde::de::DeserializeOwned;

/// Objects per page: a few MB of JSON for Nodes at most.
pub const PAGE_LIMIT: u32 = 250;

/// Every object `params` selects, each passed through `keep` as its page
/// arrives; pages of `params.limit`, else [`PAGE_LIMIT`].
///
/// # Errors
/// The API server's error for any page (the list is then incomplete, and
/// nothing of it is returned).
pub async fn list<K, T>(
    api: &Api<K>,
    params: &ListParams,
    mut keep: impl FnMut(K) -> T,
) -> Result<Vec<T>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut kept = Vec::new();
    let mut params = paged(params);
    loop {
        let page = api.list(&params).await?;
        let next = continue_token(&page);
        kept.extend(page.items.into_iter().map(&mut keep));
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(kept),
        }
    }
}

/// The metadata of every object `params` selects, without managed fields,
/// read in pages of `params.limit`, else [`PAGE_LIMIT`].
///
/// # Errors
/// The API server's error for any page.
pub async fn list_metadata<K>(
    api: &Api<K>,
    params: &ListParams,
) -> Result<Vec<ObjectMeta>, kube::Error>
where
    K: Resource + Clone + DeserializeOwned + Debug,
{
    let mut kept = Vec::new();
    let mut params = paged(params);
    loop {
        let page: ObjectList<PartialObjectMeta<K>> = api.list_metadata(&params).await?;
        let next = continue_token(&page);
        kept.extend(page.items.into_iter().map(|item| trimmed(item.metadata)));
        match next {
            Some(token) => params = params.continue_token(&token),
            None => return Ok(kept),
        }
    }
}

/// `meta` without what the master never reads and that grows with every
/// writer: managed fields and owner references.
pub fn trimmed(mut meta: ObjectMeta) -> ObjectMeta {
    meta.managed_fields = None;
    meta.owner_references = None;
    meta
}

/// `params` with a page size.
fn paged(params: &ListParams) -> ListParams {
    let mut params = params.clone();
    params.limit = params.limit.or(Some(PAGE_LIMIT));
    params
}

/// The token of the next page, if the API server says there is one.
fn continue_token<T: Clone>(page: &ObjectList<T>) -> Option<String> {
    page.metadata
        .continue_
        .clone()
        .filter(|token| !token.is_empty())
}

#[cfg(test)]
mod tests {
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{ManagedFieldsEntry, OwnerReference};

    use super::*;

    #[test]
    fn trimming_keeps_what_the_master_reads() {
        let meta = ObjectMeta {
            name: Some("worker-1".to_owned()),
            uid: Some("u".to_owned()),
            labels: Some([("a".to_owned(), "b".to_owned())].into()),
            annotations: Some([("c".to_owned(), "d".to_owned())].into()),
            managed_fields: Some(vec![ManagedFieldsEntry::default()]),
            owner_references: Some(vec![OwnerReference::default()]),
            ..ObjectMeta::default()
        };
        let kept = trimmed(meta.clone());
        assert_eq!(
            kept,
            ObjectMeta {
                managed_fields: None,
                owner_references: None,
                ..meta
            }
        );
    }
}
