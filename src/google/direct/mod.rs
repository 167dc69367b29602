//! The generation calls' HTTP/1.1 client, driven inside the task that awaits the answer.
//!
//! reqwest (through hyper-util) runs every connection in a task of its own: each request
//! and each chunk of a streamed answer then crosses from that task to the caller's, a wake-up
//! apiece, and its redirect and timeout layers re-parse the URL and copy the headers on every
//! call. Profiles of the gateway showed that layer as the largest single cost of a chat. Here
//! the caller's own task polls the connection while it waits for the head and while it reads
//! the body, so a chunk goes from the socket to the translator in one poll. Connections are
//! kept for reuse per origin, as reqwest's pool does.
//!
//! Used for generation only and only without `PROXY`: everything else (OAuth, discovery,
//! proxies) keeps reqwest. HTTP/1.1 is what Gemini CLI itself speaks to Google.
use std::collections::HashMap;
use std::future::{Future, poll_fn};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::connect::dns::Name;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::time::{Instant, Sleep};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;
use tower_service::Service;

use crate::outbound::Dns;

type Io = TokioIo<Either<TcpStream, TlsStream<TcpStream>>>;
type Conn = http1::Connection<Io, Full<Bytes>>;
type Sender = http1::SendRequest<Full<Bytes>>;

/// Idle connections kept per origin, as reqwest kept them.
const MAX_IDLE_PER_ORIGIN: usize = 64;
/// An idle connection older than this is closed rather than reused: servers drop idle
/// connections after a while, and one dropped under us would fail the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);
/// TCP keepalive and the kernel's limit on unacknowledged data, as reqwest set them: a
/// connection whose peer vanished (a NAT mapping dropped during a long silent generation)
/// fails within about a minute instead of waiting out the read timeout.
const KEEPALIVE: Duration = Duration::from_secs(15);
const KEEPALIVE_RETRIES: u32 = 3;
#[cfg(target_os = "linux")]
const TCP_USER_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    #[error("unsupported URL: {0}")]
    Url(String),
    // The upstream's address stays out of these texts, which reach clients; `connect` logs it.
    #[error("cannot connect to the upstream: {0}")]
    Connect(String),
    #[error("connecting to the upstream timed out")]
    ConnectTimeout,
    #[error("TLS handshake with the upstream failed: {0}")]
    Tls(String),
    #[error("the upstream sent nothing for {0:?}")]
    ReadTimeout(Duration),
    #[error("HTTP error: {0}")]
    Http(#[from] hyper::Error),
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Origin {
    tls: bool,
    host: String,
    port: u16,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}:{}", self.host, self.port)
    }
}

/// One HTTP/1.1 connection: the request side and the future that drives the socket. `conn`
/// is `None` once that future has finished (the server closed, or an error).
struct Link {
    send: Sender,
    conn: Option<Conn>,
}

impl Link {
    /// Drives the socket; lets go of the connection once it has finished, which also fails a
    /// request still waiting on it.
    fn drive(&mut self, cx: &mut Context<'_>) {
        if let Some(conn) = self.conn.as_mut()
            && Pin::new(conn).poll(cx).is_ready()
        {
            self.conn = None;
        }
    }

    /// Whether this idle connection can take a request now: polled once (so a close by the
    /// server is seen and the previous answer's end is processed), still open, and ready.
    fn usable(&mut self) -> bool {
        self.drive(&mut Context::from_waker(Waker::noop()));
        self.conn.is_some() && self.send.is_ready()
    }
}

/// An answer's head, the connection it came on, and the read timer already running.
type Exchanged = (http::Response<Incoming>, Box<Link>, Pin<Box<Sleep>>);

struct Idle {
    link: Box<Link>,
    since: Instant,
}

/// The client: idle connections per origin, and how new ones are made.
pub struct Direct {
    idle: Mutex<HashMap<Origin, Vec<Idle>>>,
    /// Whether the task that closes expired idle connections is running.
    sweeping: AtomicBool,
    tls: TlsConnector,
    /// TCP connections: every address of the host, IPv6 and IPv4 raced after 300 ms as
    /// reqwest does, the connect timeout shared among them, keepalive set.
    tcp: HttpConnector<Resolver>,
    connect_timeout: Duration,
    read_timeout: Duration,
    idle_timeout: Duration,
}

impl Direct {
    pub fn new(
        tls: rustls::ClientConfig,
        connect_timeout: Duration,
        read_timeout: Duration,
    ) -> Arc<Self> {
        let mut tls = tls;
        // Only HTTP/1.1 is spoken here; offering h2 would let a server pick what we can't read.
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let mut tcp = HttpConnector::new_with_resolver(Resolver(Dns::default()));
        tcp.enforce_http(false);
        // Requests are written whole; Nagle would only hold the last segment back.
        tcp.set_nodelay(true);
        tcp.set_connect_timeout(Some(connect_timeout));
        tcp.set_keepalive(Some(KEEPALIVE));
        tcp.set_keepalive_interval(Some(KEEPALIVE));
        tcp.set_keepalive_retries(Some(KEEPALIVE_RETRIES));
        #[cfg(target_os = "linux")]
        tcp.set_tcp_user_timeout(Some(TCP_USER_TIMEOUT));
        Arc::new(Self {
            idle: Mutex::default(),
            sweeping: AtomicBool::new(false),
            tls: TlsConnector::from(Arc::new(tls)),
            tcp,
            connect_timeout,
            read_timeout,
            idle_timeout: IDLE_TIMEOUT,
        })
    }

    /// POSTs `body` to `url` with `headers` (Host and Content-Length are added). The answer's
    /// body must be read (or dropped) by the caller; reading it drives the connection.
    pub async fn post(
        self: &Arc<Self>,
        url: &reqwest::Url,
        headers: HeaderMap,
        body: Bytes,
    ) -> Result<http::Response<DirectBody>, DirectError> {
        let origin = origin(url)?;
        let target = match url.query() {
            Some(q) => format!("{}?{q}", url.path()),
            None => url.path().to_owned(),
        };
        let host = host_header(&origin)?;
        let build = || {
            let mut req = http::Request::new(Full::new(body.clone()));
            *req.method_mut() = http::Method::POST;
            *req.uri_mut() = target
                .parse()
                .map_err(|_| DirectError::Url(target.clone()))?;
            let h = req.headers_mut();
            *h = headers.clone();
            h.insert(HOST, host.clone());
            Ok::<_, DirectError>(req)
        };
        // A reused connection that closed before our request was taken off its queue never
        // sent it: that request is sent once more on a new connection, as hyper-util's pool
        // does. Once written, a request is not sent again (the server may have acted on it);
        // the caller's own retry picks another credential.
        if let Some(link) = self.checkout(&origin) {
            match self.exchange(link, build()?).await {
                Err(DirectError::Http(e)) if e.is_canceled() => {
                    tracing::debug!(error = %e, "reused upstream connection was closed; reconnecting");
                }
                Err(e) => return Err(e),
                Ok(resp) => return Ok(self.wrap(origin, resp)),
            }
        }
        let link = self.connect(&origin).await?;
        let resp = self.exchange(link, build()?).await?;
        Ok(self.wrap(origin, resp))
    }

    fn wrap(
        self: &Arc<Self>,
        origin: Origin,
        (resp, link, timer): Exchanged,
    ) -> http::Response<DirectBody> {
        let timeout = self.read_timeout;
        resp.map(|body| DirectBody {
            body,
            link: Some(link),
            home: Some((Arc::clone(self), origin)),
            timer,
            deadline: Instant::now() + timeout,
            timeout,
        })
    }

    /// Sends `req` on `link` and waits for the answer's head, driving the connection. The
    /// timer goes on to watch the body, so a call registers one timer, not two.
    async fn exchange(
        &self,
        mut link: Box<Link>,
        req: http::Request<Full<Bytes>>,
    ) -> Result<Exchanged, DirectError> {
        let pending = link.send.send_request(req);
        tokio::pin!(pending);
        let mut timer = Box::pin(tokio::time::sleep(self.read_timeout));
        let resp = poll_fn(|cx| {
            link.drive(cx);
            if let Poll::Ready(r) = pending.as_mut().poll(cx) {
                return Poll::Ready(r.map_err(DirectError::Http));
            }
            if timer.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Err(DirectError::ReadTimeout(self.read_timeout)));
            }
            Poll::Pending
        })
        .await?;
        Ok((resp, link, timer))
    }

    fn checkout(&self, origin: &Origin) -> Option<Box<Link>> {
        let mut idle = self.idle.lock();
        let list = idle.get_mut(origin)?;
        while let Some(mut i) = list.pop() {
            if i.since.elapsed() < self.idle_timeout && i.link.usable() {
                return Some(i.link);
            }
        }
        None
    }

    fn checkin(self: &Arc<Self>, origin: Origin, link: Box<Link>) {
        if link.conn.is_none() || link.send.is_closed() {
            return;
        }
        self.start_sweeping();
        let mut idle = self.idle.lock();
        let list = idle.entry(origin).or_default();
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                link,
                since: Instant::now(),
            });
        }
    }

    /// Starts, once, the task that closes idle connections past their time, so that an
    /// origin no longer called (a base URL changed, traffic stopped) does not keep its
    /// connections open. The task ends with the client.
    fn start_sweeping(self: &Arc<Self>) {
        if self.sweeping.swap(true, Ordering::Relaxed) {
            return;
        }
        let Ok(rt) = tokio::runtime::Handle::try_current() else {
            self.sweeping.store(false, Ordering::Relaxed);
            return;
        };
        let me: Weak<Self> = Arc::downgrade(self);
        let every = self.idle_timeout / 3;
        rt.spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.tick().await;
            loop {
                tick.tick().await;
                match me.upgrade() {
                    Some(direct) => direct.sweep(),
                    None => return,
                }
            }
        });
    }

    /// Closes the idle connections past their time (outside the lock) and forgets origins
    /// left with none.
    fn sweep(&self) {
        let mut stale = Vec::new();
        {
            let mut idle = self.idle.lock();
            for list in idle.values_mut() {
                let (keep, old) = std::mem::take(list)
                    .into_iter()
                    .partition(|i| i.since.elapsed() < self.idle_timeout);
                *list = keep;
                stale.extend::<Vec<Idle>>(old);
            }
            idle.retain(|_, list| !list.is_empty());
        }
        drop(stale);
    }

    async fn connect(&self, origin: &Origin) -> Result<Box<Link>, DirectError> {
        let made = tokio::time::timeout(self.connect_timeout, self.open(origin)).await;
        let io = match made {
            Ok(opened) => opened,
            Err(_) => Err(DirectError::ConnectTimeout),
        }
        .inspect_err(|e| tracing::debug!(%origin, error = %e, "upstream connection failed"))?;
        let (send, conn) = http1::Builder::new()
            .handshake(TokioIo::new(io))
            .await
            .map_err(DirectError::Http)?;
        // Boxed once per connection: hyper's connection state is about 2 KB, and the link moves
        // between the pool and each answer's body.
        Ok(Box::new(Link {
            send,
            conn: Some(conn),
        }))
    }

    async fn open(
        &self,
        origin: &Origin,
    ) -> Result<Either<TcpStream, TlsStream<TcpStream>>, DirectError> {
        // The connector takes the address only; TLS is added below on the bare TCP stream.
        let target: http::Uri = format!("http://{}:{}", origin.host, origin.port)
            .parse()
            .map_err(|_| DirectError::Url(origin.to_string()))?;
        let tcp = self
            .tcp
            .clone()
            .call(target)
            .await
            // `{:#}` adds the cause (the refusal, the DNS failure); no address is in either.
            .map_err(|e| DirectError::Connect(format!("{e:#}")))?
            .into_inner();
        if !origin.tls {
            return Ok(Either::Left(tcp));
        }
        let bare = origin.host.trim_start_matches('[').trim_end_matches(']');
        let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|e| DirectError::Tls(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| DirectError::Tls(e.to_string()))?;
        Ok(Either::Right(tls))
    }

    /// The same client with another idle timeout, for tests.
    #[cfg(test)]
    fn with_idle_timeout(self: Arc<Self>, idle_timeout: Duration) -> Arc<Self> {
        let mut me = Arc::into_inner(self).expect("not shared yet");
        me.idle_timeout = idle_timeout;
        Arc::new(me)
    }

    /// Idle connections held now, for tests.
    pub fn idle_count(&self) -> usize {
        self.idle.lock().values().map(Vec::len).sum()
    }
}

fn origin(url: &reqwest::Url) -> Result<Origin, DirectError> {
    let tls = match url.scheme() {
        "https" => true,
        "http" => false,
        _ => return Err(DirectError::Url(url.to_string())),
    };
    let host = url
        .host_str()
        .ok_or_else(|| DirectError::Url(url.to_string()))?;
    let port = url
        .port_or_known_default()
        .ok_or_else(|| DirectError::Url(url.to_string()))?;
    Ok(Origin {
        tls,
        host: host.to_owned(),
        port,
    })
}

fn host_header(o: &Origin) -> Result<HeaderValue, DirectError> {
    let default = if o.tls { 443 } else { 80 };
    let text = if o.port == default {
        o.host.clone()
    } else {
        format!("{}:{}", o.host, o.port)
    };
    HeaderValue::from_str(&text).map_err(|_| DirectError::Url(text))
}

/// Host names resolved in-process (hickory, as reqwest's clients do), for the connector.
#[derive(Clone)]
struct Resolver(Dns);

type Addrs = std::vec::IntoIter<SocketAddr>;
type BoxError = Box<dyn std::error::Error + Send + Sync>;

impl Service<Name> for Resolver {
    type Response = Addrs;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Addrs, BoxError>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Self::Future {
        let dns = self.0.clone();
        Box::pin(async move {
            let ips = dns.lookup(name.as_str()).await?;
            // The connector puts the port in.
            let addrs: Vec<SocketAddr> = ips.into_iter().map(|ip| SocketAddr::new(ip, 0)).collect();
            Ok(addrs.into_iter())
        })
    }
}

/// An answer's body. Each poll first drives the connection, so data read from the socket
/// reaches the caller in the same poll. Once the body has ended, the connection goes back to
/// the pool; a body dropped before its end takes the connection with it (its state is
/// unknown). A silence longer than the read timeout ends the body with an error.
pub struct DirectBody {
    body: Incoming,
    link: Option<Box<Link>>,
    home: Option<(Arc<Direct>, Origin)>,
    timer: Pin<Box<Sleep>>,
    /// When the silence runs out. Moved on with every frame; the timer is reset only when it
    /// fires early, so a frame costs a clock read, not a timer update.
    deadline: Instant,
    timeout: Duration,
}

impl Body for DirectBody {
    type Data = Bytes;
    type Error = DirectError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, DirectError>>> {
        let this = &mut *self;
        if let Some(link) = this.link.as_mut() {
            link.drive(cx);
        }
        match Pin::new(&mut this.body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                this.deadline = Instant::now() + this.timeout;
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(Some(Err(e))) => {
                this.link = None;
                Poll::Ready(Some(Err(DirectError::Http(e))))
            }
            Poll::Ready(None) => {
                if let (Some(link), Some((pool, origin))) = (this.link.take(), this.home.take()) {
                    pool.checkin(origin, link);
                }
                Poll::Ready(None)
            }
            Poll::Pending => loop {
                if this.timer.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                if Instant::now() >= this.deadline {
                    this.link = None;
                    return Poll::Ready(Some(Err(DirectError::ReadTimeout(this.timeout))));
                }
                let at = this.deadline;
                this.timer.as_mut().reset(at);
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests;
