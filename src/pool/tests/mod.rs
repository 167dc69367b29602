//! Behaviour of the whole pool, driven through its public API with a manual clock.
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, TimeDelta, Utc};

use super::*;

mod props;

const PRO: &str = "gemini-2.5-pro";
const FLASH: &str = "gemini-2.5-flash";
const PREVIEW: &str = "gemini-3.1-pro-preview";

fn t0() -> DateTime<Utc> {
    DateTime::parse_from_rfc3339("2025-10-20T12:00:00Z")
        .expect("time")
        .with_timezone(&Utc)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

fn setup(n: i64, cfg: PoolConfig) -> (Pool, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(t0()));
    let mut pool = Pool::new(cfg, clock.clone());
    for id in 1..=n {
        pool.upsert(id, CredentialState::default());
    }
    (pool, clock)
}

fn pick(pool: &mut Pool, model: &str) -> Result<CredId, Unavailable> {
    pool.pick(model, model_class(model), &[], &NoQuota)
        .map(|l| l.id)
}

fn picks(pool: &mut Pool, model: &str, n: usize) -> Vec<CredId> {
    (0..n)
        .map(|_| pick(pool, model).expect("a credential"))
        .collect()
}

fn rate_limited(pool: &mut Pool, id: CredId, model: &str, after: u64) -> Reaction {
    pool.record_failure(
        id,
        model,
        429,
        "RATE_LIMIT_EXCEEDED",
        Failure::RateLimited {
            retry_after: Some(secs(after)),
        },
    )
    .reaction
}

#[test]
fn model_classes() {
    assert_eq!(model_class("gemini-2.5-pro"), ModelClass::Pro);
    assert_eq!(model_class("gemini-3.1-pro-preview"), ModelClass::Pro);
    assert_eq!(model_class("gemini-2.5-flash"), ModelClass::Flash);
    assert_eq!(model_class("gemini-3.1-flash-lite"), ModelClass::Flash);
    assert_eq!(model_class("gemini-embedding-001"), ModelClass::Other);
    assert_eq!(model_class("gemini-proxima"), ModelClass::Other);
}

#[test]
fn rotation_every_call() {
    let (mut pool, _) = setup(3, PoolConfig::default());
    assert_eq!(picks(&mut pool, PRO, 7), vec![1, 2, 3, 1, 2, 3, 1]);
}

#[test]
fn rotation_every_three_calls() {
    let cfg = PoolConfig {
        calls_per_rotation: 3,
        ..PoolConfig::default()
    };
    let (mut pool, _) = setup(3, cfg);
    assert_eq!(
        picks(&mut pool, PRO, 10),
        vec![1, 1, 1, 2, 2, 2, 3, 3, 3, 1]
    );
    // Rotation is one cursor across models.
    assert_eq!(picks(&mut pool, FLASH, 3), vec![1, 1, 2]);
}

#[test]
fn cooldown_skips_only_that_model_until_it_expires() {
    let (mut pool, clock) = setup(2, PoolConfig::default());
    assert_eq!(rate_limited(&mut pool, 1, PRO, 30), Reaction::TryAnother);
    assert_eq!(picks(&mut pool, PRO, 3), vec![2, 2, 2]);
    assert_eq!(picks(&mut pool, FLASH, 2), vec![1, 2]);
    clock.advance(secs(29));
    assert_eq!(picks(&mut pool, PRO, 2), vec![2, 2]);
    clock.advance(secs(1));
    assert_eq!(picks(&mut pool, PRO, 2), vec![1, 2]);
    // The expired entry is gone from the exported state.
    let s = pool.state(1).expect("state");
    assert!(s.cooldowns.is_empty());
    assert_eq!(s.errors[&429].count, 1);
}

#[test]
fn success_clears_the_cooldown_and_streak() {
    let (mut pool, _) = setup(1, PoolConfig::default());
    assert_eq!(pool.record_success(1, PRO), None, "nothing to heal");
    rate_limited(&mut pool, 1, PRO, 30);
    assert!(pick(&mut pool, PRO).is_err());
    let change = pool.record_success(1, PRO).expect("healed");
    assert_eq!(change.id, 1);
    assert!(change.state.cooldowns.is_empty());
    assert_eq!(change.state.error_streak, 0);
    assert_eq!(change.state.successes, 2);
    assert_eq!(pick(&mut pool, PRO).ok(), Some(1));
}

fn quota_cap_pool() -> (Pool, Arc<ManualClock>) {
    let cfg = PoolConfig {
        cooldown_cap: secs(60),
        probe_lease: secs(120),
        ..PoolConfig::default()
    };
    let (mut pool, clock) = setup(1, cfg);
    let reset = t0() + TimeDelta::hours(30);
    let out = pool.record_failure(
        1,
        PRO,
        429,
        "QUOTA_EXHAUSTED",
        Failure::QuotaExhausted {
            until: Some(reset),
            after: None,
        },
    );
    assert_eq!(out.reaction, Reaction::TryAnother);
    let c = &out.change.expect("change").state.cooldowns[PRO];
    assert_eq!(c.until, t0() + TimeDelta::seconds(60));
    assert_eq!(c.reset_at, Some(reset));
    (pool, clock)
}

#[test]
fn exactly_one_probe_at_the_cap() {
    let (mut pool, clock) = quota_cap_pool();
    clock.advance(secs(59));
    assert!(pick(&mut pool, PRO).is_err());
    clock.advance(secs(1));
    let probe = pool
        .pick(PRO, ModelClass::Pro, &[], &NoQuota)
        .expect("probe");
    assert!(probe.probe);
    // A second, concurrent pick still skips it.
    let second = pick(&mut pool, PRO).expect_err("only one probe");
    assert_eq!(second.cooling, 1);
    // Fails again: cooled again, up to the cap from now.
    let out = pool.record_failure(
        1,
        PRO,
        429,
        "QUOTA_EXHAUSTED",
        Failure::QuotaExhausted {
            until: Some(t0() + TimeDelta::hours(30)),
            after: None,
        },
    );
    let c = out.change.expect("change").state.cooldowns[PRO].clone();
    assert_eq!(c.until, clock.now() + TimeDelta::seconds(60));
    assert!(c.probe_pending);
    drop(probe);
    clock.advance(secs(60));
    let probe = pool
        .pick(PRO, ModelClass::Pro, &[], &NoQuota)
        .expect("probe 2");
    assert!(probe.probe);
    // The probe works: the credential is healthy again and no longer a probe.
    pool.record_success(1, PRO).expect("healed");
    let next = pool
        .pick(PRO, ModelClass::Pro, &[], &NoQuota)
        .expect("healthy");
    assert!(!next.probe);
}

#[test]
fn a_lost_probe_is_retried_after_the_probe_lease() {
    let (mut pool, clock) = quota_cap_pool();
    clock.advance(secs(60));
    let probe = pool
        .pick(PRO, ModelClass::Pro, &[], &NoQuota)
        .expect("probe");
    drop(probe); // outcome never reported
    clock.advance(secs(119));
    assert!(pick(&mut pool, PRO).is_err());
    clock.advance(secs(1));
    assert!(
        pool.pick(PRO, ModelClass::Pro, &[], &NoQuota)
            .expect("again")
            .probe
    );
}

#[test]
fn lowering_the_cap_frees_latched_credentials() {
    let (mut pool, clock) = setup(1, PoolConfig::default());
    pool.record_failure(
        1,
        PRO,
        429,
        "",
        Failure::QuotaExhausted {
            until: None,
            after: Some(secs(50 * 60)),
        },
    );
    let changes = pool.set_config(PoolConfig {
        cooldown_cap: secs(300),
        ..PoolConfig::default()
    });
    assert_eq!(changes.len(), 1);
    let c = &changes[0].state.cooldowns[PRO];
    assert_eq!(c.until, t0() + TimeDelta::seconds(300));
    assert!(c.probe_pending);
    clock.advance(secs(300));
    assert!(
        pool.pick(PRO, ModelClass::Pro, &[], &NoQuota)
            .expect("probe")
            .probe
    );
}

#[test]
fn ban_and_unban() {
    let cfg = PoolConfig {
        auto_ban: true,
        ..PoolConfig::default()
    };
    let (mut pool, _) = setup(2, cfg);
    let out = pool.record_failure(
        1,
        PRO,
        403,
        "{\"error\":{\"status\":\"PERMISSION_DENIED\"}}",
        Failure::Forbidden {
            status: 403,
            reason: "VALIDATION_REQUIRED".into(),
            link: Some("https://example.invalid/verify".into()),
        },
    );
    assert_eq!(out.reaction, Reaction::TryAnother);
    let ban = out.change.expect("change").state.ban.expect("banned");
    assert_eq!((ban.kind, ban.status), (BanKind::AutoBan, Some(403)));
    assert_eq!(ban.reason, "VALIDATION_REQUIRED");
    assert_eq!(ban.link.as_deref(), Some("https://example.invalid/verify"));
    assert_eq!(picks(&mut pool, FLASH, 3), vec![2, 2, 2]);
    assert_eq!(pool.summary().banned, 1);
    // The manual switch does not lift a ban.
    pool.set_enabled(1, true).expect("known");
    assert_eq!(picks(&mut pool, FLASH, 2), vec![2, 2]);
    let cleared = pool.clear_errors_and_unban(1).expect("known").state;
    assert!(cleared.ban.is_none() && cleared.errors.is_empty());
    assert_eq!(picks(&mut pool, FLASH, 2), vec![1, 2]);
    assert_eq!(pool.summary().banned, 0);
}

#[test]
fn permanent_refresh_failure_bans_even_without_auto_ban() {
    let (mut pool, _) = setup(2, PoolConfig::default());
    let out = pool.record_failure(
        1,
        PRO,
        400,
        "invalid_grant",
        Failure::AuthFailed {
            permanent: true,
            reason: "invalid_grant".into(),
        },
    );
    assert_eq!(out.reaction, Reaction::TryAnother);
    assert_eq!(picks(&mut pool, PRO, 2), vec![2, 2]);
    let ban = pool.state(1).and_then(|s| s.ban).expect("banned");
    assert_eq!(ban.kind, BanKind::RefreshRevoked);
}

#[test]
fn manual_disable_and_enable() {
    let (mut pool, _) = setup(3, PoolConfig::default());
    pool.set_enabled(2, false).expect("known");
    assert_eq!(picks(&mut pool, PRO, 4), vec![1, 3, 1, 3]);
    assert_eq!(pool.summary().disabled, 1);
    pool.set_enabled(2, true).expect("known");
    assert_eq!(picks(&mut pool, PRO, 3), vec![1, 2, 3]);
    assert!(pool.set_enabled(99, false).is_none());
}

#[test]
fn over_quota_is_skipped_for_pro_but_not_flash() {
    let (mut pool, clock) = setup(2, PoolConfig::default());
    let reset = t0() + TimeDelta::seconds(100);
    let calls = std::cell::Cell::new(0);
    let quota = |id: CredId, class: ModelClass| {
        calls.set(calls.get() + 1);
        (id == 1 && class == ModelClass::Pro && clock.now() < reset).then_some(reset)
    };
    let mut got = Vec::new();
    for _ in 0..4 {
        got.push(
            pool.pick(PRO, ModelClass::Pro, &[], &quota)
                .expect("pro")
                .id,
        );
    }
    assert_eq!(got, vec![2, 2, 2, 2]);
    let asked_for_pro = calls.get();
    // Parked: the view is not asked about credential 1 again for every pick.
    assert!(asked_for_pro <= 5, "asked {asked_for_pro} times");
    let flash: Vec<CredId> = (0..2)
        .map(|_| {
            pool.pick(FLASH, ModelClass::Flash, &[], &quota)
                .expect("flash")
                .id
        })
        .collect();
    assert_eq!(flash, vec![1, 2]);
    let err = pool
        .pick(PRO, ModelClass::Pro, &[2], &quota)
        .expect_err("1 over quota, 2 excluded");
    assert_eq!((err.over_quota, err.excluded), (1, 1));
    assert_eq!(err.next_free_at, Some(reset));
    clock.set(reset);
    let again: Vec<CredId> = (0..2)
        .map(|_| {
            pool.pick(PRO, ModelClass::Pro, &[], &quota)
                .expect("pro")
                .id
        })
        .collect();
    assert_eq!(again, vec![1, 2]);
}

#[test]
fn preview_404_marks_that_model_unable_for_that_credential_only() {
    let (mut pool, _) = setup(2, PoolConfig::default());
    let out = pool.record_failure(1, PREVIEW, 404, "not found", Failure::ModelUnavailable);
    assert_eq!(out.reaction, Reaction::TryAnother);
    assert_eq!(picks(&mut pool, PREVIEW, 3), vec![2, 2, 2]);
    assert_eq!(picks(&mut pool, "gemini-3-flash-preview", 2), vec![1, 2]);
    pool.set_enabled(2, false);
    let err = pick(&mut pool, PREVIEW).expect_err("none");
    assert_eq!((err.unable, err.disabled), (1, 1));
    assert_eq!(err.next_free_at, None);
}

#[test]
fn excluded_ids_are_skipped() {
    let (mut pool, _) = setup(3, PoolConfig::default());
    let got = pool
        .pick(PRO, ModelClass::Pro, &[1, 2], &NoQuota)
        .expect("3");
    assert_eq!(got.id, 3);
    let got = pool
        .pick(PRO, ModelClass::Pro, &[1, 3], &NoQuota)
        .expect("2");
    assert_eq!(got.id, 2);
    let err = pool
        .pick(PRO, ModelClass::Pro, &[1, 2, 3, 3], &NoQuota)
        .expect_err("all tried");
    assert_eq!(err.excluded, 3);
}

#[test]
fn unavailable_counts_every_reason_and_the_earliest_free_time() {
    let cfg = PoolConfig {
        auto_ban: true,
        ..PoolConfig::default()
    };
    let (mut pool, clock) = setup(7, cfg);
    pool.set_enabled(1, false);
    pool.record_failure(
        2,
        PRO,
        403,
        "",
        Failure::Forbidden {
            status: 403,
            reason: "banned".into(),
            link: None,
        },
    );
    pool.record_failure(3, PRO, 404, "", Failure::ModelUnavailable);
    rate_limited(&mut pool, 4, PRO, 41);
    rate_limited(&mut pool, 5, PRO, 300);
    let quota = |id: CredId, _: ModelClass| (id == 6).then_some(t0() + TimeDelta::seconds(900));
    clock.advance(Duration::from_millis(500));
    let err = pool
        .pick(PRO, ModelClass::Pro, &[7], &quota)
        .expect_err("nothing left");
    assert_eq!(
        (
            err.total,
            err.disabled,
            err.banned,
            err.unable,
            err.cooling,
            err.over_quota,
            err.excluded
        ),
        (7, 1, 1, 1, 2, 1, 1)
    );
    assert_eq!(err.next_free_at, Some(t0() + TimeDelta::seconds(41)));
    assert_eq!(err.retry_after(), Some(Duration::from_millis(40_500)));
    assert_eq!(
        err.to_string(),
        "no credential available for gemini-2.5-pro: of 7 credentials, 1 disabled, 1 banned, \
         1 unable to use this model, 2 cooling, 1 over their daily quota, \
         1 already tried for this request; next frees at 2025-10-20T12:00:41Z (in 41 s)"
    );
}

#[test]
fn in_flight_follows_leases() {
    let cfg = PoolConfig {
        calls_per_rotation: 2,
        ..PoolConfig::default()
    };
    let (mut pool, _) = setup(2, cfg);
    let a = pool.pick(PRO, ModelClass::Pro, &[], &NoQuota).expect("a");
    let b = pool.pick(PRO, ModelClass::Pro, &[], &NoQuota).expect("b");
    assert_eq!((a.id, b.id), (1, 1));
    assert_eq!(pool.in_flight(1), Some(2));
    assert_eq!(pool.summary().in_flight, 2);
    drop(a);
    assert_eq!(pool.in_flight(1), Some(1));
    // A lease outlives the pool lock: moved to another thread and dropped there.
    std::thread::spawn(move || drop(b)).join().expect("thread");
    assert_eq!(pool.in_flight(1), Some(0));
    assert_eq!(pool.state(1).map(|s| s.calls), Some(2));
}

#[test]
fn removed_credentials_are_never_picked() {
    let (mut pool, _) = setup(3, PoolConfig::default());
    assert_eq!(picks(&mut pool, PRO, 2), vec![1, 2]);
    assert!(pool.remove(2).is_some());
    assert_eq!(picks(&mut pool, PRO, 3), vec![3, 1, 3]);
    assert_eq!(pool.len(), 2);
    let out = pool.record_failure(2, PRO, 429, "", Failure::RateLimited { retry_after: None });
    assert_eq!((out.reaction, out.change), (Reaction::TryAnother, None));
}

#[test]
fn export_then_restore_is_identical() {
    let cfg = PoolConfig {
        calls_per_rotation: 2,
        auto_ban: true,
        cooldown_cap: secs(120),
        ..PoolConfig::default()
    };
    let (mut a, clock) = setup(6, cfg.clone());
    picks(&mut a, PRO, 3);
    rate_limited(&mut a, 3, PRO, 45);
    a.record_failure(
        4,
        FLASH,
        429,
        "q",
        Failure::QuotaExhausted {
            until: None,
            after: Some(secs(7200)),
        },
    );
    a.record_failure(5, PREVIEW, 404, "nf", Failure::ModelUnavailable);
    a.record_failure(
        6,
        PRO,
        403,
        "x",
        Failure::Forbidden {
            status: 403,
            reason: "r".into(),
            link: None,
        },
    );
    a.set_enabled(1, false);
    a.set_identity(
        2,
        Some("x@example.invalid".into()),
        Some("proj".into()),
        None,
    );
    clock.advance(secs(10));

    let snap = a.export();
    let json = serde_json::to_string(&snap).expect("json");
    let restored: Snapshot = serde_json::from_str(&json).expect("parse");
    let mut b = Pool::restore(cfg, clock.clone(), restored);
    assert_eq!(b.export(), snap);
    assert_eq!(b.summary(), a.summary());

    for step in 0..40 {
        let model = [PRO, FLASH, PREVIEW][step % 3];
        let pa = a
            .pick(model, model_class(model), &[], &NoQuota)
            .map(|l| (l.id, l.probe));
        let pb = b
            .pick(model, model_class(model), &[], &NoQuota)
            .map(|l| (l.id, l.probe));
        assert_eq!(pa, pb, "step {step}");
        clock.advance(secs(7));
    }
    assert_eq!(a.export(), b.export());
}

#[test]
fn pins_and_model_lists_choose_among_kinds() {
    use crate::google::kind::{CredentialKind, Pin};
    let (mut pool, _clock) = setup(4, PoolConfig::default());
    pool.set_profile(2, Profile::of(CredentialKind::GeminiApiKey));
    pool.set_profile(
        3,
        Profile::of(CredentialKind::VertexServiceAccount).with_models(Some(vec![PRO.to_string()])),
    );
    pool.set_profile(4, Profile::of(CredentialKind::VertexExpressKey));
    let pinned = |pool: &mut Pool, model: &str, pin| {
        pool.pick_pinned(model, pin, model_class(model), &[], &NoQuota)
            .map(|h| h.id)
    };
    assert_eq!(pinned(&mut pool, PRO, Some(Pin::AiStudio)), Ok(2));
    assert_eq!(pinned(&mut pool, PRO, Some(Pin::CodeAssist)), Ok(1));
    assert!(matches!(
        pinned(&mut pool, PRO, Some(Pin::Vertex)),
        Ok(3 | 4)
    ));
    // Vertex service account 3 serves only PRO: a flash request never lands on it.
    for _ in 0..10 {
        assert_ne!(pinned(&mut pool, FLASH, Some(Pin::Vertex)), Ok(3));
        assert_ne!(pick(&mut pool, FLASH), Ok(3));
    }
    pool.set_profile(
        4,
        Profile::of(CredentialKind::VertexExpressKey).with_models(Some(Vec::<String>::new())),
    );
    let err = pinned(&mut pool, FLASH, Some(Pin::Vertex)).unwrap_err();
    assert_eq!(err.model, "vertex/gemini-2.5-flash");
    assert_eq!(err.not_offered, 4);
    pool.check_consistent().unwrap();
}

#[test]
fn a_quota_group_cools_together_on_one_upstream() {
    use crate::google::kind::CredentialKind;
    let (mut pool, clock) = setup(4, PoolConfig::default());
    for id in 1..=3 {
        pool.set_profile(
            id,
            Profile::of(CredentialKind::GeminiApiKey).with_group(Some("proj".into())),
        );
    }
    // Same label, other upstream: Vertex quota is not the Gemini API's.
    pool.set_profile(
        4,
        Profile::of(CredentialKind::VertexExpressKey).with_group(Some("proj".into())),
    );
    let out = pool.record_failure(1, FLASH, 429, "per day", Failure::DailyExhausted);
    let mut shared: Vec<CredId> = out.shared.iter().map(|c| c.id).collect();
    shared.sort();
    assert_eq!(shared, [2, 3]);
    for id in 1..=3 {
        assert!(
            pool.state(id).unwrap().cooldowns.contains_key(FLASH),
            "{id}"
        );
    }
    assert!(pool.state(4).unwrap().cooldowns.is_empty());
    assert_eq!(pick(&mut pool, FLASH), Ok(4));
    assert_eq!(
        pick(&mut pool, PRO).map(|id| id <= 3),
        Ok(true),
        "other models are free"
    );
    clock.advance(secs(48 * 3600));
    assert!(
        picks(&mut pool, FLASH, 8).contains(&1),
        "back after Google's reset"
    );
    pool.check_consistent().unwrap();
}
