//! A connection that fails a write which makes no progress for too long, or at once when its
//! `ConnCut` is cancelled.
//!
//! hyper stops polling a response body while the socket is full, so a client that stops
//! reading but keeps its TCP connection open would otherwise hold its connection (and its
//! place in `/ready`) forever. With a write deadline the connection errors out, hyper drops
//! it, and the client — if it ever comes back — resumes from the log. The cut is quicker: a
//! stream cancels it the moment the client falls past its buffer bound (`sse::Fanout`).

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::sse::ConnCut;

pub struct DeadlineIo {
    inner: TcpStream,
    timeout: Duration,
    cut: ConnCut,
    /// Exists only while a write is pending: idle connections carry no timer.
    stalled: Option<Pin<Box<dyn Future<Output = ()> + Send>>>,
}

impl DeadlineIo {
    pub fn new(inner: TcpStream, timeout: Duration, cut: ConnCut) -> Self {
        Self {
            inner,
            timeout,
            cut,
            stalled: None,
        }
    }

    fn check_cut(&self) -> io::Result<()> {
        if self.cut.0.is_cancelled() {
            return Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "client fell behind its buffer",
            ));
        }
        Ok(())
    }

    /// Passes `poll` through; while it stays pending, arms (once) and polls a future that
    /// ends at the deadline or at the cut, whichever comes first, so either wakes the writer,
    /// which then gets an error.
    ///
    /// The cut is only consulted here, while a write is stuck: `is_cancelled` takes a lock,
    /// and a client whose writes flow learns it fell behind from its stream instead.
    fn guard<T>(&mut self, cx: &mut Context<'_>, poll: Poll<io::Result<T>>) -> Poll<io::Result<T>> {
        match poll {
            Poll::Ready(result) => {
                self.stalled = None;
                Poll::Ready(result)
            }
            Poll::Pending => {
                let (timeout, cut) = (self.timeout, &self.cut);
                let stalled = self.stalled.get_or_insert_with(|| {
                    let cut = cut.0.clone();
                    Box::pin(async move {
                        tokio::select! {
                            () = tokio::time::sleep(timeout) => {}
                            () = cut.cancelled_owned() => {}
                        }
                    })
                });
                match stalled.as_mut().poll(cx) {
                    Poll::Ready(()) => {
                        self.check_cut()?;
                        Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::TimedOut,
                            "client stopped reading",
                        )))
                    }
                    Poll::Pending => Poll::Pending,
                }
            }
        }
    }
}

impl AsyncRead for DeadlineIo {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl AsyncWrite for DeadlineIo {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.guard(cx, poll)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let poll = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.guard(cx, poll)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let poll = Pin::new(&mut self.inner).poll_flush(cx);
        self.guard(cx, poll)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
