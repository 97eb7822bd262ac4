//! Running the server: bind, announce the address, serve, and drain on SIGTERM/Ctrl-C.
//!
//! The accept loop is our own rather than `axum::serve`: HTTP/1.1 only (what `EventSource`
//! speaks) keeps each idle SSE connection small, every connection gets a write deadline, and
//! shutdown waits for connections only as long as `DRAIN_DEADLINE`.

use std::io::Write;
use std::time::Duration;

use axum::extract::ConnectInfo;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;

use super::app;
use super::write_deadline::DeadlineIo;
use crate::config::Config;
use crate::sse::ConnCut;
use crate::state::AppState;

/// After a shutdown signal the process exits within this, even if a connection will not close.
pub const DRAIN_DEADLINE: Duration = Duration::from_millis(1500);
/// A client has this long to send its request headers.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Connections the kernel may queue before we accept them (it caps this at
/// `net.core.somaxconn`). The default of 128 overflows when many clients connect at once, as
/// they all do after a restart, and every dropped SYN costs its client a 1 s retransmit.
const ACCEPT_BACKLOG: u32 = 4096;

fn bind(addr: std::net::SocketAddr) -> std::io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As `TcpListener::bind` does: a restarted server can take its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(ACCEPT_BACKLOG)
}

pub async fn serve(config: Config) -> Result<(), String> {
    let (addr, write_timeout) = (config.addr, config.write_timeout);
    let state = AppState::new(config).map_err(|e| e.to_string())?;
    let listener = bind(addr).map_err(|e| format!("cannot bind {addr}: {e}"))?;
    let bound = listener.local_addr().map_err(|e| e.to_string())?;
    // The one line on stdout: scripts wait for it and read the port from it.
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "livesource-dev listening on http://{bound}").map_err(|e| e.to_string())?;
    stdout.flush().map_err(|e| e.to_string())?;
    drop(stdout);
    tracing::info!(%bound, "serving");

    let router = app(state.clone());
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT);
    let graceful = GracefulShutdown::new();
    let stop = signal();
    tokio::pin!(stop);
    loop {
        tokio::select! {
            () = &mut stop => break,
            accepted = listener.accept() => {
                let (stream, peer) = match accepted {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // Typically out of file descriptors: back off instead of spinning.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                };
                let _ = stream.set_nodelay(true);
                // Streams on this connection may cut it (a client past its buffer bound).
                let cut = ConnCut::default();
                let io = TokioIo::new(DeadlineIo::new(stream, write_timeout, cut.clone()));
                let router = router.clone();
                let service = hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
                    req.extensions_mut().insert(cut.clone());
                    // Whom `client_limit` counts this request's streams against.
                    req.extensions_mut().insert(ConnectInfo(peer));
                    // `Router` is always ready, so `call` needs no `poll_ready` first.
                    tower::Service::call(&mut router.clone(), req)
                });
                let conn = graceful.watch(http.serve_connection(io, service));
                tokio::spawn(async move {
                    if let Err(e) = conn.await {
                        tracing::debug!(error = %e, "connection ended with an error");
                    }
                });
            }
        }
    }
    drop(listener);
    tracing::info!("shutting down: draining SSE streams");
    // Streams see this, send their farewell (`server.state: draining`) and end; idle
    // keep-alive connections are closed by the graceful watcher.
    state.shutdown.cancel();
    tokio::select! {
        () = graceful.shutdown() => tracing::info!("stopped"),
        () = tokio::time::sleep(DRAIN_DEADLINE) => tracing::warn!("drain deadline passed; exiting"),
    }
    Ok(())
}

async fn signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
