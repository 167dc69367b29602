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
use std::future::poll_fn;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::header::{HOST, HeaderMap, HeaderValue};
use http_body::{Body, Frame, SizeHint};
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use parking_lot::Mutex;
use tokio::net::TcpStream;
use tokio::time::Sleep;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_util::either::Either;

use crate::outbound::Dns;

type Io = TokioIo<Either<TcpStream, TlsStream<TcpStream>>>;
type Conn = http1::Connection<Io, Full<Bytes>>;
type Sender = http1::SendRequest<Full<Bytes>>;

/// Idle connections kept per origin, as reqwest kept them.
const MAX_IDLE_PER_ORIGIN: usize = 64;
/// An idle connection older than this is closed rather than reused: servers drop idle
/// connections after a while, and one dropped under us would fail the next request.
const IDLE_TIMEOUT: Duration = Duration::from_secs(90);

#[derive(Debug, thiserror::Error)]
pub enum DirectError {
    #[error("unsupported URL: {0}")]
    Url(String),
    // The upstream's address stays out of these texts, which reach clients; `connect` logs it.
    #[error("cannot resolve the upstream's host name: {0}")]
    Resolve(String),
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
    tls: TlsConnector,
    dns: Dns,
    connect_timeout: Duration,
    read_timeout: Duration,
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
        Arc::new(Self {
            idle: Mutex::default(),
            tls: TlsConnector::from(Arc::new(tls)),
            dns: Dns::default(),
            connect_timeout,
            read_timeout,
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
        // A reused connection the server closed between our check and our write fails before
        // any answer; that request never reached the server, so it is sent once more on a new
        // connection (hyper-util's pool does the same).
        if let Some(link) = self.checkout(&origin) {
            match self.exchange(link, build()?).await {
                Err(DirectError::Http(e)) if e.is_canceled() || e.is_incomplete_message() => {
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
            if i.since.elapsed() < IDLE_TIMEOUT && i.link.usable() {
                return Some(i.link);
            }
        }
        None
    }

    fn checkin(&self, origin: Origin, link: Box<Link>) {
        if link.conn.is_none() || link.send.is_closed() {
            return;
        }
        let mut idle = self.idle.lock();
        let list = idle.entry(origin).or_default();
        list.retain(|i| i.since.elapsed() < IDLE_TIMEOUT);
        if list.len() < MAX_IDLE_PER_ORIGIN {
            list.push(Idle {
                link,
                since: Instant::now(),
            });
        }
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
        let bare = origin.host.trim_start_matches('[').trim_end_matches(']');
        let ips = match bare.parse::<IpAddr>() {
            Ok(ip) => vec![ip],
            Err(_) => self
                .dns
                .lookup(bare)
                .await
                .map_err(|e| DirectError::Resolve(e.to_string()))?,
        };
        let mut last = format!("{bare} has no address");
        let mut tcp = None;
        for ip in ips {
            match TcpStream::connect(SocketAddr::new(ip, origin.port)).await {
                Ok(s) => {
                    tcp = Some(s);
                    break;
                }
                Err(e) => last = e.to_string(),
            }
        }
        let tcp = tcp.ok_or(DirectError::Connect(last))?;
        // Requests are written whole; Nagle would only hold the last segment back.
        let _ = tcp.set_nodelay(true);
        if !origin.tls {
            return Ok(Either::Left(tcp));
        }
        let name = rustls::pki_types::ServerName::try_from(bare.to_owned())
            .map_err(|e| DirectError::Tls(e.to_string()))?;
        let tls = self
            .tls
            .connect(name, tcp)
            .await
            .map_err(|e| DirectError::Tls(e.to_string()))?;
        Ok(Either::Right(tls))
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
                let at = tokio::time::Instant::from_std(this.deadline);
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
