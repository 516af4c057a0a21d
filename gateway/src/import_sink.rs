//! The sink of an import job ([`StoreSink`]): looks up already-imported rows in the store and
//! creates posts through the engine ([`engine::EngineHandle::import_posts`]), pipelined so that
//! reading the next rows overlaps with writing these, and saves the job's progress.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use engine::{ImportedPost, NewPost, ScheduleInput};
use schema::WorkspaceScope;
use tenants::{PostId, UserId};
use tokio::runtime::Handle;

use crate::csv_import::{CreatedRow, ImportSink, SinkError, ValidRow};
use crate::import_jobs::{ImportDoc, save};
use crate::state::AppState;

/// Rows per engine call (and store transaction).
const ENGINE_BATCH_ROWS: usize = 2_000;

/// How often a running job saves its progress.
const PROGRESS_EVERY: Duration = Duration::from_millis(500);

/// Batches being written while the next rows are read.
const PIPELINE_DEPTH: usize = 1;

/// A batch being written: its rows with their outcomes.
type InFlight = tokio::task::JoinHandle<Result<Vec<(ValidRow, CreatedRow)>, engine::EngineError>>;

/// The store and the engine behind [`crate::csv_import::run_import`]. Blocking: lives on a `spawn_blocking`
/// thread and drives the async store through the runtime's handle.
pub(crate) struct StoreSink {
    rt: Handle,
    in_flight: VecDeque<InFlight>,
    state: AppState,
    scope: WorkspaceScope,
    created_by: Option<UserId>,
    doc: ImportDoc,
    last_saved: Instant,
}

impl StoreSink {
    /// A sink for the job of `doc`. Call from the runtime (it keeps the runtime's handle).
    pub(crate) fn new(
        state: AppState,
        scope: WorkspaceScope,
        created_by: Option<UserId>,
        doc: ImportDoc,
    ) -> StoreSink {
        StoreSink {
            rt: Handle::current(),
            in_flight: VecDeque::new(),
            state,
            scope,
            created_by,
            doc,
            last_saved: Instant::now(),
        }
    }

    fn wait_oldest(&mut self) -> Result<Vec<(ValidRow, CreatedRow)>, SinkError> {
        match self.in_flight.pop_front() {
            Some(task) => Ok(self.rt.block_on(task)??),
            None => Ok(Vec::new()),
        }
    }
}

impl ImportSink for StoreSink {
    fn find_imported(&mut self, keys: &[String]) -> Result<Vec<Option<PostId>>, SinkError> {
        let lookup = self
            .state
            .store
            .find_posts_by_external_ids(self.scope, keys);
        Ok(self.rt.block_on(lookup)?)
    }

    /// The rows go to the engine in batches of [`ENGINE_BATCH_ROWS`], all at once: the store
    /// writes each batch in one transaction (several share a group commit) and refuses a
    /// dedup key another upload took meanwhile.
    fn create(&mut self, rows: &[ValidRow]) -> Result<Vec<CreatedRow>, SinkError> {
        let engine = self.state.engine().map_err(|e| e.to_string())?;
        let batches = rows.chunks(ENGINE_BATCH_ROWS).map(|chunk| {
            let new: Vec<NewPost> = chunk.iter().map(|r| new_post(r, self.created_by)).collect();
            engine.import_posts(self.scope, new)
        });
        let created = self.rt.block_on(futures::future::try_join_all(batches))?;
        Ok(created
            .into_iter()
            .flatten()
            .map(|imported| match imported {
                ImportedPost::Created(view) => CreatedRow::New(view.post.id),
                ImportedPost::Existing(id) => CreatedRow::AlreadyImported(id),
            })
            .collect())
    }

    /// Up to [`PIPELINE_DEPTH`] batches are written while the next rows are read.
    fn submit(&mut self, rows: Vec<ValidRow>) -> Result<Vec<(ValidRow, CreatedRow)>, SinkError> {
        let engine = self.state.engine().map_err(|e| e.to_string())?.clone();
        let (scope, created_by) = (self.scope, self.created_by);
        self.in_flight.push_back(self.rt.spawn(async move {
            let batches = rows.chunks(ENGINE_BATCH_ROWS).map(|chunk| {
                let new: Vec<NewPost> = chunk.iter().map(|r| new_post(r, created_by)).collect();
                engine.import_posts(scope, new)
            });
            let created = futures::future::try_join_all(batches).await?;
            let outcomes = created
                .into_iter()
                .flatten()
                .map(|imported| match imported {
                    ImportedPost::Created(view) => CreatedRow::New(view.post.id),
                    ImportedPost::Existing(id) => CreatedRow::AlreadyImported(id),
                });
            Ok(rows.into_iter().zip(outcomes).collect())
        }));
        let mut done = Vec::new();
        while self.in_flight.len() > PIPELINE_DEPTH {
            done.extend(self.wait_oldest()?);
        }
        Ok(done)
    }

    fn drain(&mut self) -> Result<Vec<(ValidRow, CreatedRow)>, SinkError> {
        let mut done = Vec::new();
        while !self.in_flight.is_empty() {
            done.extend(self.wait_oldest()?);
        }
        Ok(done)
    }

    fn progress(&mut self, rows_read: u64, posts_created: u64) {
        if self.last_saved.elapsed() < PROGRESS_EVERY {
            return;
        }
        self.last_saved = Instant::now();
        self.doc.rows_processed = rows_read;
        self.doc.report.posts_created = posts_created;
        self.doc.updated_at = self.state.clock.now();
        if let Err(e) = self.rt.block_on(save(&self.state, self.scope, &self.doc)) {
            tracing::warn!(import_id = %self.doc.report.id, error = %e, "import progress not saved");
        }
    }
}

/// The engine's request for one valid row. The time goes as wall-clock time in the row's zone
/// (so the post keeps that zone), unless that reads back as another instant (the later half of
/// a DST overlap), in which case it goes as the instant.
fn new_post(row: &ValidRow, created_by: Option<UserId>) -> NewPost {
    let schedule = row.scheduled_at.map(|at| {
        let local = tenants::parse_timezone(&row.timezone)
            .ok()
            .map(|tz| at.to_zoned(tz).datetime());
        match local {
            Some(local) => {
                let input = ScheduleInput::Local {
                    local,
                    timezone: row.timezone.clone(),
                };
                if tenants::resolve(&input, &row.timezone).ok() == Some(at) {
                    input
                } else {
                    ScheduleInput::At(at)
                }
            }
            None => ScheduleInput::At(at),
        }
    });
    NewPost {
        caption: row.caption.clone(),
        account_ids: row.account_ids.clone(),
        schedule,
        status: row.status,
        media_ids: Vec::new(),
        media_urls: row.media_urls.clone(),
        variants: Default::default(),
        first_comment: row.first_comment.clone(),
        external_id: Some(row.dedup_key()),
        created_by,
    }
}
