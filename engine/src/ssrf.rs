//! The SSRF guard: outbound requests to URLs a customer supplies (webhook targets, media URLs)
//! may only reach public addresses. [`SsrfGuard::check_url`] refuses non-http(s) URLs and
//! literal internal IPs without any lookup; [`SsrfGuard::resolve_and_check`] resolves the host
//! and refuses it when any address is internal; [`SsrfGuard::pinned_client`] builds a reqwest
//! client that connects only to the addresses that were checked (no second lookup a rebinding
//! name server could answer differently) and never follows redirects.
//!
//! Internal means: unspecified, loopback, private (10/8, 172.16/12, 192.168/16), shared CGNAT
//! (100.64/10), link-local (169.254/16, fe80::/10), unique-local (fc00::/7) and site-local
//! (fec0::/10), multicast, broadcast, reserved (240/4, 0/8), benchmarking (198.18/15), the IETF
//! protocol block (192.0.0/24), documentation (192.0.2/24, 198.51.100/24, 203.0.113/24,
//! 2001:db8::/32), discard (100::/64) and any IPv4 address embedded in IPv6 (mapped,
//! compatible, NAT64 64:ff9b::/96, 6to4 2002::/16) that is internal. `allow_private_targets`
//! (development, tests) lets all of those through except the cloud metadata endpoints
//! (169.254.169.254, fd00:ec2::254), which are always refused.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use url::Url;

/// The cloud instance metadata endpoints, refused whatever the configuration.
const METADATA_V4: Ipv4Addr = Ipv4Addr::new(169, 254, 169, 254);
const METADATA_V6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254);

/// Why a URL may not be requested.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SsrfError {
    /// Not an absolute `http`/`https` URL with a host and without credentials.
    #[error("url must be an absolute http or https url without credentials")]
    BadUrl,
    /// The host could not be resolved, or resolved to nothing.
    #[error("host {0} does not resolve")]
    Unresolvable(String),
    /// The URL points at (or its host resolves to) an internal address.
    #[error("url points at the internal address {0}")]
    Internal(IpAddr),
    /// The HTTP client could not be built.
    #[error("http client could not be built: {0}")]
    Client(String),
}

/// Checks outbound URLs; see the module doc.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SsrfGuard {
    /// Lets loopback and private targets through (development and tests only).
    pub allow_private_targets: bool,
}

impl SsrfGuard {
    /// A guard; `allow_private_targets` only for development and tests.
    pub fn new(allow_private_targets: bool) -> Self {
        Self {
            allow_private_targets,
        }
    }

    /// Checks the scheme, the host and, when the host is a literal IP, the address; no lookup.
    ///
    /// # Errors
    /// [`SsrfError::BadUrl`] or [`SsrfError::Internal`].
    pub fn check_url(&self, url: &Url) -> Result<(), SsrfError> {
        if !matches!(url.scheme(), "http" | "https")
            || !url.username().is_empty()
            || url.password().is_some()
        {
            return Err(SsrfError::BadUrl);
        }
        match url.host() {
            None => Err(SsrfError::BadUrl),
            Some(url::Host::Domain("")) => Err(SsrfError::BadUrl),
            Some(url::Host::Domain(_)) => Ok(()),
            Some(url::Host::Ipv4(ip)) => self.check_ip(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => self.check_ip(IpAddr::V6(ip)),
        }
    }

    /// Whether this guard lets `ip` through.
    ///
    /// # Errors
    /// [`SsrfError::Internal`] naming the address.
    pub fn check_ip(&self, ip: IpAddr) -> Result<(), SsrfError> {
        let refused = is_metadata(ip) || (!self.allow_private_targets && is_internal(ip));
        if refused {
            Err(SsrfError::Internal(ip))
        } else {
            Ok(())
        }
    }

    /// Checks the URL, resolves its host and checks every address; returns the addresses to
    /// connect to (pin them with [`SsrfGuard::pinned_client`]).
    ///
    /// # Errors
    /// [`SsrfError::BadUrl`], [`SsrfError::Unresolvable`] or [`SsrfError::Internal`] (when any
    /// address is internal).
    pub async fn resolve_and_check(&self, url: &Url) -> Result<Vec<SocketAddr>, SsrfError> {
        self.check_url(url)?;
        let port = url.port_or_known_default().ok_or(SsrfError::BadUrl)?;
        let addrs: Vec<SocketAddr> = match url.host() {
            Some(url::Host::Ipv4(ip)) => vec![SocketAddr::new(IpAddr::V4(ip), port)],
            Some(url::Host::Ipv6(ip)) => vec![SocketAddr::new(IpAddr::V6(ip), port)],
            Some(url::Host::Domain(host)) => tokio::net::lookup_host((host, port))
                .await
                .map_err(|_| SsrfError::Unresolvable(host.to_owned()))?
                .collect(),
            None => return Err(SsrfError::BadUrl),
        };
        if addrs.is_empty() {
            return Err(SsrfError::Unresolvable(
                url.host_str().unwrap_or_default().to_owned(),
            ));
        }
        for addr in &addrs {
            self.check_ip(addr.ip())?;
        }
        Ok(addrs)
    }

    /// Resolves and checks `url`, then builds a client that connects to the checked addresses
    /// only (the host name is pinned to them) and follows no redirect.
    ///
    /// # Errors
    /// As [`SsrfGuard::resolve_and_check`]; [`SsrfError::Client`] when the client cannot be
    /// built.
    pub async fn pinned_client(
        &self,
        url: &Url,
        timeout: Duration,
    ) -> Result<reqwest::Client, SsrfError> {
        let addrs = self.resolve_and_check(url).await?;
        let mut builder = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(timeout)
            .no_proxy();
        if let Some(url::Host::Domain(host)) = url.host() {
            builder = builder.resolve_to_addrs(host, &addrs);
        }
        builder
            .build()
            .map_err(|e| SsrfError::Client(e.to_string()))
    }
}

/// Whether `ip` is a cloud metadata endpoint (possibly embedded in IPv6).
fn is_metadata(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4 == METADATA_V4,
        IpAddr::V6(v6) => v6 == METADATA_V6 || embedded_v4(v6).is_some_and(|v4| v4 == METADATA_V4),
    }
}

/// The IPv4 address an IPv6 address carries: mapped (`::ffff:a.b.c.d`), compatible
/// (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let tail = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    if let Some(v4) = v6.to_ipv4_mapped() {
        return Some(v4);
    }
    if s[..6] == [0; 6] && !v6.is_loopback() && !v6.is_unspecified() {
        return Some(tail);
    }
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return Some(tail);
    }
    if s[0] == 0x2002 {
        return Some(Ipv4Addr::new(
            (s[1] >> 8) as u8,
            s[1] as u8,
            (s[2] >> 8) as u8,
            s[2] as u8,
        ));
    }
    None
}

/// Whether `ip` is internal (see the module doc for the ranges).
pub fn is_internal(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            v4.is_unspecified()
                || v4.is_loopback()
                || v4.is_private()
                || v4.is_link_local()
                || v4.is_broadcast()
                || v4.is_multicast()
                || v4.is_documentation()
                || o[0] == 0
                || o[0] >= 240
                || (o[0] == 100 && (o[1] & 0xc0) == 64)
                || (o[0] == 198 && (o[1] & 0xfe) == 18)
                || (o[0] == 192 && o[1] == 0 && o[2] == 0)
        }
        IpAddr::V6(v6) => {
            if let Some(v4) = embedded_v4(v6) {
                return is_internal(IpAddr::V4(v4));
            }
            let s = v6.segments();
            v6.is_unspecified()
                || v6.is_loopback()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00
                || (s[0] & 0xffc0) == 0xfe80
                || (s[0] & 0xffc0) == 0xfec0
                || (s[0] == 0x2001 && s[1] == 0x0db8)
                || s[..4] == [0x0100, 0, 0, 0]
        }
    }
}

#[cfg(test)]
mod tests;
