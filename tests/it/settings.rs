//! Settings resolution, locking, updates, and passwords, against real SQLite files.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gcli2api::settings::passwords::{PasswordKind, Passwords};
use gcli2api::settings::{
    SettingsError, SettingsService, Source, Sources, markdown_table, registry,
};
use gcli2api::store::{self, Store};
use serde_json::json;

struct Env {
    _dir: tempfile::TempDir,
    data: PathBuf,
    store: Store,
}

async fn env() -> Env {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let store = Store::open(&data).await.unwrap();
    Env {
        _dir: dir,
        data,
        store,
    }
}

fn sources(data: &Path, vars: &[(&str, &str)], file: Option<PathBuf>) -> Sources {
    let mut env: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    env.insert("DATA_DIR".into(), data.display().to_string());
    Sources {
        env,
        config_file: file,
    }
}

fn write_file(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

async fn save(store: &Store, key: &str, value: serde_json::Value) {
    let key = key.to_string();
    store
        .tx(move |tx| store::settings::put_many(tx, &[(key, value)], 1))
        .await
        .unwrap();
}

fn view(svc: &SettingsService, key: &str) -> gcli2api::settings::SettingView {
    svc.describe().into_iter().find(|v| v.key == key).unwrap()
}

#[tokio::test]
async fn precedence_env_file_saved_default() {
    let e = env().await;
    let file = write_file(
        &e.data,
        "custom.toml",
        "port = 8001\ncalls_per_rotation = 21\nauto_ban_error_codes = [403, 401]\n",
    );
    save(&e.store, "port", json!(8002)).await;
    save(&e.store, "calls_per_rotation", json!(22)).await;
    save(&e.store, "retry_429_max_retries", json!(7)).await;

    let svc = SettingsService::load(
        &sources(&e.data, &[("PORT", "8000")], Some(file.clone())),
        &e.store,
    )
    .await
    .unwrap();
    let s = svc.get();
    assert_eq!(s.port, 8000, "env beats file and saved");
    assert_eq!(s.calls_per_rotation, 21, "file beats saved");
    assert_eq!(s.auto_ban_error_codes, vec![403, 401]);
    assert_eq!(s.retry_429_max_retries, 7, "saved beats default");
    assert_eq!(s.anti_truncation_max_attempts, 3, "default");
    assert_eq!(s.credentials_dir, e.data.join("creds"));

    assert_eq!(view(&svc, "port").source, Source::Env);
    assert!(view(&svc, "port").locked);
    assert_eq!(view(&svc, "calls_per_rotation").source, Source::File);
    assert!(view(&svc, "calls_per_rotation").locked);
    let saved = view(&svc, "retry_429_max_retries");
    assert_eq!((saved.source, saved.locked), (Source::Saved, false));
    assert_eq!(saved.value, json!(7));
    assert_eq!(
        view(&svc, "anti_truncation_max_attempts").source,
        Source::Default
    );

    // Env over saved with no file; file alone over default.
    let svc = SettingsService::load(
        &sources(&e.data, &[("CALLS_PER_ROTATION", "40")], None),
        &e.store,
    )
    .await
    .unwrap();
    assert_eq!(svc.get().calls_per_rotation, 40);
    assert_eq!(svc.get().port, 8002, "saved applies without env or file");
}

#[tokio::test]
async fn implicit_config_file_in_data_dir_is_read() {
    let e = env().await;
    write_file(&e.data, "config.toml", "log_level = \"debug\"\n");
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    assert_eq!(svc.get().log_level, "debug");
    assert_eq!(view(&svc, "log_level").source, Source::File);
}

#[tokio::test]
async fn data_dir_comes_from_env_or_explicit_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = write_file(dir.path(), "c.toml", "data_dir = \"/srv/gcli\"\n");
    let s = Sources {
        env: HashMap::new(),
        config_file: Some(file.clone()),
    };
    assert_eq!(
        SettingsService::data_dir(&s).unwrap(),
        PathBuf::from("/srv/gcli")
    );
    let mut s2 = s.clone();
    s2.env.insert("DATA_DIR".into(), "/env/dir".into());
    assert_eq!(
        SettingsService::data_dir(&s2).unwrap(),
        PathBuf::from("/env/dir")
    );
    s2.env.insert("DATA_DIR".into(), String::new());
    assert_eq!(
        SettingsService::data_dir(&s2).unwrap(),
        PathBuf::from("/srv/gcli"),
        "empty env counts as unset"
    );
    assert_eq!(
        SettingsService::data_dir(&Sources::default()).unwrap(),
        PathBuf::from("./data")
    );
}

#[tokio::test]
async fn legacy_return_thoughts_env_is_accepted() {
    let e = env().await;
    let svc = SettingsService::load(
        &sources(&e.data, &[("RETURN_THOUGHTS_TO_FRONTEND", "false")], None),
        &e.store,
    )
    .await
    .unwrap();
    assert!(!svc.get().return_thoughts);
    assert_eq!(
        view(&svc, "return_thoughts").origin.as_deref(),
        Some("environment variable RETURN_THOUGHTS_TO_FRONTEND")
    );
}

#[tokio::test]
async fn invalid_env_and_file_values_stop_startup_with_the_reason() {
    let e = env().await;
    let err = SettingsService::load(&sources(&e.data, &[("PORT", "http")], None), &e.store)
        .await
        .err()
        .unwrap();
    match &err {
        SettingsError::Invalid { key, origin, .. } => {
            assert_eq!(key, "port");
            assert_eq!(origin, "environment variable PORT");
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("PORT"), "{err}");
    assert!(err.to_string().contains("whole number"), "{err}");

    for (var, val, why) in [
        ("AUTO_BAN", "maybe", "true/false"),
        ("AUTO_BAN_ERROR_CODES", "403,200", "400 and 599"),
        ("PROXY", "ftp://127.0.0.1:21", "scheme"),
        ("QUOTA_RESET_TIMEZONE", "Mars/Olympus", "time zone"),
        ("RETRY_429_INTERVAL", "20", "between"),
        ("CODE_ASSIST_ENDPOINT", "not a url", "http(s) URL"),
        ("LOG_LEVEL", "loud", "trace"),
    ] {
        let err = SettingsService::load(&sources(&e.data, &[(var, val)], None), &e.store)
            .await
            .err()
            .unwrap_or_else(|| panic!("{var}={val} accepted"));
        let msg = err.to_string();
        assert!(msg.contains(var) && msg.contains(why), "{var}: {msg}");
    }

    let bad = write_file(&e.data, "bad.toml", "keepalive_interval = 1\n");
    let err = SettingsService::load(&sources(&e.data, &[], Some(bad)), &e.store)
        .await
        .err()
        .unwrap();
    let msg = err.to_string();
    assert!(
        msg.contains("keepalive_interval in") && msg.contains("between 5 and 86400"),
        "{msg}"
    );

    let broken = write_file(&e.data, "broken.toml", "port = = 1\n");
    let err = SettingsService::load(&sources(&e.data, &[], Some(broken)), &e.store)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SettingsError::ConfigFile { .. }), "{err:?}");

    let missing = e.data.join("missing.toml");
    let err = SettingsService::load(&sources(&e.data, &[], Some(missing)), &e.store)
        .await
        .err()
        .unwrap();
    assert!(matches!(err, SettingsError::ConfigFile { .. }), "{err:?}");
}

#[tokio::test]
async fn unknown_file_keys_are_listed() {
    let e = env().await;
    let f = write_file(
        &e.data,
        "typo.toml",
        "prot = 1\nport = 2\nlog_levle = \"x\"\n",
    );
    let err = SettingsService::load(&sources(&e.data, &[], Some(f)), &e.store)
        .await
        .err()
        .unwrap();
    match &err {
        SettingsError::UnknownKeys { keys, .. } => assert_eq!(keys, &["log_levle", "prot"]),
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn writes_to_locked_keys_are_refused() {
    let e = env().await;
    let f = write_file(&e.data, "c.toml", "keepalive_interval = 30\n");
    let svc = SettingsService::load(
        &sources(&e.data, &[("HOST", "127.0.0.1")], Some(f)),
        &e.store,
    )
    .await
    .unwrap();
    let err = svc
        .update(vec![("host".into(), json!("0.0.0.0"))])
        .await
        .unwrap_err();
    match &err {
        SettingsError::Locked { key, layer, origin } => {
            assert_eq!(key, "host");
            assert_eq!(*layer, Source::Env);
            assert_eq!(origin, "environment variable HOST");
        }
        other => panic!("{other:?}"),
    }
    let err = svc
        .update(vec![("keepalive_interval".into(), json!(90))])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            SettingsError::Locked {
                layer: Source::File,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(matches!(
        svc.reset("host").await,
        Err(SettingsError::Locked { .. })
    ));
    // Nothing reached the database.
    assert!(
        e.store
            .call(|c| store::settings::get_all(c))
            .await
            .unwrap()
            .is_empty()
    );
}

#[tokio::test]
async fn updates_validate_all_or_nothing() {
    let e = env().await;
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    let err = svc
        .update(vec![
            ("calls_per_rotation".into(), json!(5)),
            ("retry_429_max_retries".into(), json!(21)),
        ])
        .await
        .unwrap_err();
    match &err {
        SettingsError::Invalid { key, reason, .. } => {
            assert_eq!(key, "retry_429_max_retries");
            assert!(reason.contains("between 0 and 20"), "{reason}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(svc.get().calls_per_rotation, 10, "valid half not applied");
    assert!(
        e.store
            .call(|c| store::settings::get_all(c))
            .await
            .unwrap()
            .is_empty()
    );

    let err = svc
        .update(vec![
            ("calls_per_rotation".into(), json!(5)),
            ("nope".into(), json!(1)),
        ])
        .await
        .unwrap_err();
    assert!(
        matches!(&err, SettingsError::UnknownKeys { keys, .. } if keys == &["nope"]),
        "{err:?}"
    );
    for key in ["password", "api_password", "panel_password"] {
        let err = svc
            .update(vec![(key.into(), json!("longenough1"))])
            .await
            .unwrap_err();
        assert!(
            matches!(&err, SettingsError::NotWritable { reason, .. } if reason.contains("password operation")),
            "{err:?}"
        );
        assert!(!err.to_string().contains("longenough1"));
    }
    let err = svc
        .update(vec![("data_dir".into(), json!("/x"))])
        .await
        .unwrap_err();
    assert!(matches!(err, SettingsError::NotWritable { .. }), "{err:?}");
}

#[tokio::test]
async fn hot_update_applies_now_and_notifies() {
    let e = env().await;
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    let handle = svc.handle();
    let mut rx = svc.subscribe();
    let out = svc
        .update(vec![
            ("log_level".into(), json!("DEBUG")),
            ("auto_ban_error_codes".into(), json!("401, 403")),
            ("code_assist_endpoint".into(), json!("http://127.0.0.1:9/")),
        ])
        .await
        .unwrap();
    assert_eq!(
        out.applied,
        ["log_level", "auto_ban_error_codes", "code_assist_endpoint"]
    );
    assert!(out.restart_required.is_empty());
    assert_eq!(svc.get().log_level, "debug");
    assert_eq!(handle.get().auto_ban_error_codes, vec![401, 403]);
    assert_eq!(svc.get().code_assist_endpoint, "http://127.0.0.1:9");
    tokio::time::timeout(Duration::from_secs(1), rx.changed())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rx.borrow_and_update().log_level, "debug");

    // Saved values survive a restart.
    let again = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    assert_eq!(again.get().log_level, "debug");
    assert_eq!(view(&again, "log_level").source, Source::Saved);

    // reset goes back to the default, live.
    svc.reset("log_level").await.unwrap();
    assert_eq!(svc.get().log_level, "info");
    assert_eq!(view(&svc, "log_level").source, Source::Default);
    let rows = e.store.call(|c| store::settings::get_all(c)).await.unwrap();
    assert!(rows.iter().all(|(k, _)| k != "log_level"));
    let audit = e
        .store
        .call(|c| store::audit::list_recent(c, 10))
        .await
        .unwrap();
    assert!(audit.iter().any(|a| a.kind == "settings.update"));
}

#[tokio::test]
async fn non_hot_update_needs_restart() {
    let e = env().await;
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    let rx = svc.subscribe();
    let out = svc
        .update(vec![("port".into(), json!(9000))])
        .await
        .unwrap();
    assert_eq!(out.restart_required, ["port"]);
    assert!(out.applied.is_empty());
    assert_eq!(svc.get().port, 7861, "running value unchanged");
    assert!(!rx.has_changed().unwrap());
    let v = view(&svc, "port");
    assert_eq!(
        (v.value.clone(), v.source, v.restart_pending),
        (json!(9000), Source::Saved, true)
    );

    let restarted = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    assert_eq!(restarted.get().port, 9000);
    assert!(!view(&restarted, "port").restart_pending);
}

#[tokio::test]
async fn invalid_saved_values_fall_back_instead_of_blocking_startup() {
    let e = env().await;
    save(&e.store, "port", json!("not a port")).await;
    save(&e.store, "removed_setting", json!(1)).await;
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    assert_eq!(svc.get().port, 7861);
}

#[test]
fn markdown_table_lists_every_setting() {
    let table = markdown_table();
    for d in registry() {
        assert!(table.contains(&format!("`{}`", d.env)), "{}", d.env);
        assert!(table.contains(d.description), "{}", d.env);
    }
    assert_eq!(table.lines().count(), registry().len() + 2);
}

#[tokio::test]
async fn describe_hides_secrets() {
    let e = env().await;
    let svc = SettingsService::load(
        &sources(&e.data, &[("API_PASSWORD", "env-api-secret")], None),
        &e.store,
    )
    .await
    .unwrap();
    let v = view(&svc, "api_password");
    assert!(v.secret && v.locked && v.is_set);
    assert!(v.value.is_null());
    let all = serde_json::to_string(&svc.describe()).unwrap();
    assert!(!all.contains("env-api-secret"));
    assert!(!format!("{:?}", svc.get()).contains("env-api-secret"));
    assert!(!view(&svc, "panel_password").is_set);
}

// ---- passwords ----

fn db_dump_contains(db: &Path, needle: &str) -> bool {
    let c = rusqlite::Connection::open(db).unwrap();
    let mut st = c
        .prepare("SELECT name || ' ' || argon2_hash FROM secrets UNION ALL SELECT key || ' ' || value_json FROM settings")
        .unwrap();
    let rows: Vec<String> = st
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    rows.iter().any(|r| r.contains(needle))
}

#[tokio::test]
async fn generated_password_once_and_only_hash_stored() {
    let e = env().await;
    let src = sources(&e.data, &[], None);
    let svc = SettingsService::load(&src, &e.store).await.unwrap();
    let (pw, generated) = Passwords::load(&svc, &e.store).await.unwrap();
    let api_key = generated.api.expect("first start generates an API key");
    let generated = generated
        .panel
        .expect("first start generates a panel password");
    assert_ne!(api_key, generated, "two different secrets for two roles");
    for secret in [&api_key, &generated] {
        assert!(secret.len() >= 24);
        assert!(
            secret
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
    }
    assert!(pw.verify_api(&api_key).await);
    assert!(pw.verify_panel(&generated).await);
    assert!(
        !pw.verify_panel(&api_key).await,
        "the API key does not open the panel"
    );
    assert!(
        !pw.verify_api(&generated).await,
        "the panel password is not an API key"
    );
    assert!(!pw.verify_api("wrong-password").await);
    assert!(!pw.same_for_api_and_panel());
    assert!(view(&svc, "api_password").is_set);
    assert!(view(&svc, "panel_password").is_set);
    assert!(!view(&svc, "password").is_set);
    assert_eq!(view(&svc, "panel_password").source, Source::Saved);
    let db = e.store.path().to_path_buf();
    assert!(!db_dump_contains(&db, &generated), "plaintext stored");
    let raw = std::fs::read(&db).unwrap();
    let wal = std::fs::read(db.with_extension("db-wal")).unwrap_or_default();
    for bytes in [raw, wal] {
        assert!(
            !bytes
                .windows(generated.len())
                .any(|w| w == generated.as_bytes()),
            "plaintext found in the database files"
        );
    }
    let hash = e
        .store
        .call(|c| store::secrets::get(c, "panel_password"))
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));

    // Second start: nothing generated, same secrets still valid.
    let svc2 = SettingsService::load(&src, &e.store).await.unwrap();
    let (pw2, again) = Passwords::load(&svc2, &e.store).await.unwrap();
    assert!(again.is_empty());
    assert!(pw2.verify_api(&api_key).await);
    assert!(pw2.verify_panel(&generated).await);
    // Cached fast path: repeated checks still answer correctly both ways.
    assert!(pw2.verify_api(&api_key).await);
    assert!(!pw2.verify_api("another-wrong-one").await);
}

#[tokio::test]
async fn env_password_locks_and_is_plain_compared() {
    let e = env().await;
    let svc = SettingsService::load(
        &sources(
            &e.data,
            &[("PASSWORD", "shared-pass"), ("API_PASSWORD", "api-pass")],
            None,
        ),
        &e.store,
    )
    .await
    .unwrap();
    let (pw, generated) = Passwords::load(&svc, &e.store).await.unwrap();
    assert!(generated.is_empty(), "env password: nothing generated");
    assert!(pw.verify_api("api-pass").await);
    assert!(
        !pw.verify_api("shared-pass").await,
        "API_PASSWORD wins over PASSWORD"
    );
    assert!(
        pw.verify_panel("shared-pass").await,
        "panel falls back to PASSWORD"
    );
    assert!(!pw.verify_panel("api-pass").await);
    assert!(pw.locked(PasswordKind::Api) && pw.locked(PasswordKind::Shared));
    assert!(!pw.locked(PasswordKind::Panel));

    let err = pw.set(PasswordKind::Api, "new-api-pass").await.unwrap_err();
    match &err {
        SettingsError::Locked { key, layer, origin } => {
            assert_eq!(key, "api_password");
            assert_eq!(*layer, Source::Env);
            assert_eq!(origin, "environment variable API_PASSWORD");
        }
        other => panic!("{other:?}"),
    }
    assert!(!err.to_string().contains("new-api-pass"));
    let none: Vec<(String, String)> = e.store.call(|c| store::secrets::get_all(c)).await.unwrap();
    assert!(none.is_empty(), "nothing generated or stored");
}

#[tokio::test]
async fn set_stores_hash_and_switches_password() {
    let e = env().await;
    let svc = SettingsService::load(
        &sources(&e.data, &[("PASSWORD", "shared-pass")], None),
        &e.store,
    )
    .await
    .unwrap();
    let (pw, _) = Passwords::load(&svc, &e.store).await.unwrap();
    assert!(pw.verify_panel("shared-pass").await);

    assert!(matches!(
        pw.set(PasswordKind::Panel, "short").await,
        Err(SettingsError::PasswordTooShort { min: 8 })
    ));
    pw.set(PasswordKind::Panel, "panel-pass-1").await.unwrap();
    assert!(pw.verify_panel("panel-pass-1").await);
    assert!(
        !pw.verify_panel("shared-pass").await,
        "dedicated beats shared"
    );
    assert!(
        pw.verify_api("shared-pass").await,
        "API still uses PASSWORD"
    );
    assert!(view(&svc, "panel_password").is_set);

    // Changing it invalidates the cached accepted key.
    pw.set(PasswordKind::Panel, "panel-pass-2").await.unwrap();
    assert!(!pw.verify_panel("panel-pass-1").await);
    assert!(pw.verify_panel("panel-pass-2").await);

    let hash = e
        .store
        .call(|c| store::secrets::get(c, "panel_password"))
        .await
        .unwrap()
        .unwrap();
    assert!(hash.starts_with("$argon2id$"));
    assert!(!db_dump_contains(e.store.path(), "panel-pass-2"));

    // The saved hash is used after a restart.
    let svc2 = SettingsService::load(
        &sources(&e.data, &[("PASSWORD", "shared-pass")], None),
        &e.store,
    )
    .await
    .unwrap();
    let (pw2, _) = Passwords::load(&svc2, &e.store).await.unwrap();
    assert!(pw2.verify_panel("panel-pass-2").await);
    assert!(!pw2.verify_panel("wrong-pass-x").await);
    let audit = e
        .store
        .call(|c| store::audit::list_recent(c, 10))
        .await
        .unwrap();
    assert_eq!(audit.iter().filter(|a| a.kind == "password.set").count(), 2);
}

#[tokio::test]
async fn api_password_alone_still_gets_a_panel_password() {
    let e = env().await;
    let src = sources(&e.data, &[("API_PASSWORD", "api-only-pass")], None);
    let svc = SettingsService::load(&src, &e.store).await.unwrap();
    let (pw, generated) = Passwords::load(&svc, &e.store).await.unwrap();
    assert!(generated.api.is_none(), "API_PASSWORD is the API key");
    let generated = generated.panel.expect("the panel would have no password");
    assert!(pw.verify_api("api-only-pass").await);
    assert!(
        !pw.verify_api(&generated).await,
        "API_PASSWORD still decides the API key"
    );
    assert!(pw.verify_panel(&generated).await);

    let (pw2, again) = Passwords::load(&svc, &e.store).await.unwrap();
    assert!(again.is_empty());
    assert!(pw2.verify_panel(&generated).await);
}

#[tokio::test]
async fn wrong_keys_after_a_success_skip_argon2() {
    let e = env().await;
    let svc = SettingsService::load(&sources(&e.data, &[], None), &e.store)
        .await
        .unwrap();
    let (pw, generated) = Passwords::load(&svc, &e.store).await.unwrap();
    let generated = generated.api.unwrap();
    let t = std::time::Instant::now();
    assert!(pw.verify_api(&generated).await);
    let one_argon2 = t.elapsed();

    let t = std::time::Instant::now();
    for i in 0..20 {
        assert!(!pw.verify_api(&format!("wrong-{i}")).await);
    }
    assert!(pw.verify_api(&generated).await);
    // 21 argon2 runs would take ~21x; the cached digest makes them near free.
    assert!(
        t.elapsed() < one_argon2 * 3,
        "{:?} vs one argon2 {:?}",
        t.elapsed(),
        one_argon2
    );
}

#[tokio::test]
async fn the_secrets_key_is_refused_in_a_config_file() {
    let e = env().await;
    let f = write_file(
        &e.data,
        "k.toml",
        &format!("secrets_key = \"{}\"\n", "ab".repeat(32)),
    );
    let err = SettingsService::load(&sources(&e.data, &[], Some(f)), &e.store)
        .await
        .err()
        .unwrap();
    let text = err.to_string();
    assert!(
        text.contains("only be set in the environment (SECRETS_KEY)"),
        "{text}"
    );
    assert!(!text.contains("abab"), "never echoed: {text}");
}
