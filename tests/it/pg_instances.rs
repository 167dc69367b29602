//! Several gateway instances on one PostgreSQL database: the guarantees the shared store gives.
//!
//! Each instance is a whole gateway (`gcli2api::build` + `serve` on its own port and data
//! directory) in front of one simulator; they share nothing but the database URL, as separate
//! hosts behind a load balancer would.
use std::time::{Duration, Instant};

use gcli2api::simulator::{Endpoint, Fault, FaultMatch, FaultRule, SimHandle, UserSpec};
use serde_json::{Value, json};

use crate::pg_cluster::{Private, fresh_database};
use crate::support::{KEY, TestApp, builder, user_text};

fn ask(i: usize) -> Value {
    json!({"model": "gemini-2.5-flash", "messages": [user_text(&format!("instance test {i}"))]})
}

/// A second (third, ...) instance on the same database: it loads the pool from the database
/// and seeds nothing.
async fn another(sim: &SimHandle, url: &str) -> TestApp {
    builder()
        .reuse_sim(sim.clone())
        .no_users()
        .env("DATABASE_URL", url)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await
}

/// `n` chats at once, alternating between the two instances; their statuses.
async fn chats_on_both(a: &TestApp, b: &TestApp, n: usize) -> Vec<u16> {
    let tasks: Vec<_> = (0..n)
        .map(|i| {
            let app = if i % 2 == 0 { a } else { b };
            let (http, base) = (app.http.clone(), app.url.clone());
            tokio::spawn(async move {
                http.post(format!("{base}/v1/chat/completions"))
                    .bearer_auth(KEY)
                    .json(&ask(i))
                    .send()
                    .await
                    .map(|r| r.status().as_u16())
                    .unwrap_or(0)
            })
        })
        .collect();
    let mut out = Vec::with_capacity(n);
    for t in tasks {
        out.push(t.await.unwrap_or(0));
    }
    out
}

async fn post_chat(app: &TestApp, i: usize) -> u16 {
    app.http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(KEY)
        .json(&ask(i))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Upstream calls and today's quota use, summed over every credential, as an instance that
/// starts now reads them from the database.
async fn counted_in_database(sim: &SimHandle, url: &str) -> (u64, u64) {
    let fresh = another(sim, url).await;
    let stats = fresh.state.usage.all_stats();
    let calls = stats.iter().map(|(_, s)| s.calls).sum();
    let used = stats.iter().map(|(_, s)| s.today.total.used).sum();
    fresh.stop().await;
    (calls, used)
}

#[tokio::test]
async fn two_instances_count_400_concurrent_requests_exactly() {
    let url = fresh_database("two_instances_count");
    let a = builder()
        .users(4)
        .env("DATABASE_URL", &url)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let b = another(&a.sim, &url).await;
    assert_eq!(
        b.state.pool.state(a.ids[3]).map(|_| ()),
        Some(()),
        "B loaded the credentials A added"
    );
    for status in chats_on_both(&a, &b, 400).await {
        assert_eq!(status, 200);
    }
    assert_eq!(a.generation_requests().len(), 400);
    a.state.usage.flush().await.expect("A flushes");
    b.state.usage.flush().await.expect("B flushes");
    // Each instance adopts the shared quota use when it flushes, so its in-memory quota check
    // sees the other instance's calls.
    a.state.usage.flush().await.expect("A flushes again");
    let a_used: u64 = a
        .state
        .usage
        .all_stats()
        .iter()
        .map(|(_, s)| s.today.total.used)
        .sum();
    assert_eq!(a_used, 400, "A's quota view holds both instances' calls");
    assert_eq!(counted_in_database(&a.sim, &url).await, (400, 400));
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_cooldown_seen_by_one_instance_is_honoured_by_the_other_within_a_second() {
    let url = fresh_database("two_instances_cooldown");
    let a = builder()
        .users(3)
        .env("DATABASE_URL", &url)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let b = another(&a.sim, &url).await;
    let first = a.users[0].email.clone();
    a.sim.push_fault(FaultRule::new(
        FaultMatch::endpoint(Endpoint::GenerateContent).email(&first),
        1,
        Fault::RateLimitExceeded {
            retry_delay_ms: 60_000,
        },
    ));
    // A meets the 429 on the first credential and moves on.
    let mut met = false;
    for i in 0..3 {
        assert_eq!(post_chat(&a, i).await, 200);
        let st = a.state.pool.state(a.ids[0]).unwrap();
        if st.cooldowns.contains_key("gemini-2.5-flash") {
            met = true;
            break;
        }
    }
    assert!(met, "A cooled the first credential");
    let seen = Instant::now();
    loop {
        let st = b.state.pool.state(a.ids[0]).unwrap();
        if st.cooldowns.contains_key("gemini-2.5-flash") {
            break;
        }
        assert!(
            seen.elapsed() < Duration::from_secs(1),
            "B did not see A's cooldown within a second: {st:?}"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // And B routes around it.
    a.sim.reset();
    for i in 0..6 {
        assert_eq!(post_chat(&b, i).await, 200);
    }
    let on_first = a
        .generation_requests()
        .iter()
        .filter(|r| r.email.as_deref() == Some(first.as_str()))
        .count();
    assert_eq!(on_first, 0, "B sent nothing to the cooling credential");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn two_instances_needing_a_new_token_for_one_credential_refresh_it_once() {
    let url = fresh_database("two_instances_refresh");
    let email = "shared-token@sim.test";
    let a = builder()
        .user(UserSpec::new(email).rotate_refresh_token(true))
        .env("DATABASE_URL", &url)
        .spawn()
        .await;
    let b = another(&a.sim, &url).await;
    // Both instances hold the access token, then Google stops taking it: each instance's
    // next requests get a 401 and need a new token.
    assert_eq!(post_chat(&a, 0).await, 200);
    assert_eq!(post_chat(&b, 1).await, 200);
    let before = a.token_requests(email).len();
    a.sim.expire_access_tokens(email);
    for status in chats_on_both(&a, &b, 20).await {
        assert_eq!(status, 200);
    }
    assert_eq!(
        a.token_requests(email).len() - before,
        1,
        "exactly one refresh upstream for both instances"
    );
    // The rotated refresh token is what the database keeps: an instance that starts now
    // refreshes with it (the old one no longer works upstream).
    // A rotated token the database could not take at once (a busy machine) is written by a
    // background retry: wait for it, as an operator starting a third instance later would.
    let written = within(Duration::from_secs(10), || async {
        a.state.pool.unsaved_tokens() == 0 && b.state.pool.unsaved_tokens() == 0
    })
    .await;
    assert!(
        written.is_some(),
        "the rotated refresh token never reached the database"
    );
    let id = a.ids[0];
    let stored = a
        .state
        .store
        .run(move |db| gcli2api::store::credentials::get(db, id))
        .await
        .unwrap()
        .map(|r| r.payload["refresh_token"].clone());
    let current = a
        .sim
        .users()
        .into_iter()
        .find(|u| u.email == email)
        .map(|u| json!(u.refresh_token));
    assert_eq!(
        stored, current,
        "the database holds Google's current refresh token"
    );
    a.sim.expire_access_tokens(email);
    let c = another(&a.sim, &url).await;
    let (status, body) = c.chat(ask(99)).await;
    let st = c.state.pool.state(id);
    assert_eq!(
        status,
        200,
        "the kept refresh token works: {body}; refreshes upstream {}, state {st:?}",
        a.token_requests(email).len()
    );
    c.stop().await;
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_database_restart_mid_load_loses_no_counted_request() {
    let cluster = Private::start();
    let url = cluster.url();
    let a = builder()
        .users(3)
        .env("DATABASE_URL", &url)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let b = another(&a.sim, &url).await;
    let mut ok = 0u64;
    for i in 0..60 {
        if i == 20 {
            cluster.stop();
            // The outage shows on /healthz at once (the pool's listener lost its link), before
            // any flush has failed.
            let took = within(Duration::from_secs(3), || async {
                healthz(&b).await == 503
            })
            .await;
            assert!(
                took.is_some(),
                "B's /healthz still says ok with the database down"
            );
        }
        if i == 39 {
            assert!(
                a.state.usage.flush().await.is_err(),
                "no database, no flush"
            );
            assert_eq!(healthz(&a).await, 503);
        }
        if i == 40 {
            cluster.start_again();
        }
        let app = if i % 2 == 0 { &a } else { &b };
        if post_chat(app, i).await == 200 {
            ok += 1;
        }
    }
    assert_eq!(ok, 60, "requests are served from memory through the outage");
    // Counts buffered during the outage reach the database once it is back.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let fa = a.state.usage.flush().await;
        let fb = b.state.usage.flush().await;
        if fa.is_ok() && fb.is_ok() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "flush after the restart: {fa:?} {fb:?}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let took = within(Duration::from_secs(5), || async {
        healthz(&a).await == 200 && healthz(&b).await == 200
    })
    .await;
    assert!(
        took.is_some(),
        "healthy again once the listener and a flush are back"
    );
    // Nothing lost; a flush cut off in its COMMIT may count twice (see the README).
    let (calls, used) = counted_in_database(&a.sim, &url).await;
    assert!(
        calls >= 60 && used >= 60,
        "{calls} calls, {used} used of 60"
    );
    b.stop().await;
    a.stop().await;
}

async fn healthz(app: &TestApp) -> u16 {
    app.http
        .get(format!("{}/healthz", app.url))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

async fn status_with_key(app: &TestApp, key: &str) -> u16 {
    app.http
        .post(format!("{}/v1/chat/completions", app.url))
        .bearer_auth(key)
        .json(&ask(0))
        .send()
        .await
        .map(|r| r.status().as_u16())
        .unwrap_or(0)
}

/// Polls `f` until it returns true, for at most `limit`; returns how long it took.
async fn within<F, Fut>(limit: Duration, mut f: F) -> Option<Duration>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let start = Instant::now();
    while start.elapsed() < limit {
        if f().await {
            return Some(start.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    None
}

#[tokio::test]
async fn a_client_key_made_or_revoked_on_one_instance_counts_on_the_other() {
    let url = fresh_database("two_instances_keys");
    let a = builder().users(1).env("DATABASE_URL", &url).spawn().await;
    let b = another(&a.sim, &url).await;
    let fields = gcli2api::store::client_keys::KeyFields {
        enabled: true,
        ..Default::default()
    };
    let (key, secret) = a
        .state
        .keys
        .create("shared".into(), fields)
        .await
        .expect("A creates a key");
    assert_eq!(status_with_key(&a, &secret).await, 200);
    let took = within(Duration::from_secs(3), || async {
        status_with_key(&b, &secret).await == 200
    })
    .await;
    assert!(took.is_some(), "B never accepted the key A made");
    a.state.keys.delete(key.id).await.expect("A revokes it");
    // Refused: 401, or 429 once the wrong-key lockout (which counts the polls) kicks in.
    let took = within(Duration::from_secs(3), || async {
        matches!(status_with_key(&b, &secret).await, 401 | 429)
    })
    .await;
    assert!(
        took.is_some(),
        "B still accepts the key A revoked: {}",
        status_with_key(&b, &secret).await
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_setting_or_password_saved_on_one_instance_holds_on_the_other() {
    use gcli2api::settings::passwords::PasswordKind;
    let url = fresh_database("two_instances_settings");
    let a = builder().users(1).env("DATABASE_URL", &url).spawn().await;
    let b = another(&a.sim, &url).await;
    assert!(!b.state.settings.get().compatibility_mode);
    a.state
        .settings
        .update(vec![("compatibility_mode".into(), json!(true))])
        .await
        .expect("A saves a hot setting");
    let took = within(Duration::from_secs(3), || async {
        b.state.settings.get().compatibility_mode
    })
    .await;
    assert!(took.is_some(), "B never applied the setting A saved");

    assert!(b.state.passwords.verify_panel(KEY).await);
    a.state
        .passwords
        .set(PasswordKind::Panel, "a-new-panel-password-42")
        .await
        .expect("A sets a panel password");
    let took = within(Duration::from_secs(3), || async {
        b.state
            .passwords
            .verify_panel("a-new-panel-password-42")
            .await
            && !b.state.passwords.verify_panel(KEY).await
    })
    .await;
    assert!(took.is_some(), "B still takes the old panel password");
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn the_backup_download_says_to_use_pg_dump_on_a_shared_database() {
    let url = fresh_database("backup_download");
    let a = builder().users(1).env("DATABASE_URL", &url).spawn().await;
    let r = a
        .http
        .get(format!("{}/api/v1/system/backup", a.url))
        .bearer_auth(KEY)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"]["code"], "unavailable", "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .unwrap_or("")
            .contains("pg_dump"),
        "{body}"
    );
    a.stop().await;
}

#[tokio::test]
async fn a_client_keys_daily_limit_holds_across_instances() {
    let url = fresh_database("two_instances_key_limit");
    let a = builder().users(2).env("DATABASE_URL", &url).spawn().await;
    let b = another(&a.sim, &url).await;
    let fields = gcli2api::store::client_keys::KeyFields {
        enabled: true,
        daily_requests: 4,
        ..Default::default()
    };
    let (_key, secret) = a
        .state
        .keys
        .create("limited".into(), fields)
        .await
        .expect("A creates a key");
    let took = within(Duration::from_secs(3), || async {
        status_with_key(&b, &secret).await == 200
    })
    .await;
    assert!(took.is_some(), "B never accepted the key A made");
    // One on B so far; two more on A and one on A again: four in all.
    for _ in 0..3 {
        assert_eq!(status_with_key(&a, &secret).await, 200);
    }
    // Once both have flushed and re-read (each does so every second on its own; done here at
    // once), the fifth is refused on either instance, though each counted fewer than four.
    a.state.usage.flush().await.expect("A flushes");
    b.state.usage.flush().await.expect("B flushes");
    a.state.keys.resync().await.expect("A re-reads");
    b.state.keys.resync().await.expect("B re-reads");
    assert_eq!(
        status_with_key(&b, &secret).await,
        429,
        "B let the key past its daily limit of 4"
    );
    assert_eq!(status_with_key(&a, &secret).await, 429);
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn two_instances_refreshing_one_expiring_credential_at_once_refresh_it_once() {
    let url = fresh_database("two_instances_expiring");
    let email = "expiring@sim.test";
    let a = builder().no_users().env("DATABASE_URL", &url).spawn().await;
    // Google's token is good for an hour, but the stored one says it expires in a minute:
    // every instance that uses it refreshes first (under five minutes left).
    let mut u = a
        .sim
        .add_user(UserSpec::new(email).rotate_refresh_token(true));
    u.expiry = chrono::Utc::now() + chrono::Duration::seconds(60);
    a.state
        .pool
        .add(crate::support::new_credential("expiring.json", &u))
        .await
        .expect("A adds the credential");
    let b = another(&a.sim, &url).await;
    let before = a.token_requests(email).len();
    assert_eq!(before, 0, "nothing refreshed before the requests");
    for status in chats_on_both(&a, &b, 20).await {
        assert_eq!(status, 200);
    }
    assert_eq!(
        a.token_requests(email).len(),
        1,
        "both instances found the credential expiring; one refresh upstream"
    );
    b.stop().await;
    a.stop().await;
}
