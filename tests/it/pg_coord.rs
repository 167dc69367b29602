//! Cross-instance coordination against a real PostgreSQL (the throwaway cluster of
//! `pg_cluster`): pool changes heard by another instance's listener within a second, a lost
//! listener connection coming back with a resync, and refreshes single-flight across pools.
use std::sync::mpsc::{Receiver, Sender, channel};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use gcli2api::store::location::PgUrl;
use gcli2api::store::pg_coord::{self, Envelope, Listener, PoolChange, Resync, Sink};
use gcli2api::store::pg_counters;
use gcli2api::store::postgres::{self as pg, PgError};

use crate::pg_cluster;

fn pg_url(url: &str) -> PgUrl {
    PgUrl::parse(url, "test").unwrap()
}

#[derive(Debug)]
enum Event {
    Change(Envelope),
    Resync(Resync),
    Disconnected,
}

struct ChanSink(Sender<Event>);

impl Sink for ChanSink {
    fn change(&self, envelope: Envelope) {
        let _ = self.0.send(Event::Change(envelope));
    }
    fn resync(&self, why: Resync) {
        let _ = self.0.send(Event::Resync(why));
    }
    fn disconnected(&self, _reason: &str) {
        let _ = self.0.send(Event::Disconnected);
    }
}

/// The next change, skipping resyncs; `None` when none arrives within `within`.
fn next_change(rx: &Receiver<Event>, within: Duration) -> Option<Envelope> {
    let until = Instant::now() + within;
    loop {
        let left = until.checked_duration_since(Instant::now())?;
        match rx.recv_timeout(left) {
            Ok(Event::Change(e)) => return Some(e),
            Ok(_) => {}
            Err(_) => return None,
        }
    }
}

fn wait_for(rx: &Receiver<Event>, within: Duration, want: impl Fn(&Event) -> bool) -> bool {
    let until = Instant::now() + within;
    while let Some(left) = until.checked_duration_since(Instant::now()) {
        match rx.recv_timeout(left) {
            Ok(e) if want(&e) => return true,
            Ok(_) => {}
            Err(_) => return false,
        }
    }
    false
}

fn cooldown(id: i64) -> PoolChange {
    PoolChange::Cooldown {
        credential_id: id,
        scope: "gemini-2.5-pro".into(),
        until_ms: 1_700_000_000_000 + id,
    }
}

fn env(origin: &str, change: PoolChange) -> Envelope {
    Envelope {
        origin: origin.into(),
        change,
    }
}

/// Instance A announces changes; instance B's listener hears each within a second (in
/// practice milliseconds), in order, never its own, never one from a rolled-back
/// transaction, and one from a transaction only once it commits.
#[test]
fn pool_changes_reach_another_instance_within_a_second() {
    let url = pg_url(&pg_cluster::fresh_database("notify"));
    let (tx, rx) = channel();
    let _b = Listener::spawn(
        url.clone(),
        "b".into(),
        Duration::from_secs(60),
        ChanSink(tx),
    )
    .unwrap();
    assert!(
        wait_for(&rx, Duration::from_secs(10), |e| matches!(
            e,
            Event::Resync(Resync::Connected)
        )),
        "the listener connects and asks for a first resync"
    );
    let mut a = pg::connect(&url).unwrap();

    let mut worst = Duration::ZERO;
    for id in 0..20 {
        let sent = Instant::now();
        pg_coord::publish(&mut a, "a", &cooldown(id)).unwrap();
        let got = next_change(&rx, Duration::from_secs(1)).expect("heard within a second");
        worst = worst.max(sent.elapsed());
        assert_eq!(got, env("a", cooldown(id)));
    }
    assert!(worst < Duration::from_secs(1), "worst {worst:?}");

    // Its own changes are already in its view: skipped.
    pg_coord::publish(&mut a, "b", &cooldown(100)).unwrap();
    let ban = PoolChange::Enabled {
        credential_id: 3,
        enabled: false,
    };
    pg_coord::publish(&mut a, "a", &ban).unwrap();
    assert_eq!(
        next_change(&rx, Duration::from_secs(1)),
        Some(env("a", ban))
    );

    // A rolled-back change is never heard.
    let mut t = a.transaction().unwrap();
    pg_coord::publish(&mut t, "a", &cooldown(200)).unwrap();
    t.rollback().unwrap();
    // A change in a transaction is heard at commit, not before.
    let mut t = a.transaction().unwrap();
    let reload = PoolChange::Reload { credential_id: 9 };
    pg_coord::publish(&mut t, "a", &reload).unwrap();
    pg_coord::publish(&mut t, "a", &cooldown(201)).unwrap();
    assert_eq!(next_change(&rx, Duration::from_millis(300)), None);
    t.commit().unwrap();
    assert_eq!(
        next_change(&rx, Duration::from_secs(1)),
        Some(env("a", reload))
    );
    assert_eq!(
        next_change(&rx, Duration::from_secs(1)),
        Some(env("a", cooldown(201)))
    );
}

/// The listener resyncs on its period; when its connection is killed it reports it,
/// reconnects, asks for a resync (what was sent meanwhile is lost) and hears changes again.
#[test]
fn a_lost_listener_connection_comes_back_with_a_resync() {
    let url = pg_url(&pg_cluster::fresh_database("relisten"));
    let (tx, rx) = channel();
    let _b = Listener::spawn(
        url.clone(),
        "b".into(),
        Duration::from_millis(300),
        ChanSink(tx),
    )
    .unwrap();
    assert!(wait_for(&rx, Duration::from_secs(10), |e| matches!(
        e,
        Event::Resync(Resync::Connected)
    )));
    let started = Instant::now();
    for _ in 0..2 {
        assert!(wait_for(&rx, Duration::from_secs(1), |e| matches!(
            e,
            Event::Resync(Resync::Periodic)
        )));
    }
    // Two 300 ms periods, with room for a loaded CI machine.
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );

    let mut admin = pg::connect(&url).unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE application_name = $1 AND datname = current_database()",
            &[&pg_coord::LISTENER_APP],
        )
        .unwrap();
    assert_eq!(killed.len(), 1, "one listener connection");
    assert!(
        wait_for(&rx, Duration::from_secs(3), |e| matches!(
            e,
            Event::Disconnected
        )),
        "the lost connection is noticed"
    );
    assert!(
        wait_for(&rx, Duration::from_secs(3), |e| matches!(
            e,
            Event::Resync(Resync::Connected)
        )),
        "it reconnects and resyncs"
    );
    pg_coord::publish(&mut admin, "a", &cooldown(1)).unwrap();
    assert_eq!(
        next_change(&rx, Duration::from_secs(1)),
        Some(env("a", cooldown(1)))
    );
}

/// Stands in for Google's token endpoint: each refresh token works once and is replaced by a
/// new one, so a second refresh with a spent token fails as it would upstream.
struct Upstream {
    current: Mutex<String>,
    calls: Mutex<u32>,
}

impl Upstream {
    fn refresh(&self, presented: &str) -> Result<(String, String), String> {
        *self.calls.lock().unwrap() += 1;
        // Widen the race: a real refresh takes a round trip.
        std::thread::sleep(Duration::from_millis(100));
        let mut current = self.current.lock().unwrap();
        if *current != presented {
            return Err(format!("invalid_grant: {presented} was already spent"));
        }
        let n: u32 = current[1..].parse().unwrap();
        *current = format!("r{}", n + 1);
        Ok((format!("access-{}", n + 1), current.clone()))
    }
}

/// What each instance runs under the lock: re-read the stored token, refresh only when it is
/// stale, store the rotated refresh token in the same transaction.
fn refresh_once(
    client: &mut postgres::Client,
    id: i64,
    upstream: &Upstream,
) -> Result<(String, bool), PgError> {
    pg_coord::with_refresh_lock(client, id, Duration::from_secs(10), |tx| {
        let payload: String = tx
            .query_one("SELECT payload_json FROM credentials WHERE id = $1", &[&id])?
            .get(0);
        let p: serde_json::Value = serde_json::from_str(&payload).unwrap();
        let now = gcli2api::store::now_ms();
        if p["expiry_ms"].as_i64().unwrap() > now {
            return Ok((p["access_token"].as_str().unwrap().to_string(), false));
        }
        let (access, refresh) = upstream
            .refresh(p["refresh_token"].as_str().unwrap())
            .unwrap_or_else(|e| panic!("a second upstream refresh: {e}"));
        let next = serde_json::json!({
            "refresh_token": refresh,
            "access_token": access,
            "expiry_ms": now + 3_600_000,
        });
        tx.execute(
            "UPDATE credentials SET payload_json = $2 WHERE id = $1",
            &[&id, &next.to_string()],
        )?;
        pg_coord::publish(tx, "x", &PoolChange::Reload { credential_id: id })?;
        Ok((access, true))
    })
}

/// Sixteen callers on two pools (two instances) refresh one expiring credential at once:
/// Google sees exactly one refresh, everyone gets its access token, and the rotated refresh
/// token is what the database keeps, so the next expiry refreshes with it (again once).
#[test]
fn concurrent_refreshes_from_two_instances_reach_upstream_once() {
    let url = pg_url(&pg_cluster::fresh_database("refresh"));
    pg::migrate(&mut pg::connect(&url).unwrap(), &url).unwrap();
    let mut c = pg::connect(&url).unwrap();
    let id: i64 = c
        .query_one(
            "INSERT INTO credentials (name, source, payload_json, created_at, updated_at)
             VALUES ('a.json', 'upload', $1, 0, 0) RETURNING id",
            &[&r#"{"refresh_token":"r0","access_token":"","expiry_ms":0}"#],
        )
        .unwrap()
        .get(0);
    let pools = [
        pg_counters::open_pool(&url, 8).unwrap(),
        pg_counters::open_pool(&url, 8).unwrap(),
    ];
    let upstream = Arc::new(Upstream {
        current: Mutex::new("r0".into()),
        calls: Mutex::new(0),
    });
    for round in 1..=2u32 {
        let barrier = Arc::new(Barrier::new(16));
        let workers: Vec<_> = (0..16)
            .map(|w| {
                let pool = pools[w % 2].clone();
                let (barrier, upstream) = (Arc::clone(&barrier), Arc::clone(&upstream));
                std::thread::spawn(move || {
                    let mut conn = pool.get().unwrap();
                    barrier.wait();
                    refresh_once(&mut conn, id, &upstream).unwrap()
                })
            })
            .collect();
        let results: Vec<(String, bool)> = workers.into_iter().map(|h| h.join().unwrap()).collect();
        assert_eq!(
            *upstream.calls.lock().unwrap(),
            round,
            "one upstream refresh per expiry"
        );
        assert_eq!(results.iter().filter(|r| r.1).count(), 1);
        assert!(
            results.iter().all(|r| r.0 == format!("access-{round}")),
            "{results:?}"
        );
        let stored: String = c
            .query_one("SELECT payload_json FROM credentials WHERE id = $1", &[&id])
            .unwrap()
            .get(0);
        assert!(stored.contains(&format!("\"r{round}\"")), "{stored}");
        // Expire it again for the next round.
        c.execute(
            "UPDATE credentials SET payload_json = jsonb_set(payload_json::jsonb, '{expiry_ms}', '0')::text WHERE id = $1",
            &[&id],
        )
        .unwrap();
    }
}

/// A caller that cannot get the lock within its wait gets a clear error naming the
/// credential, and nothing it would have written lands.
#[test]
fn a_refresh_lock_held_too_long_is_a_clear_error() {
    let url = pg_url(&pg_cluster::fresh_database("lockwait"));
    let mut holder = pg::connect(&url).unwrap();
    let mut waiter = pg::connect(&url).unwrap();
    let (held_tx, held_rx) = channel();
    let (release_tx, release_rx) = channel::<()>();
    let t = std::thread::spawn(move || {
        pg_coord::with_refresh_lock(&mut holder, 42, Duration::from_secs(5), |_| {
            held_tx.send(()).unwrap();
            release_rx.recv_timeout(Duration::from_secs(10)).unwrap();
            Ok::<_, PgError>(())
        })
        .unwrap();
    });
    held_rx.recv_timeout(Duration::from_secs(10)).unwrap();
    let started = Instant::now();
    let e = pg_coord::with_refresh_lock(&mut waiter, 42, Duration::from_millis(200), |_| {
        Ok::<_, PgError>(())
    })
    .unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    let text = e.to_string();
    assert!(
        text.contains("refresh lock of credential 42") && text.contains("lock timeout"),
        "{text}"
    );
    // Another credential is not blocked.
    pg_coord::with_refresh_lock(&mut waiter, 43, Duration::from_millis(200), |_| {
        Ok::<_, PgError>(())
    })
    .unwrap();
    release_tx.send(()).unwrap();
    t.join().unwrap();
    pg_coord::with_refresh_lock(&mut waiter, 42, Duration::from_millis(200), |_| {
        Ok::<_, PgError>(())
    })
    .unwrap();
}

/// Under steady traffic (a change every 10 ms) the listener still resyncs on its period,
/// delivers every change, and stops promptly when dropped.
#[test]
fn steady_traffic_starves_neither_the_resync_nor_the_stop() {
    let url = pg_url(&pg_cluster::fresh_database("steady"));
    let (tx, rx) = channel();
    let b = Listener::spawn(
        url.clone(),
        "b".into(),
        Duration::from_millis(300),
        ChanSink(tx),
    )
    .unwrap();
    assert!(wait_for(&rx, Duration::from_secs(10), |e| matches!(
        e,
        Event::Resync(Resync::Connected)
    )));
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let flag = Arc::clone(&stop);
    let publisher = std::thread::spawn(move || {
        let mut a = pg::connect(&url).unwrap();
        let mut sent = 0;
        while !flag.load(std::sync::atomic::Ordering::Relaxed) {
            pg_coord::publish(&mut a, "a", &cooldown(sent)).unwrap();
            sent += 1;
            std::thread::sleep(Duration::from_millis(10));
        }
        sent
    });
    let started = Instant::now();
    let (mut periodic, mut changes) = (0, 0);
    while started.elapsed() < Duration::from_millis(1500) {
        match rx.recv_timeout(Duration::from_millis(100)) {
            Ok(Event::Resync(Resync::Periodic)) => periodic += 1,
            Ok(Event::Change(_)) => changes += 1,
            _ => {}
        }
    }
    assert!(
        periodic >= 2,
        "{periodic} periodic resyncs in 1.5 s of traffic"
    );
    let dropping = Instant::now();
    drop(b);
    assert!(
        dropping.elapsed() < Duration::from_secs(1),
        "{:?}",
        dropping.elapsed()
    );
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let sent = publisher.join().unwrap();
    while let Ok(e) = rx.try_recv() {
        if matches!(e, Event::Change(_)) {
            changes += 1;
        }
    }
    assert!(changes > 50, "{changes} of {sent} delivered");
}
