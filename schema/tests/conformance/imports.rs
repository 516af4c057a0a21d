//! Cases for CSV import jobs.

use jiff::SignedDuration;
use schema::{ImportRecord, StoreError, WorkspaceScope};
use tenants::{ImportId, WorkspaceId};

use super::fixtures::*;
use super::{DynStore, walk};

fn record(ws: WorkspaceId, rows: u64, expires_in_hours: i64) -> ImportRecord {
    let at = now();
    ImportRecord {
        id: ImportId::new(),
        workspace_id: ws,
        report: format!("{{\"rows_total\":{rows}}}"),
        rows_processed: rows,
        created_at: at,
        updated_at: at,
        expires_at: at + SignedDuration::from_hours(expires_in_hours),
    }
}

pub async fn test_import_jobs_update_list_newest_first_and_expire(store: DynStore) {
    let ws = WorkspaceId::new();
    let scope = WorkspaceScope::authorized(ws);
    let mut first = record(ws, 0, 24);
    store.put_import(scope, &first).await.unwrap();
    first.rows_processed = 500;
    first.report = "{\"status\":\"completed\"}".to_owned();
    store.put_import(scope, &first).await.unwrap();
    let second = record(ws, 7, 24);
    store.put_import(scope, &second).await.unwrap();
    let expired = record(ws, 1, -1);
    store.put_import(scope, &expired).await.unwrap();

    let got = store.get_import(scope, first.id, now()).await.unwrap();
    assert_eq!(got, Some(first.clone()), "the job is replaced in place");
    assert_eq!(
        store.get_import(scope, expired.id, now()).await.unwrap(),
        None
    );

    let listed = walk(1, |page| store.list_imports(scope, now(), page)).await;
    let ids: Vec<ImportId> = listed.iter().map(|r| r.id).collect();
    assert_eq!(
        ids,
        vec![second.id, first.id],
        "newest first, expired skipped"
    );

    let other = WorkspaceScope::authorized(WorkspaceId::new());
    assert_eq!(
        store.get_import(other, first.id, now()).await.unwrap(),
        None
    );
    assert!(
        walk(10, |page| store.list_imports(other, now(), page))
            .await
            .is_empty()
    );
    let refused = store.put_import(other, &first).await;
    assert!(
        matches!(refused, Err(StoreError::OutOfScope { .. })),
        "{refused:?}"
    );
}
