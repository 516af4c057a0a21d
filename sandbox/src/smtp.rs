//! A tiny SMTP sink (RFC 5321 subset) on loopback, standing in for the mail relay: it accepts
//! EHLO/HELO, MAIL FROM, RCPT TO, DATA (with dot-unstuffing), RSET, NOOP and QUIT, keeps every
//! message it receives in memory (bodies decoded from base64 or quoted-printable) and relays
//! nothing. Tests read them with [`crate::Sandbox::emails`]
//! or `GET /_sandbox/emails`.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use base64::Engine as _;
use serde::Serialize;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use crate::{Shared, lock};

/// The longest message accepted, in bytes.
const MAX_MESSAGE: usize = 1024 * 1024;

/// The longest command line accepted, in bytes.
const MAX_LINE: usize = 4096;

/// One message the sink received.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SentEmail {
    /// The envelope sender (`MAIL FROM`).
    pub from: String,
    /// The envelope recipients (`RCPT TO`).
    pub to: Vec<String>,
    /// The `Subject` header.
    pub subject: String,
    /// The text body, decoded from base64 or quoted-printable when so encoded.
    pub body: String,
}

/// Every message received, shared with the HTTP side.
pub(crate) type Outbox = Arc<Mutex<Vec<SentEmail>>>;

/// Binds 127.0.0.1:0 and serves until `shutdown` flips.
pub(crate) async fn spawn(
    outbox: Outbox,
    mut shutdown: watch::Receiver<bool>,
) -> std::io::Result<SocketAddr> {
    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move {
        loop {
            tokio::select! {
                _ = shutdown.changed() => break,
                accepted = listener.accept() => match accepted {
                    Ok((stream, _)) => {
                        let outbox = outbox.clone();
                        tokio::spawn(async move {
                            if let Err(error) = session(stream, outbox).await {
                                tracing::debug!(%error, "smtp session ended with an error");
                            }
                        });
                    }
                    Err(error) => tracing::warn!(%error, "smtp accept failed"),
                },
            }
        }
    });
    tracing::info!(%addr, "sandbox smtp sink listening");
    Ok(addr)
}

/// The envelope being built.
#[derive(Default)]
struct Envelope {
    from: Option<String>,
    to: Vec<String>,
}

/// The address inside `FROM:<a>` / `TO:<a>`.
fn path_of(arg: &str) -> String {
    let arg = arg.trim();
    let inner = match (arg.find('<'), arg.find('>')) {
        (Some(a), Some(b)) if a < b => &arg[a + 1..b],
        _ => arg.split_whitespace().next().unwrap_or_default(),
    };
    inner.to_owned()
}

async fn session(stream: TcpStream, outbox: Outbox) -> std::io::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut reader = BufReader::new(read);
    write.write_all(b"220 sandbox ESMTP sink\r\n").await?;
    let mut envelope = Envelope::default();
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Ok(());
        }
        if line.len() > MAX_LINE {
            write.write_all(b"500 line too long\r\n").await?;
            continue;
        }
        let command = line.trim_end_matches(['\r', '\n']);
        let upper = command.to_ascii_uppercase();
        let reply: &[u8] = if upper.starts_with("EHLO") {
            envelope = Envelope::default();
            b"250-sandbox greets you\r\n250-8BITMIME\r\n250 SIZE 1048576\r\n"
        } else if upper.starts_with("HELO") {
            envelope = Envelope::default();
            b"250 sandbox\r\n"
        } else if let Some(arg) = upper.strip_prefix("MAIL FROM:").map(|_| &command[10..]) {
            envelope = Envelope {
                from: Some(path_of(arg)),
                to: Vec::new(),
            };
            b"250 OK\r\n"
        } else if let Some(arg) = upper.strip_prefix("RCPT TO:").map(|_| &command[8..]) {
            if envelope.from.is_none() {
                b"503 need MAIL first\r\n"
            } else {
                envelope.to.push(path_of(arg));
                b"250 OK\r\n"
            }
        } else if upper == "DATA" {
            if envelope.to.is_empty() {
                b"503 need RCPT first\r\n"
            } else {
                write
                    .write_all(b"354 end data with <CR><LF>.<CR><LF>\r\n")
                    .await?;
                let data = read_data(&mut reader).await?;
                let Some(data) = data else {
                    write.write_all(b"552 message too large\r\n").await?;
                    envelope = Envelope::default();
                    continue;
                };
                let (subject, body) = parse_message(&data);
                lock(&outbox).push(SentEmail {
                    from: envelope.from.take().unwrap_or_default(),
                    to: std::mem::take(&mut envelope.to),
                    subject,
                    body,
                });
                b"250 OK queued\r\n"
            }
        } else if upper == "RSET" {
            envelope = Envelope::default();
            b"250 OK\r\n"
        } else if upper.starts_with("NOOP") {
            b"250 OK\r\n"
        } else if upper == "QUIT" {
            write.write_all(b"221 bye\r\n").await?;
            return Ok(());
        } else {
            b"502 command not implemented\r\n"
        };
        write.write_all(reply).await?;
    }
}

/// Reads DATA lines up to the lone `.`, removing dot-stuffing; `None` when too large.
async fn read_data<R: tokio::io::AsyncBufRead + Unpin>(
    reader: &mut R,
) -> std::io::Result<Option<String>> {
    let mut data = String::new();
    let mut too_large = false;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line).await? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let text = line.trim_end_matches(['\r', '\n']);
        if text == "." {
            return Ok((!too_large).then_some(data));
        }
        let text = text.strip_prefix('.').unwrap_or(text);
        if data.len() + text.len() > MAX_MESSAGE {
            too_large = true;
        } else {
            data.push_str(text);
            data.push('\n');
        }
    }
}

/// The subject (unfolded) and the decoded body of a message.
fn parse_message(data: &str) -> (String, String) {
    let (head, body) = data.split_once("\n\n").unwrap_or((data, ""));
    let mut headers: Vec<(String, String)> = Vec::new();
    for line in head.lines() {
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.1.push(' ');
                last.1.push_str(line.trim());
            }
        } else if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let header = |name: &str| {
        headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    let body = if header("content-transfer-encoding").eq_ignore_ascii_case("base64") {
        let compact: String = body.split_whitespace().collect();
        base64::engine::general_purpose::STANDARD
            .decode(compact)
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|_| body.to_owned())
    } else if header("content-transfer-encoding").eq_ignore_ascii_case("quoted-printable") {
        quoted_printable(body)
    } else {
        body.to_owned()
    };
    (header("subject"), body)
}

/// Decodes a quoted-printable body: `=` at a line end joins lines, `=XX` is a byte.
fn quoted_printable(body: &str) -> String {
    let joined = body.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'=', Some(byte)) => {
                out.push(byte);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `GET /_sandbox/emails`.
pub(crate) fn router() -> Router<Shared> {
    Router::new().route("/_sandbox/emails", get(emails))
}

async fn emails(State(state): State<Shared>) -> Json<serde_json::Value> {
    Json(json!({"emails": lock(&state.emails).clone()}))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn test_headers_unfold_and_base64_bodies_decode() {
        let data = "From: a@b.test\nSubject: A long\n  subject\nContent-Transfer-Encoding: base64\n\naGVsbG8g\nd29ybGQ=\n";
        let (subject, body) = parse_message(data);
        assert_eq!(subject, "A long subject");
        assert_eq!(body, "hello world");
        let data =
            "Subject: Q\nContent-Transfer-Encoding: quoted-printable\n\nsoft=\nbreak =3D done\n";
        assert_eq!(parse_message(data).1, "softbreak = done\n");
    }

    /// The last line of a (possibly multi-line) reply.
    async fn reply(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> String {
        let mut line = String::new();
        loop {
            line.clear();
            reader.read_line(&mut line).await.expect("reply");
            if line.as_bytes().get(3) != Some(&b'-') {
                return line;
            }
        }
    }

    #[tokio::test]
    async fn test_a_conversation_stores_the_message_with_dots_unstuffed() {
        let outbox = Outbox::default();
        let (_tx, rx) = watch::channel(false);
        let addr = spawn(outbox.clone(), rx).await.expect("smtp");
        let stream = TcpStream::connect(addr).await.expect("connect");
        let (read, mut write) = stream.into_split();
        let mut reader = BufReader::new(read);
        assert!(reply(&mut reader).await.starts_with("220"));
        for (cmd, code) in [
            ("EHLO me\r\n", "250"),
            ("RCPT TO:<x@y.test>\r\n", "503"),
            ("MAIL FROM:<from@y.test>\r\n", "250"),
            ("RCPT TO:<to@y.test>\r\n", "250"),
            ("NOOP\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: Hi\r\n\r\n..dotted\r\nline\r\n.\r\n", "250"),
            ("QUIT\r\n", "221"),
        ] {
            write.write_all(cmd.as_bytes()).await.expect("send");
            let answer = reply(&mut reader).await;
            assert!(answer.starts_with(code), "{cmd}: {answer}");
        }
        let mails = lock(&outbox).clone();
        assert_eq!(mails.len(), 1);
        assert_eq!(mails[0].from, "from@y.test");
        assert_eq!(mails[0].to, vec!["to@y.test".to_owned()]);
        assert_eq!(mails[0].subject, "Hi");
        assert_eq!(mails[0].body, ".dotted\nline\n");
    }
}
