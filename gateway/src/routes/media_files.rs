//! Media bytes on the local filesystem: `<data_dir>/media/<workspace id>/<media id>`. An upload
//! is streamed into a hidden temporary file in the same directory while its size is counted and
//! its SHA-256 computed, synced, then renamed into place, so a reader never sees a half-written
//! file and an aborted upload leaves nothing behind. Only image and video types on an allow
//! list are kept, and the first bytes must match the declared type.

use std::path::{Path, PathBuf};

use axum::body::Bytes;
use futures::{Stream, StreamExt};
use hmac::{Hmac, Mac};
use secrecy::ExposeSecret;
use sha2::{Digest, Sha256};
use tenants::{MediaId, WorkspaceId};
use tokio::io::AsyncWriteExt;

use crate::config::GatewayConfig;
use crate::error::ApiError;

/// The media types accepted, by MIME essence.
pub const ALLOWED_TYPES: [&str; 7] = [
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
];

/// The allowed MIME essence of a `Content-Type` value (parameters dropped, lowercased).
pub fn allowed_type(content_type: &str) -> Option<&'static str> {
    let essence = content_type.split(';').next()?.trim().to_ascii_lowercase();
    ALLOWED_TYPES.iter().copied().find(|t| *t == essence)
}

/// Whether the first bytes of a file look like `mime`: a renamed executable does not pass as a
/// PNG.
pub fn looks_like(mime: &str, head: &[u8]) -> bool {
    match mime {
        "image/jpeg" => head.starts_with(&[0xff, 0xd8, 0xff]),
        "image/png" => head.starts_with(&[0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a]),
        "image/gif" => head.starts_with(b"GIF87a") || head.starts_with(b"GIF89a"),
        "image/webp" => head.len() >= 12 && head.starts_with(b"RIFF") && &head[8..12] == b"WEBP",
        "video/mp4" | "video/quicktime" => matches!(head.get(4..8), Some(b"ftyp" | b"moov")),
        "video/webm" => head.starts_with(&[0x1a, 0x45, 0xdf, 0xa3]),
        _ => false,
    }
}

/// Where a media file lives.
pub fn media_path(data_dir: &Path, workspace_id: WorkspaceId, id: MediaId) -> PathBuf {
    data_dir
        .join("media")
        .join(workspace_id.to_string())
        .join(id.to_string())
}

/// The file extension for an allowed type, so partners and rules can read the kind off a URL.
pub fn extension_of(mime: &str) -> &'static str {
    match mime {
        "image/jpeg" => "jpg",
        "image/png" => "png",
        "image/webp" => "webp",
        "image/gif" => "gif",
        "video/quicktime" => "mov",
        "video/webm" => "webm",
        _ => "mp4",
    }
}

fn signer(config: &GatewayConfig, workspace_id: WorkspaceId, id: MediaId) -> Hmac<Sha256> {
    // HMAC accepts keys of any length, so this cannot fail.
    let mut mac = Hmac::<Sha256>::new_from_slice(config.cookie_secret.expose_secret().as_bytes())
        .unwrap_or_else(|_| unreachable!("hmac takes any key length"));
    mac.update(format!("socialcrm-media-url\n{workspace_id}\n{id}").as_bytes());
    mac
}

/// The public, unguessable URL the publishing partner downloads media from:
/// `{public_base_url}/media/{ws}/{id}.{ext}?sig=<hmac>`. It works until the media is deleted.
pub fn public_url(
    config: &GatewayConfig,
    workspace_id: WorkspaceId,
    id: MediaId,
    mime: &str,
) -> String {
    let sig = hex::encode(signer(config, workspace_id, id).finalize().into_bytes());
    format!(
        "{}/media/{workspace_id}/{id}.{}?sig={sig}",
        config.public_base_url,
        extension_of(mime)
    )
}

/// Whether `sig` is the signature of this media's public URL (constant time).
pub fn signature_matches(
    config: &GatewayConfig,
    workspace_id: WorkspaceId,
    id: MediaId,
    sig: &str,
) -> bool {
    hex::decode(sig).is_ok_and(|raw| signer(config, workspace_id, id).verify_slice(&raw).is_ok())
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Written {
    /// Size in bytes.
    pub size: u64,
    /// Lowercase hex SHA-256.
    pub sha256: String,
}

/// Removes the temporary file unless the upload completed.
struct TempFile {
    path: PathBuf,
    done: bool,
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.done {
            // A single unlink of our own file; nothing to report if it is already gone.
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn io_error(what: &str, err: &std::io::Error) -> ApiError {
    ApiError::Internal(format!("media {what}: {err}"))
}

/// Whether a body error is the request body limit speaking.
fn is_length_limit(err: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(err);
    while let Some(e) = current {
        if e.to_string().contains("length limit") {
            return true;
        }
        current = e.source();
    }
    false
}

/// Streams `body` to `path` (via a temporary file), refusing more than `max_bytes` (413), an
/// empty body (422) and bytes that do not look like `mime` (415).
///
/// # Errors
/// As above; 400 for a body that breaks off; 500 for filesystem errors.
pub async fn write_media<S, E>(
    path: &Path,
    mime: &str,
    max_bytes: usize,
    mut body: S,
) -> Result<Written, ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::error::Error + 'static,
{
    let dir = path
        .parent()
        .ok_or_else(|| ApiError::Internal("media path has no directory".to_owned()))?;
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io_error("directory", &e))?;
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("upload");
    let mut temp = TempFile {
        path: dir.join(format!(".{name}.part")),
        done: false,
    };
    let mut file = tokio::fs::File::create(&temp.path)
        .await
        .map_err(|e| io_error("create", &e))?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut head: Vec<u8> = Vec::with_capacity(16);
    let limit = u64::try_from(max_bytes).unwrap_or(u64::MAX);
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            if is_length_limit(&e) {
                ApiError::PayloadTooLarge {
                    limit_bytes: max_bytes,
                }
            } else {
                ApiError::bad_request("unreadable_body", "the upload broke off before its end")
            }
        })?;
        size += chunk.len() as u64;
        if size > limit {
            return Err(ApiError::PayloadTooLarge {
                limit_bytes: max_bytes,
            });
        }
        if head.len() < 16 {
            head.extend(chunk.iter().take(16 - head.len()));
        }
        hasher.update(&chunk);
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("write", &e))?;
    }
    if size == 0 {
        return Err(ApiError::invalid_field("body", "the upload is empty"));
    }
    if !looks_like(mime, &head) {
        return Err(ApiError::UnsupportedMediaType(format!(
            "the uploaded bytes are not {mime}"
        )));
    }
    file.sync_all().await.map_err(|e| io_error("sync", &e))?;
    drop(file);
    tokio::fs::rename(&temp.path, path)
        .await
        .map_err(|e| io_error("rename", &e))?;
    temp.done = true;
    Ok(Written {
        size,
        sha256: hex::encode(hasher.finalize()),
    })
}

/// Deletes a media file; one already gone is fine.
///
/// # Errors
/// 500 for other filesystem errors.
pub async fn remove_media(path: &Path) -> Result<(), ApiError> {
    match tokio::fs::remove_file(path).await {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
        Err(e) => Err(io_error("delete", &e)),
    }
}

/// The file as a stream of chunks, for the response body.
///
/// # Errors
/// 404 when the file is missing; 500 for other filesystem errors.
pub async fn read_media(
    path: &Path,
) -> Result<impl Stream<Item = std::io::Result<Bytes>> + Send + 'static, ApiError> {
    use tokio::io::AsyncReadExt;
    let file = tokio::fs::File::open(path)
        .await
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => ApiError::NotFound("media not found".to_owned()),
            _ => io_error("open", &e),
        })?;
    Ok(futures::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buf = vec![0u8; 64 * 1024];
        match file.read(&mut buf).await {
            Ok(0) => None,
            Ok(n) => {
                buf.truncate(n);
                Some((Ok(Bytes::from(buf)), Some(file)))
            }
            Err(e) => Some((Err(e), None)),
        }
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_only_listed_types_are_allowed() {
        assert_eq!(allowed_type("Image/PNG; charset=binary"), Some("image/png"));
        assert_eq!(allowed_type("video/mp4"), Some("video/mp4"));
        assert_eq!(allowed_type("application/pdf"), None);
        assert_eq!(allowed_type("image/svg+xml"), None);
    }

    #[test]
    fn test_magic_bytes_must_match_the_type() {
        assert!(looks_like("image/gif", b"GIF89a...."));
        assert!(!looks_like("image/png", b"MZ\x90\x00 not a png"));
        assert!(looks_like("video/mp4", b"\0\0\0\x18ftypmp42"));
    }

    #[test]
    fn test_public_urls_are_signed_per_media() {
        let config = GatewayConfig::new("https://crm.example", secrecy::SecretString::from("k"));
        let (ws, id) = (WorkspaceId::new(), MediaId::new());
        let url = public_url(&config, ws, id, "image/png");
        let sig = url
            .rsplit_once("sig=")
            .map(|(_, s)| s.to_owned())
            .unwrap_or_default();
        assert!(url.starts_with(&format!("https://crm.example/media/{ws}/{id}.png?sig=")));
        assert!(signature_matches(&config, ws, id, &sig));
        assert!(!signature_matches(&config, ws, MediaId::new(), &sig));
        assert!(!signature_matches(&config, WorkspaceId::new(), id, &sig));
    }

    #[tokio::test]
    async fn test_an_oversized_upload_leaves_no_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("media").join("m1");
        let chunks = vec![
            Ok::<_, std::io::Error>(Bytes::from(vec![0x89u8; 600])),
            Ok(Bytes::from(vec![0u8; 600])),
        ];
        let err = write_media(&path, "image/png", 1000, futures::stream::iter(chunks)).await;
        assert!(matches!(
            err,
            Err(ApiError::PayloadTooLarge { limit_bytes: 1000 })
        ));
        let left: Vec<_> = std::fs::read_dir(dir.path().join("media"))
            .expect("dir")
            .collect();
        assert!(left.is_empty(), "no temporary or final file remains");
    }
}
