//! Where a webhook may be sent: an `http(s)` URL whose host resolves only to public addresses,
//! unless private targets are allowed (development, tests). Checked when an endpoint is saved and
//! again before every attempt, so a name that later resolves inside the network is refused. The
//! address rules are the engine's [`SsrfGuard`]; with private targets allowed no lookup is made,
//! but a literal cloud metadata address is still refused.

use std::net::IpAddr;

use url::Url;

use crate::ssrf::{SsrfError, SsrfGuard};

/// Why a target URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TargetError {
    /// Not an absolute `http`/`https` URL with a host.
    #[error("webhook url must be an absolute http or https url")]
    BadUrl,
    /// The host could not be resolved.
    #[error("webhook host does not resolve")]
    Unresolvable,
    /// The host resolves to a loopback, private, link-local or otherwise internal address.
    #[error("webhook url points at a private or internal address")]
    Private,
}

impl From<SsrfError> for TargetError {
    fn from(e: SsrfError) -> Self {
        match e {
            SsrfError::BadUrl => TargetError::BadUrl,
            SsrfError::Internal(_) => TargetError::Private,
            SsrfError::Unresolvable(_) | SsrfError::Client(_) => TargetError::Unresolvable,
        }
    }
}

/// Parses `raw` as a webhook target (without resolving it).
///
/// # Errors
/// [`TargetError::BadUrl`] for anything but an absolute http(s) URL with a host and no
/// credentials.
pub fn parse_target(raw: &str) -> Result<Url, TargetError> {
    let url = Url::parse(raw.trim()).map_err(|_| TargetError::BadUrl)?;
    match SsrfGuard::new(true).check_url(&url) {
        Err(SsrfError::BadUrl) => Err(TargetError::BadUrl),
        // Address rules are applied by `check_target`, which knows the configuration.
        _ => Ok(url),
    }
}

/// Whether an address is internal (see [`crate::ssrf`] for the ranges).
pub fn is_internal(ip: IpAddr) -> bool {
    crate::ssrf::is_internal(ip)
}

/// Resolves the target's host and refuses internal addresses unless `allow_private`.
///
/// # Errors
/// [`TargetError`] saying why the target is refused.
pub async fn check_target(url: &Url, allow_private: bool) -> Result<(), TargetError> {
    let guard = SsrfGuard::new(allow_private);
    if allow_private {
        guard.check_url(url)?;
        return Ok(());
    }
    guard.resolve_and_check(url).await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn test_loopback_and_private_targets_are_refused_unless_allowed() {
        for raw in [
            "http://127.0.0.1:9/x",
            "http://[::1]/x",
            "http://10.1.2.3/",
            "http://[::ffff:192.168.1.1]/",
        ] {
            let url = parse_target(raw).unwrap();
            assert_eq!(
                check_target(&url, false).await,
                Err(TargetError::Private),
                "{raw}"
            );
            assert_eq!(check_target(&url, true).await, Ok(()), "{raw}");
        }
        let metadata = parse_target("http://169.254.169.254/latest").unwrap();
        assert_eq!(
            check_target(&metadata, false).await,
            Err(TargetError::Private)
        );
        assert_eq!(
            check_target(&metadata, true).await,
            Err(TargetError::Private),
            "the metadata endpoint is refused even in development"
        );
        assert!(
            check_target(&parse_target("https://93.184.215.14/").unwrap(), false)
                .await
                .is_ok()
        );
    }

    #[test]
    fn test_non_http_urls_are_refused() {
        for raw in [
            "ftp://example.com/",
            "example.com",
            "http://user:pw@example.com/",
        ] {
            assert_eq!(parse_target(raw), Err(TargetError::BadUrl), "{raw}");
        }
    }
}
