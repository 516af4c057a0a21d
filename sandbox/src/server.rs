//! The TCP side of the sandbox: a listener whose connections a handler can cut. A publish that
//! is accepted and then "lost" must reach the client as a broken connection, not as a slow or
//! empty response, so each connection carries a switch that makes all further IO on it fail;
//! hyper then drops the socket without writing the response.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::connect_info::Connected;
use axum::serve::{IncomingStream, Listener};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};

use crate::Shared;

/// A TCP listener whose connections can be cut from inside a handler.
pub(crate) struct CuttableListener {
    inner: TcpListener,
    state: Shared,
}

impl CuttableListener {
    /// Listens on `inner`, counting connections in `state`'s stats.
    pub fn new(inner: TcpListener, state: Shared) -> Self {
        Self { inner, state }
    }
}

/// Identifies one connection to its handlers, and lets them cut it.
#[derive(Clone, Debug)]
pub(crate) struct Connection {
    pub remote: SocketAddr,
    cut: Arc<AtomicBool>,
}

impl Connection {
    /// Makes every later read and write on this connection fail, so the response being built
    /// is never sent and the socket is closed.
    pub fn cut(&self) {
        self.cut.store(true, Ordering::SeqCst);
    }
}

impl Connected<IncomingStream<'_, CuttableListener>> for Connection {
    fn connect_info(stream: IncomingStream<'_, CuttableListener>) -> Self {
        stream.remote_addr().clone()
    }
}

impl Listener for CuttableListener {
    type Io = CuttableStream;
    type Addr = Connection;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match self.inner.accept().await {
                Ok((stream, remote)) => {
                    self.state.bump(|s| s.connections_accepted += 1);
                    // Small responses should leave at once; the sandbox is latency-sensitive
                    // in benchmarks.
                    let _ = stream.set_nodelay(true);
                    let cut = Arc::new(AtomicBool::new(false));
                    let io = CuttableStream {
                        inner: stream,
                        cut: cut.clone(),
                    };
                    return (io, Connection { remote, cut });
                }
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "sandbox accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(Connection {
            remote: self.inner.local_addr()?,
            cut: Arc::new(AtomicBool::new(false)),
        })
    }
}

/// A TCP stream that fails all IO once its connection was cut.
pub(crate) struct CuttableStream {
    inner: TcpStream,
    cut: Arc<AtomicBool>,
}

impl CuttableStream {
    fn is_cut(&self) -> bool {
        self.cut.load(Ordering::SeqCst)
    }
}

fn reset() -> io::Error {
    io::Error::new(
        io::ErrorKind::ConnectionReset,
        "connection cut by the sandbox",
    )
}

impl AsyncRead for CuttableStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for CuttableStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.is_cut() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Err(reset()));
        }
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        if self.is_cut() {
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
