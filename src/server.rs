//! The HTTP server loop: poem's routes served by hyper, with the limits poem's own server does
//! not offer. A slow or idle client cannot hold a socket forever (a header-read timeout, an idle
//! keep-alive timeout and a body-read deadline), and the number of open connections is capped in
//! total and per client address, so a slowloris cannot exhaust the file descriptors.
//!
//! A request in progress is never cut by the idle timeout: a connection counts as busy from the
//! moment its request head is parsed until its response body (a stream included) is done.
use std::{
    collections::HashMap,
    convert::Infallible,
    future::Future,
    io,
    net::{IpAddr, SocketAddr},
    pin::Pin,
    sync::{
        Arc, Mutex,
        atomic::{AtomicU64, AtomicUsize, Ordering},
    },
    task::{Context, Poll},
    time::{Duration, Instant},
};

use bytes::Bytes;
use futures_util::Stream;
use http_body::{Body as HttpBody, Frame, SizeHint};
use http_body_util::combinators::BoxBody;
use hyper::body::Incoming;
use hyper_util::{rt::TokioExecutor, rt::TokioIo, server::conn::auto};
use poem::{
    Body, Endpoint, Response,
    endpoint::BoxEndpoint,
    http::uri::Scheme,
    web::{LocalAddr, RemoteAddr},
};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio_util::{sync::CancellationToken, task::TaskTracker};

use crate::settings::Settings;

/// The limits in force for a new connection (settings are read again at each accept).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    pub header_read: Duration,
    pub idle: Duration,
    pub body_read: Duration,
    pub max_connections: usize,
    pub max_per_address: usize,
}

impl Limits {
    pub fn from_settings(s: &Settings) -> Self {
        let max_connections = if s.max_connections == 0 {
            default_max_connections()
        } else {
            s.max_connections
        };
        Self {
            header_read: s.header_read_timeout,
            idle: s.idle_timeout,
            body_read: s.body_read_timeout,
            max_connections,
            max_per_address: s.max_connections_per_address,
        }
    }
}

/// Half the soft open-file limit: each proxied request also holds an upstream connection, and
/// the database, log file and listener need a few more.
fn default_max_connections() -> usize {
    // Read once: settings are read at every accept.
    static DEFAULT: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *DEFAULT.get_or_init(|| open_file_limit().map_or(4096, |n| (n / 2).max(64)))
}

/// The soft open-file limit, from `/proc/self/limits` (Linux; elsewhere the default is fixed).
fn open_file_limit() -> Option<usize> {
    let limits = std::fs::read_to_string("/proc/self/limits").ok()?;
    let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
    line.trim_start_matches("Max open files")
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the loop needs from the rest of the gateway, read at each accept.
pub struct Config {
    pub limits: Box<dyn Fn() -> Limits + Send + Sync>,
    /// A trusted reverse proxy carries many clients on its connections: only the total cap
    /// applies to it.
    pub exempt_from_per_address: Box<dyn Fn(IpAddr) -> bool + Send + Sync>,
    /// How long shutdown waits for requests in progress.
    pub grace: Duration,
}

/// Open connections, in total and per address.
#[derive(Default)]
struct Counts {
    total: usize,
    per_address: HashMap<IpAddr, usize>,
}

#[derive(Clone, Default)]
struct Connections(Arc<Mutex<Counts>>);

/// Why a connection was refused at accept.
#[derive(Debug, PartialEq, Eq)]
enum Refused {
    Total,
    PerAddress,
}

impl Connections {
    fn admit(&self, ip: IpAddr, limits: &Limits, exempt: bool) -> Result<Slot, Refused> {
        let mut c = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if c.total >= limits.max_connections {
            return Err(Refused::Total);
        }
        let n = c.per_address.entry(ip).or_insert(0);
        if !exempt && *n >= limits.max_per_address {
            return Err(Refused::PerAddress);
        }
        *n += 1;
        c.total += 1;
        Ok(Slot {
            counts: self.clone(),
            ip,
        })
    }
}

/// One admitted connection; gives its place back when the connection ends.
struct Slot {
    counts: Connections,
    ip: IpAddr,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut c = self.counts.0.lock().unwrap_or_else(|e| e.into_inner());
        c.total = c.total.saturating_sub(1);
        if let Some(n) = c.per_address.get_mut(&self.ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                c.per_address.remove(&self.ip);
            }
        }
    }
}

/// What one connection is doing, for its watchdog. Times are milliseconds since `born`.
struct ConnState {
    born: tokio::time::Instant,
    /// Requests whose head is parsed and whose response is not done.
    in_flight: AtomicUsize,
    /// When the connection last became idle (its last response ended).
    idle_since: AtomicU64,
    /// 1 + when a request head started to arrive; 0 while not reading a head.
    head_started: AtomicU64,
    /// Wakes the watchdog when a request starts or ends, so it sleeps to the right deadline.
    changed: tokio::sync::Notify,
}

impl ConnState {
    fn new() -> Self {
        Self {
            born: tokio::time::Instant::now(),
            in_flight: AtomicUsize::new(0),
            idle_since: AtomicU64::new(0),
            // The first request's head is due from the opening: a socket that sends nothing is
            // a slowloris as much as one that sends a byte a minute.
            head_started: AtomicU64::new(1),
            changed: tokio::sync::Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.born.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn read_some(&self) {
        if self.in_flight.load(Ordering::Relaxed) == 0
            && self.head_started.load(Ordering::Relaxed) == 0
        {
            self.head_started
                .store(self.now_ms() + 1, Ordering::Relaxed);
        }
    }

    fn request_started(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.head_started.store(0, Ordering::Relaxed);
        self.changed.notify_one();
        InFlight(self.clone())
    }
}

/// Held from a request's head to the end of its response body.
struct InFlight(Arc<ConnState>);

impl Drop for InFlight {
    fn drop(&mut self) {
        self.0.idle_since.store(self.0.now_ms(), Ordering::Relaxed);
        self.0.in_flight.fetch_sub(1, Ordering::Relaxed);
        self.0.changed.notify_one();
    }
}

/// Why a connection's watchdog closed it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Expired {
    HeaderRead,
    Idle,
}

/// Resolves when the connection has been too slow sending a head or idle too long.
async fn watchdog(state: &ConnState, limits: Limits) -> Expired {
    let header_ms = u64::try_from(limits.header_read.as_millis()).unwrap_or(u64::MAX);
    let idle_ms = u64::try_from(limits.idle.as_millis()).unwrap_or(u64::MAX);
    loop {
        let now = state.now_ms();
        let head = state.head_started.load(Ordering::Relaxed);
        let (deadline, why) = if head > 0 {
            ((head - 1).saturating_add(header_ms), Expired::HeaderRead)
        } else if state.in_flight.load(Ordering::Relaxed) == 0 {
            (
                state
                    .idle_since
                    .load(Ordering::Relaxed)
                    .saturating_add(idle_ms),
                Expired::Idle,
            )
        } else {
            // Busy: never cut here; woken when the request ends.
            (u64::MAX, Expired::Idle)
        };
        if now >= deadline {
            // Re-check: the state may have moved while we slept.
            let still = match why {
                Expired::HeaderRead => state.head_started.load(Ordering::Relaxed) == head,
                Expired::Idle => {
                    state.in_flight.load(Ordering::Relaxed) == 0
                        && state.head_started.load(Ordering::Relaxed) == 0
                }
            };
            if still {
                return why;
            }
            continue;
        }
        // Only request starts and ends wake this (`notify_one` keeps a wake-up that comes before
        // the wait). A head that starts while idle is looked at by the idle deadline at the
        // latest, and from then on held to its own.
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(deadline - now)) => {}
            () = state.changed.notified() => {}
        }
    }
}

/// The socket, telling its `ConnState` when request bytes arrive.
struct Watched {
    io: tokio::net::TcpStream,
    state: Arc<ConnState>,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.io).poll_read(cx, buf);
        if matches!(r, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.state.read_some();
        }
        r
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A response body that keeps its request in flight until it is done or dropped.
struct Tracked {
    body: BoxBody<Bytes, io::Error>,
    _in_flight: InFlight,
}

impl HttpBody for Tracked {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        Pin::new(&mut self.body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// A request body that must arrive whole before its deadline.
struct Deadline<S> {
    inner: Pin<Box<S>>,
    sleep: Pin<Box<tokio::time::Sleep>>,
    expired: bool,
}

impl<S: Stream<Item = io::Result<Bytes>>> Stream for Deadline<S> {
    type Item = io::Result<Bytes>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        if self.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = self.inner.as_mut().poll_next(cx) {
            return Poll::Ready(item);
        }
        if self.sleep.as_mut().poll(cx).is_ready() {
            self.expired = true;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the request body was not received in time (BODY_READ_TIMEOUT)",
            ))));
        }
        Poll::Pending
    }
}

/// A request without `Content-Length` or `Transfer-Encoding` has no body to wait for.
fn has_body(req: &poem::Request) -> bool {
    let h = req.headers();
    h.contains_key(poem::http::header::TRANSFER_ENCODING)
        || h.get(poem::http::header::CONTENT_LENGTH)
            .is_some_and(|v| v.as_bytes() != b"0")
}

fn with_deadline(body: Body, limit: Duration) -> Body {
    Body::from_bytes_stream(Deadline {
        inner: Box::pin(body.into_bytes_stream()),
        sleep: Box::pin(tokio::time::sleep(limit)),
        expired: false,
    })
}

/// Serves `ep` on `listener` until `shutdown` resolves, then lets requests in progress finish
/// for up to `config.grace`.
pub async fn serve(
    listener: tokio::net::TcpListener,
    ep: BoxEndpoint<'static, Response>,
    config: Config,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    let local = LocalAddr(poem::Addr::SocketAddr(listener.local_addr()?));
    let ep = Arc::new(ep);
    let token = CancellationToken::new();
    let tasks = TaskTracker::new();
    let connections = Connections::default();
    let mut refused_logged: Option<Instant> = None;
    let mut refused_since_log: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            r = listener.accept() => r,
        };
        let (socket, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Out of file descriptors (or a connection reset before accept): wait a little
                // instead of spinning, then go on.
                tracing::warn!(error = %e, "could not accept a connection");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let limits = (config.limits)();
        let ip = peer.ip().to_canonical();
        let slot = match connections.admit(ip, &limits, (config.exempt_from_per_address)(ip)) {
            Ok(slot) => slot,
            Err(why) => {
                // Closed at once. One line per ten seconds at most: a flood must not flood the log.
                drop(socket);
                refused_since_log += 1;
                if refused_logged.is_none_or(|t| t.elapsed() >= Duration::from_secs(10)) {
                    tracing::warn!(
                        client = %ip,
                        cap = ?why,
                        refused = refused_since_log,
                        max_connections = limits.max_connections,
                        max_per_address = limits.max_per_address,
                        "connection cap reached: refusing connections"
                    );
                    refused_logged = Some(Instant::now());
                    refused_since_log = 0;
                }
                continue;
            }
        };
        if let Err(e) = socket.set_nodelay(true) {
            // A stream is many small SSE writes: with Nagle's algorithm each one waits for the
            // client's delayed ACK (about 40 ms per event, measured by `gcli2api bench`).
            tracing::debug!(error = %e, "could not set TCP_NODELAY");
        }
        tasks.spawn(connection(
            socket,
            peer,
            local.clone(),
            ep.clone(),
            limits,
            token.clone(),
            slot,
        ));
    }
    drop(listener);
    token.cancel();
    tasks.close();
    if tokio::time::timeout(config.grace, tasks.wait())
        .await
        .is_err()
    {
        tracing::info!("shutdown grace period over: closing the remaining connections");
    }
    Ok(())
}

async fn connection(
    socket: tokio::net::TcpStream,
    peer: SocketAddr,
    local: LocalAddr,
    ep: Arc<BoxEndpoint<'static, Response>>,
    limits: Limits,
    shutdown: CancellationToken,
    _slot: Slot,
) {
    let state = Arc::new(ConnState::new());
    let remote = RemoteAddr(poem::Addr::SocketAddr(peer));
    let service = hyper::service::service_fn({
        let state = state.clone();
        move |req: poem::http::Request<Incoming>| {
            let in_flight = state.request_started();
            let ep = ep.clone();
            let mut req = poem::Request::from((req, local.clone(), remote.clone(), Scheme::HTTP));
            if has_body(&req) {
                let body = req.take_body();
                req.set_body(with_deadline(body, limits.body_read));
            }
            async move {
                let resp: poem::http::Response<BoxBody<Bytes, io::Error>> =
                    ep.get_response(req).await.into();
                Ok::<_, Infallible>(resp.map(|body| Tracked {
                    body,
                    _in_flight: in_flight,
                }))
            }
        }
    });
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http2()
        .max_pending_accept_reset_streams(Some(20))
        .max_header_list_size(16384);
    let io = TokioIo::new(Watched {
        io: socket,
        state: state.clone(),
    });
    let conn = builder.serve_connection_with_upgrades(io, service);
    tokio::pin!(conn);
    tokio::select! {
        _ = conn.as_mut() => return,
        why = watchdog(&state, limits) => {
            tracing::debug!(client = %peer.ip(), reason = ?why, "closing a slow or idle connection");
            return;
        }
        () = shutdown.cancelled() => {}
    }
    conn.as_mut().graceful_shutdown();
    let _ = conn.await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(total: usize, per: usize) -> Limits {
        Limits {
            header_read: Duration::from_millis(100),
            idle: Duration::from_millis(100),
            body_read: Duration::from_millis(100),
            max_connections: total,
            max_per_address: per,
        }
    }

    #[test]
    fn caps_count_in_total_and_per_address_and_free_on_drop() {
        let c = Connections::default();
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let l = limits(3, 2);
        let s1 = c.admit(a, &l, false).unwrap();
        let _s2 = c.admit(a, &l, false).unwrap();
        assert_eq!(c.admit(a, &l, false).err(), Some(Refused::PerAddress));
        let _s3 = c.admit(b, &l, false).unwrap();
        assert_eq!(c.admit(b, &l, false).err(), Some(Refused::Total));
        drop(s1);
        let _s4 = c.admit(a, &l, false).unwrap();
        assert_eq!(c.0.lock().unwrap().total, 3);
    }

    #[test]
    fn a_trusted_proxy_is_only_held_to_the_total() {
        let c = Connections::default();
        let p: IpAddr = "10.0.0.1".parse().unwrap();
        let l = limits(3, 1);
        let _a = c.admit(p, &l, true).unwrap();
        let _b = c.admit(p, &l, true).unwrap();
        let _c = c.admit(p, &l, true).unwrap();
        assert_eq!(c.admit(p, &l, true).err(), Some(Refused::Total));
    }

    #[tokio::test]
    async fn a_busy_connection_is_never_expired_and_an_idle_one_is() {
        let s = Arc::new(ConnState::new());
        let l = limits(1, 1);
        let guard = s.request_started();
        let busy = tokio::time::timeout(Duration::from_millis(500), watchdog(&s, l)).await;
        assert!(busy.is_err(), "a request in progress must not be cut");
        drop(guard);
        let started = tokio::time::Instant::now();
        let why = tokio::time::timeout(Duration::from_millis(500), watchdog(&s, l)).await;
        assert_eq!(why.ok(), Some(Expired::Idle));
        assert!(started.elapsed() >= Duration::from_millis(90));
    }

    #[test]
    fn the_open_file_limit_is_read_on_linux() {
        if cfg!(target_os = "linux") {
            assert!(open_file_limit().is_some_and(|n| n > 0));
        }
    }
}
