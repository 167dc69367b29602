use std::io::Write;
use std::time::Duration;

use base64::Engine;
use gcli2api::simulator::UserSpec;
use serde_json::{Value, json};

use crate::support::{TestApp, builder, user_text};

fn zip_of(entries: &[(&str, Vec<u8>)]) -> Vec<u8> {
    let mut buf = std::io::Cursor::new(Vec::new());
    {
        let mut z = zip::ZipWriter::new(&mut buf);
        for (name, data) in entries {
            z.start_file(*name, zip::write::SimpleFileOptions::default())
                .unwrap();
            z.write_all(data).unwrap();
        }
        z.finish().unwrap();
    }
    buf.into_inner()
}

async fn wait_identified(app: &TestApp, id: i64) -> gcli2api::pool::CredentialState {
    for _ in 0..100 {
        let st = app.state.pool.state(id).unwrap();
        if st.project_id.is_some() && st.email.is_some() {
            return st;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("credential {id} was never identified");
}

#[tokio::test]
async fn every_file_format_imports_and_serves() {
    let app = builder()
        .users(1)
        .env("CALLS_PER_ROTATION", "1")
        .spawn()
        .await;
    let reference = app.sim.add_user(UserSpec::new("ref@sim.test"));
    let cli = app.sim.add_user(UserSpec::new("cli@sim.test"));
    let gcloud = app.sim.add_user(UserSpec::new("gcloud@sim.test"));
    let out = app
        .state
        .pool
        .import_upload(
            "ref.json",
            reference.credential_json().to_string().as_bytes(),
        )
        .await
        .unwrap();
    assert_eq!(out.imported.len(), 1, "{out:?}");
    // Gemini CLI's own cache: no client, no project, expiry in milliseconds.
    let oauth_creds = json!({"access_token": cli.access_token, "refresh_token": cli.refresh_token, "scope": "x", "token_type": "Bearer", "expiry_date": cli.expiry.timestamp_millis()});
    let out = app
        .state
        .pool
        .import_upload("oauth_creds.json", oauth_creds.to_string().as_bytes())
        .await
        .unwrap();
    let cli_id = out.imported[0].id;
    let st = wait_identified(&app, cli_id).await;
    assert_eq!(
        st.project_id.as_deref(),
        Some(cli.project_id.as_str()),
        "project discovered via loadCodeAssist"
    );
    assert_eq!(
        st.email.as_deref(),
        Some("cli@sim.test"),
        "e-mail from userinfo"
    );
    let authorized_user = json!({"type": "authorized_user", "client_id": gcloud.client_id, "client_secret": gcloud.client_secret, "refresh_token": gcloud.refresh_token});
    let out = app
        .state
        .pool
        .import_upload("adc.json", authorized_user.to_string().as_bytes())
        .await
        .unwrap();
    let gid = out.imported[0].id;
    wait_identified(&app, gid).await;
    // Every imported credential can serve.
    for _ in 0..4 {
        assert_eq!(
            app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("hi")]}))
                .await
                .0,
            200
        );
    }
    let served: std::collections::HashSet<_> = app
        .generation_requests()
        .into_iter()
        .filter_map(|r| r.email)
        .collect();
    assert!(served.len() >= 3, "{served:?}");
}

#[tokio::test]
async fn zip_with_bad_and_traversal_entries_imports_the_good_ones() {
    let app = builder().users(1).spawn().await;
    let good = app.sim.add_user(UserSpec::new("zipgood@sim.test"));
    let evil = app.sim.add_user(UserSpec::new("evil@sim.test"));
    let zip = zip_of(&[
        ("good.json", good.credential_json().to_string().into_bytes()),
        ("broken.json", b"{not json".to_vec()),
        (
            "../../etc/evil.json",
            evil.credential_json().to_string().into_bytes(),
        ),
    ]);
    let out = app
        .state
        .pool
        .import_upload("creds.zip", &zip)
        .await
        .unwrap();
    assert_eq!(out.imported.len(), 1, "{out:?}");
    assert_eq!(out.imported[0].name, "good");
    assert_eq!(out.rejected.len(), 2, "{out:?}");
    assert!(
        out.rejected
            .iter()
            .any(|r| r.name.contains("evil") && r.reason.to_lowercase().contains("path")),
        "{out:?}"
    );
    let huge = vec![b'a'; 17 * 1024 * 1024];
    assert!(
        app.state
            .pool
            .import_upload("big.zip", &huge)
            .await
            .is_err(),
        "an oversized archive is refused"
    );
    // Duplicates are reported, not doubled.
    let out = app
        .state
        .pool
        .import_upload("again.json", good.credential_json().to_string().as_bytes())
        .await
        .unwrap();
    assert!(
        out.imported.is_empty() && out.duplicates.len() == 1,
        "{out:?}"
    );
}

#[tokio::test]
async fn env_credentials_json_and_base64() {
    let app = builder().users(1).spawn().await;
    let a = app.sim.add_user(UserSpec::new("envjson@sim.test"));
    let b = app.sim.add_user(UserSpec::new("envb64@sim.test"));
    let mut env = std::collections::HashMap::new();
    env.insert("GCLI_CREDS_1".to_string(), a.credential_json().to_string());
    env.insert(
        "GOOGLE_CREDENTIALS".to_string(),
        base64::engine::general_purpose::STANDARD.encode(b.credential_json().to_string()),
    );
    env.insert(
        "GCLI_CREDS_BAD".to_string(),
        "!!not base64 or json".to_string(),
    );
    let out = app.state.pool.import_env(&env).await.unwrap();
    assert_eq!(out.imported.len(), 2, "{out:?}");
    assert_eq!(out.rejected.len(), 1);
    assert!(out.rejected[0].name.contains("GCLI_CREDS_BAD"));
    assert!(
        !out.rejected[0].reason.contains("not base64"),
        "the value is never echoed"
    );
}

#[tokio::test]
async fn startup_imports_the_directory_and_env_wins_for_the_same_account() {
    let sim = gcli2api::simulator::Simulator::start(
        tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap(),
    )
    .await
    .unwrap();
    let u = sim.add_user(UserSpec::new("both@sim.test"));
    let dir = tempfile::tempdir().unwrap();
    let creds = dir.path().join("creds");
    std::fs::create_dir_all(&creds).unwrap();
    std::fs::write(creds.join("both.json"), u.credential_json().to_string()).unwrap();
    let env_cred = u.credential_json().to_string();
    let app = builder()
        .reuse(sim, dir)
        .env("AUTO_LOAD_ENV_CREDS", "true")
        .env("GCLI_CREDS_1", &env_cred)
        .spawn()
        .await;
    let rows = app
        .state
        .store
        .call(|c| gcli2api::store::credentials::list(c))
        .await
        .unwrap();
    assert_eq!(rows.len(), 1, "one account, not two: {rows:?}");
    assert_eq!(
        rows[0].source,
        gcli2api::store::credentials::CredentialSource::Env,
        "env takes precedence"
    );
    assert_eq!(
        app.chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("dir")]}))
            .await
            .0,
        200
    );
}

#[tokio::test]
async fn export_then_import_round_trips() {
    let app = TestApp::spawn().await;
    let zip = app.state.pool.export_all().await.unwrap();
    let (_, one) = app.state.pool.export_one(app.ids[0]).await.unwrap();
    assert_eq!(
        one["refresh_token"],
        Value::String(app.users[0].refresh_token.clone())
    );
    let fresh = builder()
        .users(0)
        .reuse(app.sim.clone(), tempfile::tempdir().unwrap())
        .spawn()
        .await;
    let out = fresh
        .state
        .pool
        .import_upload("export.zip", &zip)
        .await
        .unwrap();
    assert_eq!(out.imported.len(), 3, "{out:?}");
    let rows = fresh
        .state
        .store
        .call(|c| gcli2api::store::credentials::list(c))
        .await
        .unwrap();
    let mut emails: Vec<_> = rows.iter().filter_map(|r| r.email.clone()).collect();
    emails.sort();
    let mut want: Vec<_> = app.users.iter().map(|u| u.email.clone()).collect();
    want.sort();
    assert_eq!(emails, want);
    assert_eq!(
        fresh
            .chat(json!({"model": "gemini-2.5-flash", "messages": [user_text("again")]}))
            .await
            .0,
        200
    );
}

fn no_project(u: &gcli2api::simulator::SeededUser) -> Vec<u8> {
    let mut v = u.credential_json();
    v.as_object_mut().unwrap().remove("project_id");
    v.to_string().into_bytes()
}

#[tokio::test]
async fn discovery_onboards_new_users_and_keeps_validation_links() {
    use gcli2api::simulator::ProjectScenario;
    let app = builder().users(1).spawn().await;
    let new = app.sim.add_user(
        UserSpec::new("new@sim.test").scenario(ProjectScenario::NewUser {
            polls: 2,
            returns_project: true,
        }),
    );
    let out = app
        .state
        .pool
        .import_upload("new.json", &no_project(&new))
        .await
        .unwrap();
    let st = wait_identified(&app, out.imported[0].id).await;
    assert_eq!(
        st.project_id.as_deref(),
        Some(new.project_id.as_str()),
        "onboardUser's project"
    );
    assert!(
        app.sim
            .requests()
            .iter()
            .any(|r| r.path.contains("onboardUser"))
    );

    let url = "https://accounts.example/verify?x=1";
    let val = app.sim.add_user(UserSpec::new("verify@sim.test").scenario(
        ProjectScenario::ValidationRequired {
            validation_url: url.into(),
        },
    ));
    let out = app
        .state
        .pool
        .import_upload("verify.json", &no_project(&val))
        .await
        .unwrap();
    let id = out.imported[0].id;
    let mut ban = None;
    for _ in 0..100 {
        ban = app.state.pool.state(id).unwrap().ban;
        if ban.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ban = ban.expect("an account that needs verification is set aside");
    assert_eq!(
        ban.link.as_deref(),
        Some(url),
        "the link the owner must visit is kept"
    );
    assert!(ban.reason.contains("verif"), "{}", ban.reason);
}
