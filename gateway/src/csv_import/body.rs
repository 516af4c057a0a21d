//! Bridges an async request body to the blocking [`std::io::Read`] the CSV parser wants,
//! without buffering the body: the handler forwards chunks into a bounded channel
//! ([`BodySender`]) and the parser, running on a blocking thread (`spawn_blocking`), reads them
//! ([`BodyReader`]). A full channel makes the handler wait, so memory stays at a few chunks;
//! dropping the reader (the import stopped, e.g. at a limit) makes the next send fail.

use std::fmt::Display;
use std::io::{self, Read};

use bytes::{Buf, Bytes};
use futures::{Stream, StreamExt};
use tokio::sync::mpsc;

/// The async end: send body chunks here.
#[derive(Debug, Clone)]
pub struct BodySender {
    tx: mpsc::Sender<io::Result<Bytes>>,
}

/// The blocking end: a [`Read`] over the chunks sent. Read it only off the async runtime
/// (inside `spawn_blocking` or a plain thread): it blocks until a chunk arrives.
#[derive(Debug)]
pub struct BodyReader {
    rx: mpsc::Receiver<io::Result<Bytes>>,
    current: Bytes,
}

/// A connected pair holding at most `capacity` chunks in flight (at least 1).
pub fn body_channel(capacity: usize) -> (BodySender, BodyReader) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    (
        BodySender { tx },
        BodyReader {
            rx,
            current: Bytes::new(),
        },
    )
}

impl BodySender {
    /// Sends one chunk, waiting while the reader is behind.
    ///
    /// # Errors
    /// [`io::ErrorKind::BrokenPipe`] when the reader is gone.
    pub async fn send(&self, chunk: Bytes) -> io::Result<()> {
        self.tx
            .send(Ok(chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::BrokenPipe, "the import stopped reading"))
    }

    /// Forwards a whole body stream (`axum::body::Body::into_data_stream()`, or a multipart
    /// field), then closes. A stream error reaches the reader as an I/O error.
    ///
    /// # Errors
    /// [`io::ErrorKind::BrokenPipe`] when the reader stopped before the end.
    pub async fn forward<S, E>(self, stream: S) -> io::Result<()>
    where
        S: Stream<Item = Result<Bytes, E>>,
        E: Display,
    {
        let mut stream = std::pin::pin!(stream);
        while let Some(item) = stream.next().await {
            match item {
                Ok(chunk) => self.send(chunk).await?,
                Err(e) => {
                    // The reader reports the failure with the row it reached.
                    let _ = self.tx.send(Err(io::Error::other(e.to_string()))).await;
                    return Ok(());
                }
            }
        }
        Ok(())
    }
}

impl Read for BodyReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.current.is_empty() {
            match self.rx.blocking_recv() {
                Some(Ok(chunk)) => self.current = chunk,
                Some(Err(e)) => return Err(e),
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.current.len());
        buf[..n].copy_from_slice(&self.current[..n]);
        self.current.advance(n);
        Ok(n)
    }
}
