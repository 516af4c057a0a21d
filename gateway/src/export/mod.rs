//! Data export (access and portability): a ZIP archive of JSON files plus `manifest.json`, which
//! lists every file with the table it comes from and its item count, and the tables deliberately
//! left out (secrets). Used by the export jobs of `crate::routes::exports` and by the CLI
//! (`socialcrm export`), both through [`write_workspace_export`].
//!
//! Accounts are exported without tokens: tokens live in `account_tokens`, which is never read
//! here, and the last-4 hint is dropped too.

use std::io::{Seek, Write};
use std::path::PathBuf;

use jiff::{SignedDuration, Timestamp};
use schema::{AuditQuery, PostFilter, Store, StoreError, WorkspaceScope};
use serde::Serialize;
use tenants::UserId;
use zip::write::SimpleFileOptions;

/// Why an export could not be written.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A store read failed.
    #[error("reading the data failed: {0}")]
    Store(#[from] StoreError),
    /// Writing the archive failed.
    #[error("writing the archive failed: {0}")]
    Zip(#[from] zip::result::ZipError),
    /// Writing a file into the archive failed.
    #[error("writing the archive failed: {0}")]
    Io(#[from] std::io::Error),
    /// A record could not be serialised.
    #[error("serialising a record failed: {0}")]
    Json(#[from] serde_json::Error),
    /// The subject does not exist (or is erased).
    #[error("nothing to export: {0} not found")]
    NotFound(&'static str),
}

/// Whose data an archive holds.
#[derive(Debug, Clone)]
pub enum ExportScope {
    /// A whole workspace, with its uploaded media files read from `media_dir`
    /// (`<data_dir>/media`) when given.
    Workspace {
        /// The workspace, as authorized.
        scope: WorkspaceScope,
        /// Where uploaded media live.
        media_dir: Option<PathBuf>,
    },
    /// A person: their profile, memberships, keys, the posts they created in `workspaces`
    /// (their memberships, as authorized) and their own audit entries.
    User {
        /// The person.
        user_id: UserId,
        /// The workspaces they may read, as authorized.
        workspaces: Vec<WorkspaceScope>,
    },
}

/// One file of the archive, as listed in the manifest.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ManifestFile {
    /// Path inside the archive.
    pub name: String,
    /// The table the records come from.
    pub table: String,
    /// How many records (or bytes, for a media file).
    pub count: u64,
}

/// `manifest.json`.
#[derive(Debug, Clone, Serialize)]
pub struct Manifest {
    /// Archive format.
    pub format: &'static str,
    /// `workspace` or `user`.
    pub kind: &'static str,
    /// The workspace or user id.
    pub subject_id: String,
    /// When the archive was written.
    pub created_at: Timestamp,
    /// Every file but the manifest.
    pub files: Vec<ManifestFile>,
    /// Tables holding the subject's data that are left out on purpose, with the reason.
    pub excluded: Vec<(String, String)>,
}

/// What was written.
#[derive(Debug, Clone)]
pub struct ExportSummary {
    /// The manifest written into the archive.
    pub manifest: Manifest,
}

/// Collects every page of a paged store call.
macro_rules! all_pages {
    ($page:ident => $call:expr) => {{
        let mut items = Vec::new();
        let mut cursor = None;
        loop {
            let $page = schema::PageRequest {
                cursor: cursor.take(),
                limit: 500,
            };
            let page = $call.await?;
            items.extend(page.items);
            match page.next_cursor {
                Some(next) => cursor = Some(next),
                None => break,
            }
        }
        items
    }};
}
pub(crate) use all_pages;

struct Archive<W: Write + Seek, P: Fn(u64, u64)> {
    zip: zip::ZipWriter<W>,
    files: Vec<ManifestFile>,
    done: u64,
    total: u64,
    progress: P,
}

impl<W: Write + Seek, P: Fn(u64, u64)> Archive<W, P> {
    fn options() -> SimpleFileOptions {
        SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .large_file(true)
    }

    fn json<T: Serialize>(
        &mut self,
        name: &str,
        table: &str,
        items: &[T],
    ) -> Result<(), ExportError> {
        self.zip.start_file(name, Self::options())?;
        serde_json::to_writer_pretty(&mut self.zip, items)?;
        self.files.push(ManifestFile {
            name: name.to_owned(),
            table: table.to_owned(),
            count: items.len() as u64,
        });
        self.step();
        Ok(())
    }

    fn file(&mut self, name: &str, path: &std::path::Path) -> Result<(), ExportError> {
        let mut source = std::fs::File::open(path)?;
        self.zip.start_file(name, Self::options())?;
        let n = std::io::copy(&mut source, &mut self.zip)?;
        self.files.push(ManifestFile {
            name: name.to_owned(),
            table: "media (file)".to_owned(),
            count: n,
        });
        Ok(())
    }

    fn step(&mut self) {
        self.done += 1;
        (self.progress)(self.done.min(self.total), self.total);
    }
}

/// The audit window an export covers: everything still retained (at most 400 days).
fn audit_window(now: Timestamp) -> AuditQuery {
    AuditQuery {
        from: Timestamp::UNIX_EPOCH,
        to: now
            .saturating_add(SignedDuration::from_hours(24))
            .unwrap_or(now),
        actor: None,
        action: None,
        now,
    }
}

/// Writes the archive of `scope` to `out`, calling `progress(done, total)` after each file.
///
/// # Errors
/// [`ExportError`] for store, I/O or archive failures; the partial archive must be discarded.
pub async fn write_workspace_export<W, P>(
    store: &dyn Store,
    scope: &ExportScope,
    out: W,
    progress: P,
) -> Result<ExportSummary, ExportError>
where
    W: Write + Seek,
    P: Fn(u64, u64),
{
    let now = Timestamp::now();
    let mut archive = Archive {
        zip: zip::ZipWriter::new(out),
        files: Vec::new(),
        done: 0,
        total: 0,
        progress,
    };
    let (kind, subject_id) = match scope {
        ExportScope::Workspace { scope, media_dir } => {
            archive.total = 8;
            workspace_files(store, *scope, media_dir.as_ref(), &mut archive, now).await?;
            ("workspace", scope.workspace_id().to_string())
        }
        ExportScope::User {
            user_id,
            workspaces,
        } => {
            archive.total = 6;
            user_files(store, *user_id, workspaces, &mut archive, now).await?;
            ("user", user_id.to_string())
        }
    };
    let manifest = Manifest {
        format: "socialcrm-export/1",
        kind,
        subject_id,
        created_at: now,
        files: archive.files.clone(),
        excluded: vec![
            (
                "account_tokens".to_owned(),
                "OAuth tokens are secrets and are never exported".to_owned(),
            ),
            (
                "data_keys".to_owned(),
                "encryption key material is never exported".to_owned(),
            ),
        ],
    };
    archive
        .zip
        .start_file("manifest.json", Archive::<W, P>::options())?;
    serde_json::to_writer_pretty(&mut archive.zip, &manifest)?;
    archive.step();
    archive.zip.finish()?;
    Ok(ExportSummary { manifest })
}

async fn workspace_files<W: Write + Seek, P: Fn(u64, u64)>(
    store: &dyn Store,
    scope: WorkspaceScope,
    media_dir: Option<&PathBuf>,
    archive: &mut Archive<W, P>,
    now: Timestamp,
) -> Result<(), ExportError> {
    let workspace = store
        .get_workspace(scope)
        .await?
        .ok_or(ExportError::NotFound("workspace"))?;
    archive.json("workspace.json", "workspaces", &[workspace])?;
    let members = all_pages!(page => store.list_members(scope, page));
    archive.json("memberships.json", "memberships_by_workspace", &members)?;
    let mut accounts = all_pages!(page => store.list_accounts(scope, page));
    for account in &mut accounts {
        account.token_hint = None;
    }
    archive.json("accounts.json", "accounts", &accounts)?;
    let filter = PostFilter::default();
    let posts = all_pages!(page => store.list_posts(scope, &filter, page));
    let mut deliveries = Vec::new();
    for post in &posts {
        deliveries.extend(store.list_deliveries_of_post(scope, post.id).await?);
    }
    archive.json("posts.json", "posts", &posts)?;
    archive.json("deliveries.json", "deliveries", &deliveries)?;
    let media = all_pages!(page => store.list_media(scope, page));
    archive.json("media.json", "media", &media)?;
    if let Some(dir) = media_dir {
        for m in &media {
            let path = dir.join(m.workspace_id.to_string()).join(m.id.to_string());
            if path.is_file() {
                archive.file(&format!("media/{}", m.id), &path)?;
            }
        }
    }
    let window = audit_window(now);
    let audit = all_pages!(page => store.list_audit(scope, &window, page));
    archive.json("audit.json", "audit_log", &audit)?;
    Ok(())
}

/// An API key as exported: no hash.
#[derive(Debug, Serialize)]
struct KeyExport {
    id: String,
    name: String,
    last4: String,
    workspace_ids: Option<Vec<String>>,
    created_at: Timestamp,
    last_used_at: Option<Timestamp>,
}

async fn user_files<W: Write + Seek, P: Fn(u64, u64)>(
    store: &dyn Store,
    user_id: UserId,
    workspaces: &[WorkspaceScope],
    archive: &mut Archive<W, P>,
    now: Timestamp,
) -> Result<(), ExportError> {
    let user = store
        .get_user(user_id)
        .await?
        .ok_or(ExportError::NotFound("user"))?;
    archive.json("profile.json", "users", &[user])?;
    let memberships = store.list_memberships_of_user(user_id).await?;
    archive.json("memberships.json", "memberships_by_user", &memberships)?;
    let keys: Vec<KeyExport> = store
        .list_api_keys(Some(user_id))
        .await?
        .into_iter()
        .map(|k| KeyExport {
            id: k.id.to_string(),
            name: k.name,
            last4: k.last4,
            workspace_ids: k
                .workspace_ids
                .map(|ids| ids.iter().map(ToString::to_string).collect()),
            created_at: k.created_at,
            last_used_at: k.last_used_at,
        })
        .collect();
    archive.json("api_keys.json", "api_keys_by_owner", &keys)?;
    let filter = PostFilter::default();
    let (mut posts, mut deliveries) = (Vec::new(), Vec::new());
    for &scope in workspaces {
        let all = all_pages!(page => store.list_posts(scope, &filter, page));
        for post in all.into_iter().filter(|p| p.created_by == Some(user_id)) {
            deliveries.extend(store.list_deliveries_of_post(scope, post.id).await?);
            posts.push(post);
        }
    }
    archive.json("posts.json", "posts", &posts)?;
    archive.json("deliveries.json", "deliveries", &deliveries)?;
    let window = audit_window(now);
    let actor = format!("user:{user_id}");
    let mut audit = all_pages!(page => store.list_audit_of_actor(&actor, &window, page));
    for key in &keys {
        let actor = format!("key:{}", key.id);
        audit.extend(all_pages!(page => store.list_audit_of_actor(&actor, &window, page)));
    }
    archive.json("audit.json", "audit_by_actor", &audit)?;
    Ok(())
}
