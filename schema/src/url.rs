//! Store URLs and opening a store from one.
//!
//! - `redb://./data/socialcrm.redb` (or `redb:///abs/path.redb`): the embedded store file.
//! - `scylla://host1:9042,host2:9042/keyspace`: a ScyllaDB cluster (port defaults to 9042,
//!   keyspace to `socialcrm`).

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use crate::embedded::RedbStore;
use crate::error::{StoreError, StoreResult};
use crate::migrations::MigrateReport;
use crate::scylladb::ScyllaStore;
use crate::scylladb::migrate::{self, check_keyspace};
use crate::store::Store;

/// The keyspace used when a `scylla://` URL names none.
pub const DEFAULT_KEYSPACE: &str = "socialcrm";

/// Where the store lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// The embedded store file.
    Redb {
        /// The file path.
        path: PathBuf,
    },
    /// A ScyllaDB cluster.
    Scylla {
        /// Contact points, `host:port`.
        nodes: Vec<String>,
        /// The keyspace.
        keyspace: String,
    },
}

impl StoreUrl {
    /// Parses a store URL.
    ///
    /// # Errors
    /// [`StoreError::InvalidUrl`] naming what is wrong: unknown scheme, empty path, empty host
    /// or bad port, bad keyspace name.
    pub fn parse(url: &str) -> StoreResult<Self> {
        let invalid = |reason: &str| StoreError::InvalidUrl {
            url: url.to_owned(),
            reason: reason.to_owned(),
        };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            invalid("expected `redb://<path>` or `scylla://<host:port,...>/<keyspace>`")
        })?;
        match scheme {
            "redb" => {
                if rest.is_empty() || rest.ends_with('/') {
                    return Err(invalid(
                        "the redb url needs a file path, e.g. redb://./data/socialcrm.redb",
                    ));
                }
                Ok(Self::Redb {
                    path: PathBuf::from(rest),
                })
            }
            "scylla" => {
                let (hosts, keyspace) = match rest.split_once('/') {
                    Some((h, k)) => (h, if k.is_empty() { DEFAULT_KEYSPACE } else { k }),
                    None => (rest, DEFAULT_KEYSPACE),
                };
                if hosts.is_empty() {
                    return Err(invalid("the scylla url needs at least one host"));
                }
                check_keyspace(keyspace).map_err(|_| {
                    invalid("the keyspace must be a letter then letters, digits or `_`")
                })?;
                let nodes = hosts
                    .split(',')
                    .map(|h| node(h.trim()))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|r| invalid(&r))?;
                Ok(Self::Scylla {
                    nodes,
                    keyspace: keyspace.to_owned(),
                })
            }
            other => Err(invalid(&format!(
                "unknown scheme `{other}`; use redb:// or scylla://"
            ))),
        }
    }
}

fn node(host: &str) -> Result<String, String> {
    if host.is_empty() {
        return Err("empty host in the node list".into());
    }
    let (name, port) = match host.rsplit_once(':') {
        Some((name, _)) if !name.ends_with(']') && name.contains(':') => (host, None),
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    if name.is_empty() {
        return Err(format!("empty host name in `{host}`"));
    }
    match port {
        Some(p) => {
            let port: u16 = p
                .parse()
                .map_err(|_| format!("bad port `{p}` in `{host}`"))?;
            if port == 0 {
                return Err(format!("bad port `0` in `{host}`"));
            }
            Ok(format!("{name}:{port}"))
        }
        None => Ok(format!("{name}:9042")),
    }
}

impl fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Redb { path } => write!(f, "redb://{}", path.display()),
            Self::Scylla { nodes, keyspace } => {
                write!(f, "scylla://{}/{keyspace}", nodes.join(","))
            }
        }
    }
}

/// Opens the store at `url`. The embedded store is migrated on open (zero setup); a ScyllaDB
/// keyspace must already be at this binary's schema version (`socialcrm migrate`).
///
/// # Errors
/// Whatever opening or connecting reports: [`StoreError::Corrupt`], [`StoreError::Unavailable`],
/// [`StoreError::SchemaVersion`].
pub async fn open_store(url: &StoreUrl) -> StoreResult<Arc<dyn Store>> {
    match url {
        StoreUrl::Redb { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || RedbStore::open(path))
                .await
                .map_err(|e| StoreError::Backend(format!("opening the store failed: {e}")))??;
            store.migrate().await?;
            Ok(Arc::new(store))
        }
        StoreUrl::Scylla { nodes, keyspace } => {
            Ok(Arc::new(ScyllaStore::connect(nodes, keyspace).await?))
        }
    }
}

/// Brings the store at `url` to this binary's schema version.
///
/// # Errors
/// As [`open_store`], plus any statement the cluster refuses.
pub async fn migrate(url: &StoreUrl) -> StoreResult<MigrateReport> {
    match url {
        StoreUrl::Redb { path } => {
            let path = path.clone();
            let store = tokio::task::spawn_blocking(move || RedbStore::open(path))
                .await
                .map_err(|e| StoreError::Backend(format!("opening the store failed: {e}")))??;
            store.migrate().await
        }
        StoreUrl::Scylla { nodes, keyspace } => migrate::migrate(nodes, keyspace).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_redb_urls_keep_their_path() {
        let u = StoreUrl::parse("redb://./data/socialcrm.redb").expect("valid");
        assert_eq!(
            u,
            StoreUrl::Redb {
                path: PathBuf::from("./data/socialcrm.redb")
            }
        );
        let abs = StoreUrl::parse("redb:///var/lib/socialcrm/s.redb").expect("valid");
        assert_eq!(
            abs,
            StoreUrl::Redb {
                path: PathBuf::from("/var/lib/socialcrm/s.redb")
            }
        );
    }

    #[test]
    fn test_scylla_urls_list_nodes_and_keyspace() {
        let u = StoreUrl::parse("scylla://host1:9042,host2:19042/crm_prod").expect("valid");
        assert_eq!(
            u,
            StoreUrl::Scylla {
                nodes: vec!["host1:9042".into(), "host2:19042".into()],
                keyspace: "crm_prod".into()
            }
        );
        let defaults = StoreUrl::parse("scylla://a,b").expect("valid");
        assert_eq!(
            defaults,
            StoreUrl::Scylla {
                nodes: vec!["a:9042".into(), "b:9042".into()],
                keyspace: DEFAULT_KEYSPACE.into()
            }
        );
        assert_eq!(u.to_string(), "scylla://host1:9042,host2:19042/crm_prod");
    }

    #[test]
    fn test_bad_urls_say_what_is_wrong() {
        for (url, needle) in [
            ("postgres://x/y", "unknown scheme"),
            ("./data/socialcrm.redb", "expected"),
            ("redb://", "file path"),
            ("scylla://", "at least one host"),
            ("scylla://h:99999/ks", "bad port"),
            ("scylla://h:0/ks", "bad port"),
            ("scylla://a,,b/ks", "empty host"),
            ("scylla://h/1bad-name", "keyspace"),
        ] {
            match StoreUrl::parse(url) {
                Err(StoreError::InvalidUrl { reason, .. }) => {
                    assert!(reason.contains(needle), "{url}: {reason}")
                }
                other => panic!("{url}: expected an invalid url error, got {other:?}"),
            }
        }
    }
}
