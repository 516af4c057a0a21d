use super::*;

fn url(raw: &str) -> Url {
    Url::parse(raw).expect("test url")
}

#[test]
fn test_internal_literal_addresses_are_refused_without_a_lookup() {
    let guard = SsrfGuard::default();
    for raw in [
        "http://127.0.0.1/",
        "http://127.8.9.10:8080/",
        "http://10.0.0.1/",
        "http://172.16.5.4/",
        "http://192.168.1.1/",
        "http://100.64.0.1/",
        "http://100.127.255.254/",
        "http://169.254.169.254/latest/meta-data/",
        "http://169.254.10.10/",
        "http://0.0.0.0/",
        "http://0.1.2.3/",
        "http://255.255.255.255/",
        "http://224.0.0.1/",
        "http://240.0.0.1/",
        "http://192.0.2.10/",
        "http://198.51.100.7/",
        "http://203.0.113.9/",
        "http://198.18.0.1/",
        "http://192.0.0.8/",
        "http://[::1]/",
        "http://[::]/",
        "http://[fe80::1]/",
        "http://[fc00::1]/",
        "http://[fd12:3456::1]/",
        "http://[fd00:ec2::254]/",
        "http://[fec0::1]/",
        "http://[ff02::1]/",
        "http://[2001:db8::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://[::ffff:10.1.1.1]/",
        "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]/",
        "http://[::10.0.0.1]/",
        "http://[64:ff9b::a00:1]/",
        "http://[2002:c0a8:101::1]/",
        "http://[100::1]/",
        // Decimal and hex spellings are normalised by the URL parser.
        "http://2130706433/",
        "http://0x7f.0.0.1/",
        "http://0177.0.0.1/",
    ] {
        assert!(
            matches!(guard.check_url(&url(raw)), Err(SsrfError::Internal(_))),
            "{raw} must be refused"
        );
    }
}

#[test]
fn test_public_literal_addresses_and_names_pass_the_url_check() {
    let guard = SsrfGuard::default();
    for raw in [
        "https://93.184.215.14/",
        "http://8.8.8.8:8080/x",
        "https://[2606:4700::1111]/",
        "https://hooks.example.com/in",
        "http://100.128.0.1/",
        "http://172.32.0.1/",
    ] {
        assert_eq!(guard.check_url(&url(raw)), Ok(()), "{raw}");
    }
}

#[test]
fn test_other_schemes_and_credentials_are_refused() {
    let guard = SsrfGuard::new(true);
    for raw in [
        "ftp://example.com/",
        "file:///etc/passwd",
        "gopher://example.com/",
        "http://user:pw@example.com/",
        "data:text/plain,hi",
    ] {
        assert_eq!(guard.check_url(&url(raw)), Err(SsrfError::BadUrl), "{raw}");
    }
}

#[test]
fn test_allowing_private_targets_still_refuses_cloud_metadata() {
    let guard = SsrfGuard::new(true);
    assert_eq!(guard.check_url(&url("http://127.0.0.1:9/")), Ok(()));
    assert_eq!(guard.check_url(&url("http://10.0.0.1/")), Ok(()));
    for raw in [
        "http://169.254.169.254/",
        "http://[fd00:ec2::254]/",
        "http://[::ffff:169.254.169.254]/",
    ] {
        assert!(
            matches!(guard.check_url(&url(raw)), Err(SsrfError::Internal(_))),
            "{raw}"
        );
    }
}

#[tokio::test]
async fn test_localhost_is_refused_after_resolution() {
    // `localhost` resolves from the hosts file; no packet is sent.
    let refused = SsrfGuard::default()
        .resolve_and_check(&url("http://localhost:9/"))
        .await;
    assert!(
        matches!(refused, Err(SsrfError::Internal(ip)) if ip.is_loopback()),
        "{refused:?}"
    );
    let allowed = SsrfGuard::new(true)
        .resolve_and_check(&url("http://localhost:9/"))
        .await
        .expect("allowed for tests");
    assert!(
        allowed
            .iter()
            .all(|a| a.ip().is_loopback() && a.port() == 9)
    );
}

#[tokio::test]
async fn test_pinned_client_is_refused_for_internal_targets() {
    let refused = SsrfGuard::default()
        .pinned_client(&url("http://127.0.0.1:9/"), Duration::from_secs(1))
        .await;
    assert!(matches!(refused, Err(SsrfError::Internal(_))));
}

#[tokio::test]
async fn test_pinned_client_reaches_the_checked_address_and_follows_no_redirect() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let server = tokio::spawn(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (mut socket, _) = listener.accept().await.expect("accept");
        let mut buf = [0u8; 1024];
        let _ = socket.read(&mut buf).await;
        let answer = "HTTP/1.1 302 Found\r\nlocation: http://169.254.169.254/\r\n\
                      content-length: 0\r\nconnection: close\r\n\r\n";
        socket.write_all(answer.as_bytes()).await.expect("write");
    });
    // The host name is pinned to the checked address; the redirect to metadata is not taken.
    let target = url(&format!("http://localhost:{port}/hook"));
    let client = SsrfGuard::new(true)
        .pinned_client(&target, Duration::from_secs(5))
        .await
        .expect("client");
    let response = client.get(target).send().await.expect("reaches the pin");
    assert_eq!(
        response.status().as_u16(),
        302,
        "the redirect is not followed"
    );
    server.await.expect("server");
}
