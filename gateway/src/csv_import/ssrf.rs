//! Media URL checks at import time, without fetching and without DNS: the URL must be `http(s)`
//! with a host, no credentials, and a host that is neither a literal private, loopback,
//! link-local or otherwise non-public address (in any spelling the URL standard accepts, such as
//! `http://2130706433/`) nor a local-only name (`localhost`, `*.local`, `*.internal`, single
//! labels). A public name can still resolve to a private address: whatever later fetches the
//! media must check the resolved address again.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use url::{Host, Url};

/// The longest media URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Why a media URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MediaUrlError {
    /// Not a URL at all.
    #[error("not a valid URL")]
    Malformed,
    /// Longer than [`MAX_URL_LEN`].
    #[error("URL is longer than {MAX_URL_LEN} characters")]
    TooLong,
    /// A scheme other than http or https.
    #[error("only http and https URLs are accepted, not {0}")]
    Scheme(String),
    /// A user name or password in the URL.
    #[error("URL must not contain a user name or password")]
    Credentials,
    /// A literal address that is not public.
    #[error("URL points at a private, loopback or reserved address ({0}); media must be public")]
    PrivateAddress(IpAddr),
    /// A name that only resolves inside a network.
    #[error("URL points at a local host name ({0}); media must be on a public host")]
    LocalName(String),
}

/// Checks a media URL and returns it parsed.
///
/// # Errors
/// The first reason it is refused, as a [`MediaUrlError`].
pub fn check_media_url(raw: &str) -> Result<Url, MediaUrlError> {
    let raw = raw.trim();
    if raw.len() > MAX_URL_LEN {
        return Err(MediaUrlError::TooLong);
    }
    let url = Url::parse(raw).map_err(|_| MediaUrlError::Malformed)?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(MediaUrlError::Scheme(
            url.scheme().chars().take(20).collect(),
        ));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(MediaUrlError::Credentials);
    }
    match url.host() {
        None => Err(MediaUrlError::Malformed),
        Some(Host::Ipv4(ip)) => check_ip(IpAddr::V4(ip)).map(|()| url.clone()),
        Some(Host::Ipv6(ip)) => check_ip(IpAddr::V6(ip)).map(|()| url.clone()),
        Some(Host::Domain(name)) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            let local_suffix = [
                ".localhost",
                ".local",
                ".internal",
                ".localdomain",
                ".home.arpa",
                ".lan",
            ]
            .iter()
            .any(|s| name.ends_with(s));
            if name == "localhost" || local_suffix || !name.contains('.') {
                return Err(MediaUrlError::LocalName(name.chars().take(64).collect()));
            }
            Ok(url)
        }
    }
}

fn check_ip(ip: IpAddr) -> Result<(), MediaUrlError> {
    if is_public_ip(ip) {
        Ok(())
    } else {
        Err(MediaUrlError::PrivateAddress(ip))
    }
}

/// Whether `ip` is a globally routable unicast address.
pub fn is_public_ip(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => is_public_v6(v6),
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b)) // shared address space (CGNAT)
        || (a == 192 && b == 0 && c == 0) // IETF protocol assignments
        || (a == 198 && (b == 18 || b == 19)) // benchmarking
        || a >= 240; // reserved for future use
    !reserved
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return is_public_v4(v4);
    }
    let seg = ip.segments();
    // NAT64 (64:ff9b::/96) and 6to4 (2002::/16) carry an IPv4 address that is what is reached.
    if seg[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        return is_public_v4(Ipv4Addr::from(u32::from(seg[6]) << 16 | u32::from(seg[7])));
    }
    if seg[0] == 0x2002 {
        return is_public_v4(Ipv4Addr::from(u32::from(seg[1]) << 16 | u32::from(seg[2])));
    }
    let reserved = ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (seg[0] & 0xfe00) == 0xfc00 // unique local
        || (seg[0] & 0xffc0) == 0xfe80 // link-local
        || (seg[0] & 0xffc0) == 0xfec0 // site-local (deprecated)
        || (seg[0] == 0x2001 && seg[1] == 0x0db8) // documentation
        || seg[..6] == [0, 0, 0, 0, 0, 0]; // IPv4-compatible (deprecated)
    !reserved
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_public_media_urls_pass() {
        for url in [
            "https://cdn.example.com/a.jpg",
            "http://93.184.216.34/img.png",
            "https://[2606:2800:220:1::]/v.mp4",
            "https://res.cloudinary.com/demo/image/upload/w_100,h_100/x.jpg",
        ] {
            assert!(check_media_url(url).is_ok(), "{url}");
        }
    }

    #[test]
    fn test_private_and_loopback_addresses_are_refused_in_any_spelling() {
        for url in [
            "http://127.0.0.1/a.jpg",
            "http://2130706433/a.jpg",
            "http://0x7f.1/a.jpg",
            "http://10.1.2.3/a.jpg",
            "http://172.16.0.1/a.jpg",
            "http://192.168.1.1/a.jpg",
            "http://169.254.169.254/latest/meta-data",
            "http://100.64.0.1/a.jpg",
            "http://0.0.0.0/a.jpg",
            "http://[::1]/a.jpg",
            "http://[::ffff:127.0.0.1]/a.jpg",
            "http://[fd00::1]/a.jpg",
            "http://[fe80::1]/a.jpg",
            "http://[64:ff9b::a00:1]/a.jpg",
            "http://[2002:c0a8:101::]/a.jpg",
        ] {
            assert!(
                matches!(check_media_url(url), Err(MediaUrlError::PrivateAddress(_))),
                "{url}"
            );
        }
    }

    #[test]
    fn test_local_names_schemes_and_credentials_are_refused() {
        for (url, expected) in [
            ("http://localhost/a.jpg", "localhost"),
            ("http://LOCALHOST./a.jpg", "localhost"),
            ("http://api.localhost/a.jpg", "api.localhost"),
            ("http://printer.local/a.jpg", "printer.local"),
            (
                "http://metadata.google.internal/x",
                "metadata.google.internal",
            ),
            ("http://intranet/a.jpg", "intranet"),
        ] {
            assert_eq!(
                check_media_url(url),
                Err(MediaUrlError::LocalName(expected.into())),
                "{url}"
            );
        }
        assert_eq!(
            check_media_url("file:///etc/passwd"),
            Err(MediaUrlError::Scheme("file".into()))
        );
        assert_eq!(
            check_media_url("https://user:pw@cdn.example.com/a.jpg"),
            Err(MediaUrlError::Credentials)
        );
        assert_eq!(check_media_url("not a url"), Err(MediaUrlError::Malformed));
    }
}
