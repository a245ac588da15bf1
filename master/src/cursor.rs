//! The chain event follower's cursor, kept in the Kubernetes API.
//!
//! The master keeps no state of its own (ARCHITECTURE.md, "State and
//! scale"): the position of the last handled chain event lives in a
//! ConfigMap, `kube-system/k3s-daas-event-cursor` by default, under the key
//! [`CURSOR_KEY`] as JSON (`{"checkpoint":…,"transaction_index":…,
//! "event_index":…}`).
//!
//! Writes are compare-and-swap on the ConfigMap's `resourceVersion`: a store
//! succeeds only if nobody wrote since this store last read or wrote it.
//! When two masters follow at once, the second to write gets
//! [`CursorError::Conflict`], must [load](KubeCursorStore::read) again and
//! skip what the other already handled. After a conflict the store refuses
//! further writes until it has read again.
//!
//! A leader's store carries its [`Fence`] ([`KubeCursorStore::with_fence`]):
//! every write first checks the term still holds, stamps the term's
//! generation on the ConfigMap, and is refused when the ConfigMap was last
//! written by a newer generation.

use std::collections::BTreeMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use daas_core::chain::{ChainError, CursorStore, EventCursor};
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, ObjectMeta, PostParams};
use tracing::{debug, instrument, warn};

use crate::admission::bootstrap_token::KUBE_SYSTEM;
use crate::labels::{MANAGED_BY, MANAGED_BY_LABEL};
use crate::leader::{Fence, FenceError, GENERATION_ANNOTATION, written_generation};

/// Default name of the cursor's ConfigMap.
pub const CURSOR_CONFIG_MAP: &str = "k3s-daas-event-cursor";
/// Key of the cursor in the ConfigMap's data.
pub const CURSOR_KEY: &str = "cursor";

/// Errors of the cursor store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CursorError {
    /// The API server refused or failed a request.
    #[error("{action} failed")]
    Api {
        /// What was being done.
        action: String,
        /// The client's error.
        #[source]
        source: kube::Error,
    },
    /// Someone else wrote the cursor since this store read it.
    #[error("the event cursor in {config_map} was changed by another writer; read it again")]
    Conflict {
        /// `namespace/name` of the ConfigMap.
        config_map: String,
    },
    /// A write was attempted before the cursor was read (or after a
    /// conflict), so there is no version to compare with.
    #[error("the event cursor in {config_map} must be read before it is written")]
    NotRead {
        /// `namespace/name` of the ConfigMap.
        config_map: String,
    },
    /// The writer is not (or no longer) the leader.
    #[error("the event cursor in {config_map} was not written")]
    Fenced {
        /// `namespace/name` of the ConfigMap.
        config_map: String,
        /// Why.
        #[source]
        source: FenceError,
    },
    /// The ConfigMap holds something that is not a cursor.
    #[error("the event cursor in {config_map} is malformed")]
    Malformed {
        /// `namespace/name` of the ConfigMap.
        config_map: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// What the store last saw of the ConfigMap.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seen {
    /// Nothing yet, or a conflict made it unknown.
    Unknown,
    /// The ConfigMap did not exist.
    Absent,
    /// The ConfigMap at this resource version.
    Version(String),
}

/// A [`CursorStore`] in a ConfigMap, with compare-and-swap writes.
#[derive(Debug)]
pub struct KubeCursorStore {
    api: Api<ConfigMap>,
    namespace: String,
    name: String,
    seen: Mutex<Seen>,
    fence: Option<Fence>,
    /// The generation that last wrote the ConfigMap, as last read.
    written_by: Mutex<Option<i32>>,
}

impl KubeCursorStore {
    /// A store in ConfigMap `namespace/name`.
    pub fn new(client: Client, namespace: &str, name: &str) -> Self {
        Self {
            api: Api::namespaced(client, namespace),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
            seen: Mutex::new(Seen::Unknown),
            fence: None,
            written_by: Mutex::new(None),
        }
    }

    /// Writes only while `fence`'s term holds (see the module docs).
    #[must_use]
    pub fn with_fence(mut self, fence: Fence) -> Self {
        self.fence = Some(fence);
        self
    }

    async fn check_fence(&self) -> Result<(), CursorError> {
        let Some(fence) = &self.fence else {
            return Ok(());
        };
        let written = *self
            .written_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let fenced = |source| CursorError::Fenced {
            config_map: self.config_map(),
            source,
        };
        fence
            .admits_writer(&self.config_map(), written)
            .map_err(fenced)?;
        fence.check().await.map_err(fenced)
    }

    /// The store at `kube-system/k3s-daas-event-cursor`.
    pub fn in_kube_system(client: Client) -> Self {
        Self::new(client, KUBE_SYSTEM, CURSOR_CONFIG_MAP)
    }

    fn config_map(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    fn seen(&self) -> MutexGuard<'_, Seen> {
        // The guarded value is a plain enum, valid whatever a panicking
        // holder did.
        self.seen.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn api_error(&self, verb: &str) -> impl FnOnce(kube::Error) -> CursorError {
        let action = format!("{verb} ConfigMap {}", self.config_map());
        move |source| CursorError::Api { action, source }
    }

    /// Reads the cursor (`None` if none was stored) and remembers the
    /// version for the next [`write`](Self::write).
    ///
    /// # Errors
    /// [`CursorError::Api`] when the read fails; [`CursorError::Malformed`]
    /// when the stored value is not a cursor.
    #[instrument(skip(self), fields(config_map = %self.config_map()))]
    pub async fn read(&self) -> Result<Option<EventCursor>, CursorError> {
        let current = self
            .api
            .get_opt(&self.name)
            .await
            .map_err(self.api_error("reading"))?;
        let Some(config_map) = current else {
            *self.seen() = Seen::Absent;
            return Ok(None);
        };
        *self
            .written_by
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = written_generation(&config_map.metadata);
        let cursor = match config_map.data.as_ref().and_then(|d| d.get(CURSOR_KEY)) {
            Some(text) => {
                Some(
                    serde_json::from_str(text).map_err(|source| CursorError::Malformed {
                        config_map: self.config_map(),
                        source,
                    })?,
                )
            }
            None => None,
        };
        *self.seen() = match config_map.metadata.resource_version {
            Some(version) => Seen::Version(version),
            None => Seen::Unknown,
        };
        debug!(cursor = ?cursor, "event cursor read");
        Ok(cursor)
    }

    /// Stores `cursor` if the ConfigMap is as this store last saw it.
    ///
    /// # Errors
    /// [`CursorError::Conflict`] when another writer got there first;
    /// [`CursorError::NotRead`] without a prior read; [`CursorError::Api`]
    /// when the write fails otherwise.
    #[instrument(skip(self), fields(config_map = %self.config_map(), %cursor))]
    pub async fn write(&self, cursor: EventCursor) -> Result<(), CursorError> {
        self.check_fence().await?;
        let seen = self.seen().clone();
        let object = self.object(cursor, &seen)?;
        let result = match seen {
            Seen::Unknown => {
                return Err(CursorError::NotRead {
                    config_map: self.config_map(),
                });
            }
            Seen::Absent => self.api.create(&PostParams::default(), &object).await,
            Seen::Version(_) => {
                self.api
                    .replace(&self.name, &PostParams::default(), &object)
                    .await
            }
        };
        match result {
            Ok(written) => {
                *self.seen() = written
                    .metadata
                    .resource_version
                    .map_or(Seen::Unknown, Seen::Version);
                Ok(())
            }
            Err(kube::Error::Api(status)) if status.code == 409 || status.code == 404 => {
                warn!("event cursor changed by another writer");
                *self.seen() = Seen::Unknown;
                Err(CursorError::Conflict {
                    config_map: self.config_map(),
                })
            }
            Err(source) => Err(self.api_error("writing")(source)),
        }
    }

    fn object(&self, cursor: EventCursor, seen: &Seen) -> Result<ConfigMap, CursorError> {
        let text = serde_json::to_string(&cursor).map_err(|source| CursorError::Malformed {
            config_map: self.config_map(),
            source,
        })?;
        Ok(ConfigMap {
            metadata: ObjectMeta {
                name: Some(self.name.clone()),
                namespace: Some(self.namespace.clone()),
                labels: Some(BTreeMap::from([(
                    MANAGED_BY_LABEL.to_owned(),
                    MANAGED_BY.to_owned(),
                )])),
                annotations: self.fence.as_ref().map(|fence| {
                    BTreeMap::from([(
                        GENERATION_ANNOTATION.to_owned(),
                        fence.generation().to_string(),
                    )])
                }),
                resource_version: match seen {
                    Seen::Version(version) => Some(version.clone()),
                    Seen::Unknown | Seen::Absent => None,
                },
                ..ObjectMeta::default()
            },
            data: Some(BTreeMap::from([(CURSOR_KEY.to_owned(), text)])),
            ..ConfigMap::default()
        })
    }
}

fn chain_error(error: CursorError) -> ChainError {
    ChainError::CursorStore {
        what: error.to_string(),
        source: Box::new(error),
    }
}

impl CursorStore for KubeCursorStore {
    async fn load(&self) -> Result<Option<EventCursor>, ChainError> {
        self.read().await.map_err(chain_error)
    }

    async fn store(&self, cursor: EventCursor) -> Result<(), ChainError> {
        self.write(cursor).await.map_err(chain_error)
    }
}
