//! The conformance suite against the embedded store: every case on a fresh file.

#[macro_use]
mod conformance;

use std::sync::Arc;

use schema::RedbStore;

async fn fresh() -> (conformance::DynStore, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = RedbStore::open(dir.path().join("store.redb")).expect("open");
    store.migrate().await.expect("migrate");
    (Arc::new(store), dir)
}

macro_rules! redb_tests {
    ($($case:ident),*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $case() {
                let (store, _dir) = fresh().await;
                conformance::$case(store).await;
            }
        )*
    };
}

for_each_case!(redb_tests);
