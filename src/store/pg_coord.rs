//! Cross-instance coordination on PostgreSQL: pool changes announced with `NOTIFY` and heard
//! by every other instance's listener (with a periodic resync, since a notification sent while
//! a listener was reconnecting is gone for good), and a per-credential advisory lock so that
//! instances sharing one database refresh a credential's token one at a time.
//!
//! The pool service uses them on a PostgreSQL store (`pool::service::coord`). Proven against a
//! real server by `tests/it/pg_coord.rs`, `tests/it/pg_pool.rs` and, with whole gateways,
//! `tests/it/pg_instances.rs`.
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use postgres::fallible_iterator::FallibleIterator;
use serde::{Deserialize, Serialize};

use super::location::PgUrl;
use super::postgres::{PgError, describe};

/// The `LISTEN`/`NOTIFY` channel of pool changes.
pub const CHANNEL: &str = "gcli2api_pool";

/// `application_name` of a listener's connection (operators can tell it apart in
/// `pg_stat_activity`; the tests terminate it by this name to simulate a lost connection).
pub const LISTENER_APP: &str = "gcli2api-listener";

/// First key of the two-key advisory lock taken around a credential's refresh ("gcli" read as
/// 4 ASCII bytes); the second key is the credential id. The migration lock uses the one-key
/// form, which lives in a separate key space, so the two never collide.
const REFRESH_LOCK_NS: i32 = 0x6763_6c69;

/// How long the listener waits for a server before trying again, and at most between tries.
const LISTENER_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const LISTENER_RETRY_MAX: Duration = Duration::from_secs(1);

/// How often the listener thread wakes to check whether it should stop.
const STOP_POLL: Duration = Duration::from_millis(100);

/// A change to shared pool state, written by one instance and applied by the others to their
/// in-memory views. Small on purpose: a notification payload must stay under 8000 bytes, and
/// for anything bigger than a flag or a deadline the receiver reloads the credential's row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum PoolChange {
    /// A credential (or one of its models, named by `scope`) cools down until `until_ms`.
    Cooldown {
        credential_id: i64,
        scope: String,
        until_ms: i64,
    },
    /// A credential was enabled or disabled (a ban disables it).
    Enabled { credential_id: i64, enabled: bool },
    /// Anything else about the credential changed (its stored state, token, or the row was
    /// added or removed): reload its row.
    Reload { credential_id: i64 },
}

/// A `PoolChange` with the instance that made it, so an instance can skip its own.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope {
    pub origin: String,
    #[serde(flatten)]
    pub change: PoolChange,
}

/// Announces `change` on `client`. Inside a transaction the notification is delivered at
/// commit and dropped on rollback, so the others never hear of a change that did not land:
/// call it in the transaction that writes the change.
pub fn publish(
    client: &mut impl postgres::GenericClient,
    origin: &str,
    change: &PoolChange,
) -> Result<(), PgError> {
    let payload = serde_json::to_string(&Envelope {
        origin: origin.to_string(),
        change: change.clone(),
    })
    .map_err(|e| PgError::Payload(e.to_string()))?;
    client.execute("SELECT pg_notify($1, $2)", &[&CHANNEL, &payload])?;
    Ok(())
}

/// Why the listener asks its sink to resync the whole view from the database.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resync {
    /// The listener has just (re)connected: notifications sent before this were missed.
    Connected,
    /// The periodic fallback.
    Periodic,
}

/// What a listener delivers to: called on the listener's own thread, so keep it short (apply
/// to the in-memory view, or hand off to a task).
pub trait Sink: Send + 'static {
    fn change(&self, envelope: Envelope);
    fn resync(&self, why: Resync);
    /// The listener lost its connection (or cannot get one); it keeps retrying.
    fn disconnected(&self, reason: &str) {
        let _ = reason;
    }
}

/// A running listener; dropping it stops the thread.
pub struct Listener {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Listener {
    /// Starts a thread that listens on `CHANNEL` with its own connection, delivers every
    /// change not made by `origin`, asks for a resync after every (re)connect and every
    /// `resync_every`, and reconnects after a lost connection.
    pub fn spawn(
        url: PgUrl,
        origin: String,
        resync_every: Duration,
        sink: impl Sink,
    ) -> std::io::Result<Listener> {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("pg-listener".into())
            .spawn(move || listen(&url, &origin, resync_every, &sink, &flag))?;
        Ok(Listener {
            stop,
            thread: Some(thread),
        })
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn listen(url: &PgUrl, origin: &str, resync_every: Duration, sink: &impl Sink, stop: &AtomicBool) {
    let mut backoff = Duration::from_millis(50);
    while !stop.load(Ordering::Relaxed) {
        let reason = match connect_and_listen(url) {
            Ok(mut client) => {
                backoff = Duration::from_millis(50);
                sink.resync(Resync::Connected);
                serve(&mut client, origin, resync_every, sink, stop)
            }
            Err(reason) => reason,
        };
        if stop.load(Ordering::Relaxed) {
            return;
        }
        tracing::warn!(url = %url, reason = %reason, "PostgreSQL listener disconnected; reconnecting");
        sink.disconnected(&reason);
        let until = Instant::now() + backoff;
        while Instant::now() < until && !stop.load(Ordering::Relaxed) {
            std::thread::sleep(STOP_POLL.min(until.saturating_duration_since(Instant::now())));
        }
        backoff = (backoff * 2).min(LISTENER_RETRY_MAX);
    }
}

fn connect_and_listen(url: &PgUrl) -> Result<postgres::Client, String> {
    let mut config = url.config();
    config.connect_timeout(LISTENER_CONNECT_TIMEOUT);
    config.application_name(LISTENER_APP);
    let mut client = config.connect(postgres::NoTls).map_err(|e| describe(&e))?;
    client
        .batch_execute(&format!("LISTEN {CHANNEL}"))
        .map_err(|e| describe(&e))?;
    Ok(client)
}

/// Delivers notifications until the connection fails (returns why) or `stop` is set.
fn serve(
    client: &mut postgres::Client,
    origin: &str,
    resync_every: Duration,
    sink: &impl Sink,
    stop: &AtomicBool,
) -> String {
    let mut last_resync = Instant::now();
    loop {
        if stop.load(Ordering::Relaxed) {
            return "stopped".into();
        }
        let wait = STOP_POLL.min(resync_every);
        {
            // The iterator's timeout restarts with every notification, so under steady traffic
            // it would never end: the round is bounded here, keeping the stop check and the
            // periodic resync on time.
            let round = Instant::now();
            let mut notifications = client.notifications();
            let mut iter = notifications.timeout_iter(wait);
            while round.elapsed() < wait {
                match iter.next() {
                    Ok(Some(n)) => match serde_json::from_str::<Envelope>(n.payload()) {
                        Ok(env) if env.origin == origin => {}
                        Ok(env) => sink.change(env),
                        Err(e) => {
                            tracing::warn!(error = %e, "ignoring an unreadable pool notification")
                        }
                    },
                    Ok(None) => break,
                    Err(e) => return describe(&e),
                }
            }
        }
        if client.is_closed() {
            return "connection closed".into();
        }
        if last_resync.elapsed() >= resync_every {
            last_resync = Instant::now();
            sink.resync(Resync::Periodic);
        }
    }
}

/// Runs `f` in a transaction holding the credential's refresh lock: instances sharing the
/// database run it one at a time per credential, waiting at most `wait` for the lock. `f`
/// must re-read the stored token first and refresh only when it is still stale (the instance
/// before may just have refreshed it), and write a rotated token in the same transaction, so
/// the next holder reads it.
pub fn with_refresh_lock<T, E>(
    client: &mut postgres::Client,
    credential_id: i64,
    wait: Duration,
    f: impl FnOnce(&mut postgres::Transaction<'_>) -> Result<T, E>,
) -> Result<T, E>
where
    E: From<PgError>,
{
    let mut tx = client.transaction().map_err(PgError::from)?;
    // A lock timeout is an ordinary statement error; SET cannot take a parameter.
    tx.batch_execute(&format!(
        "SET LOCAL lock_timeout = {}",
        wait.as_millis().max(1)
    ))
    .map_err(PgError::from)?;
    tx.execute(
        "SELECT pg_advisory_xact_lock($1, $2)",
        &[&REFRESH_LOCK_NS, &lock_key(credential_id)],
    )
    .map_err(|e| PgError::Lock {
        credential_id,
        reason: describe(&e),
    })?;
    let out = f(&mut tx)?;
    tx.commit().map_err(PgError::from)?;
    Ok(out)
}

/// The second advisory-lock key of a credential: its id folded into 32 bits. Two ids that
/// fold alike only share a lock (one waits for the other), which is safe.
fn lock_key(credential_id: i64) -> i32 {
    let folded = (credential_id ^ (credential_id >> 32)) & 0xffff_ffff;
    i32::from_ne_bytes((folded as u32).to_ne_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn changes_travel_as_small_tagged_json() {
        let env = Envelope {
            origin: "a1".into(),
            change: PoolChange::Cooldown {
                credential_id: 7,
                scope: "gemini-2.5-pro".into(),
                until_ms: 1_700_000_000_000,
            },
        };
        let text = serde_json::to_string(&env).unwrap();
        assert_eq!(
            text,
            r#"{"origin":"a1","kind":"cooldown","credential_id":7,"scope":"gemini-2.5-pro","until_ms":1700000000000}"#
        );
        assert_eq!(serde_json::from_str::<Envelope>(&text).unwrap(), env);
    }

    #[test]
    fn lock_keys_fold_ids_into_32_bits() {
        assert_eq!(lock_key(7), 7);
        assert_eq!(lock_key(-1), 0);
        assert_ne!(lock_key(1 << 33), lock_key(1 << 34));
        assert_eq!(lock_key(0xffff_ffff), -1);
    }
}
