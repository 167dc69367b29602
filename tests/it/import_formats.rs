//! Credential import and export through the public API: every accepted format, every refusal,
//! hostile archives, env and directory sources, duplicates and round trips.
use std::collections::HashMap;
use std::io::{Cursor, Write};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use chrono::{TimeZone, Utc};
use gcli2api::google::oauth::{GEMINI_CLI_CLIENT_ID, GEMINI_CLI_CLIENT_SECRET};
use gcli2api::onboarding::import::{
    Duplicate, ExistingKey, ImportError, ImportReport, ImportedCredential, ZipLimits, dedup_batch,
    export_zip, find_duplicate, merge_sources, parse_env, parse_json_credential, parse_upload,
    parse_zip, scan_dir,
};
use gcli2api::store::credentials::CredentialSource;
use proptest::prelude::*;
use serde_json::{Value, json};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

const RT: &str = "1//0g-REFRESH-SECRET";

fn reference_json() -> Value {
    json!({
        "client_id": "my-client.apps.googleusercontent.com",
        "client_secret": "GOCSPX-custom",
        "token": "ya29.ACCESS",
        "refresh_token": RT,
        "scopes": ["https://www.googleapis.com/auth/cloud-platform"],
        "token_uri": "https://oauth2.googleapis.com/token",
        "project_id": "my-project-123",
        "expiry": "2026-01-10T02:55:29.123456+00:00"
    })
}

fn cred(name: &str, rt: &str) -> Value {
    json!({"refresh_token": rt, "project_id": format!("p-{name}")})
}

/// A ZIP of (name, bytes) entries, deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut w = ZipWriter::new(Cursor::new(Vec::new()));
    let opts = SimpleFileOptions::default().compression_method(CompressionMethod::Deflated);
    for (name, bytes) in entries {
        w.start_file(*name, opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

fn rejected_reason<'a>(report: &'a ImportReport, name: &str) -> &'a str {
    report
        .rejected
        .iter()
        .find(|(n, _)| n == name)
        .map(|(_, r)| r.as_str())
        .unwrap_or_else(|| panic!("{name} not rejected: {:?}", report.rejected))
}

fn names(creds: &[ImportedCredential]) -> Vec<&str> {
    creds.iter().map(|c| c.name.as_str()).collect()
}

// ---- single JSON formats -------------------------------------------------------------------

#[test]
fn reference_format_is_read_completely() {
    let c = parse_json_credential(
        "uploads/my-project-123-1767000000.json",
        reference_json().to_string().as_bytes(),
    )
    .unwrap();
    assert_eq!(c.name, "my-project-123-1767000000");
    assert_eq!(c.client_id, "my-client.apps.googleusercontent.com");
    assert_eq!(c.client_secret, "GOCSPX-custom");
    assert_eq!(c.refresh_token, RT);
    assert_eq!(c.access_token.as_deref(), Some("ya29.ACCESS"));
    assert_eq!(c.project_id.as_deref(), Some("my-project-123"));
    let want = Utc.with_ymd_and_hms(2026, 1, 10, 2, 55, 29).unwrap()
        + chrono::TimeDelta::microseconds(123_456);
    assert_eq!(c.expiry, Some(want));
    assert_eq!(
        c.extra.get("token_uri"),
        Some(&json!("https://oauth2.googleapis.com/token"))
    );
    assert!(!c.extra.contains_key("token"), "aliases are folded");
}

#[test]
fn gemini_cli_oauth_creds_gets_default_client_and_millisecond_expiry() {
    let file = json!({
        "access_token": "ya29.CLI",
        "refresh_token": RT,
        "scope": "https://www.googleapis.com/auth/cloud-platform openid",
        "token_type": "Bearer",
        "id_token": "not.a-jwt",
        "expiry_date": 1_767_000_000_500_i64
    });
    let c = parse_json_credential("oauth_creds.json", file.to_string().as_bytes()).unwrap();
    assert_eq!(c.client_id, GEMINI_CLI_CLIENT_ID);
    assert_eq!(c.client_secret, GEMINI_CLI_CLIENT_SECRET);
    assert_eq!(
        c.expiry,
        Some(Utc.timestamp_millis_opt(1_767_000_000_500).unwrap())
    );
    assert_eq!(c.expiry.unwrap().timestamp(), 1_767_000_000);
    assert_eq!(c.project_id, None);
    // Every CLI user's file has this name, so it is not used as the credential's name.
    assert!(c.name.starts_with("cred-"), "{}", c.name);
    assert!(!c.name.contains(RT));
    // The exported form carries the scopes the token response listed.
    assert_eq!(
        c.export_json()["scopes"],
        json!(["https://www.googleapis.com/auth/cloud-platform", "openid"])
    );
}

#[test]
fn gcloud_authorized_user_is_accepted_with_extra_fields_kept() {
    let file = json!({
        "type": "authorized_user",
        "client_id": "gcloud-client",
        "client_secret": "gcloud-secret",
        "refresh_token": RT,
        "quota_project_id": "billing-proj"
    });
    let c = parse_json_credential("adc.json", file.to_string().as_bytes()).unwrap();
    assert_eq!(c.client_id, "gcloud-client");
    assert_eq!(c.access_token, None);
    assert_eq!(c.expiry, None);
    assert_eq!(
        c.project_id, None,
        "a quota project is not a Code Assist project"
    );
    assert_eq!(c.extra["type"], json!("authorized_user"));
    assert_eq!(c.extra["quota_project_id"], json!("billing-proj"));
}

#[test]
fn refusals_have_clear_reasons_and_never_echo_secrets() {
    let cases: Vec<(Vec<u8>, ImportError)> = vec![
        (
            json!({"client_id": "a", "client_secret": "b", "token": "SECRET"})
                .to_string()
                .into_bytes(),
            ImportError::MissingRefreshToken,
        ),
        (
            json!({"type": "service_account", "private_key": "-----BEGIN SECRET", "client_email": "x@y"})
                .to_string()
                .into_bytes(),
            ImportError::ServiceAccount,
        ),
        (b"[{\"refresh_token\": \"SECRET\"}]".to_vec(), ImportError::NotAnObject),
        (b"42".to_vec(), ImportError::NotAnObject),
        (
            json!({"refresh_token": ["SECRET"]}).to_string().into_bytes(),
            ImportError::FieldType {
                field: "refresh_token",
                expected: "a string",
            },
        ),
    ];
    for (bytes, want) in cases {
        let got = parse_json_credential("x.json", &bytes).unwrap_err();
        assert_eq!(got, want);
        assert!(!got.to_string().contains("SECRET"), "{got}");
    }
    for garbage in [
        &b""[..],
        b"\xff\xfe\x00garbage",
        b"{\"refresh_token\": \"SECRET",
        b"refresh_token=SECRET",
    ] {
        let got = parse_json_credential("x.json", garbage).unwrap_err();
        assert!(matches!(got, ImportError::InvalidJson { .. }), "{got:?}");
        assert!(!got.to_string().contains("SECRET"), "{got}");
    }
    assert!(
        ImportError::ServiceAccount
            .to_string()
            .contains("not supported")
    );
}

// ---- export round trips ----------------------------------------------------------------------

#[test]
fn export_json_is_the_reference_format_and_reads_back_identically() {
    let mut original =
        parse_json_credential("p.json", reference_json().to_string().as_bytes()).unwrap();
    original.email = Some("u@example.com".into());
    let exported = original.export_json();
    for key in [
        "client_id",
        "client_secret",
        "token",
        "access_token",
        "refresh_token",
        "scopes",
        "token_uri",
        "project_id",
        "expiry",
        "email",
    ] {
        assert!(exported.get(key).is_some(), "{key} missing");
    }
    assert_eq!(exported["token"], exported["access_token"]);
    assert_eq!(
        exported["expiry"],
        json!("2026-01-10T02:55:29.123456+00:00")
    );
    let back = parse_json_credential("p.json", exported.to_string().as_bytes()).unwrap();
    assert_eq!(back, original);
    // Payload (SQLite form) round trip too.
    let from_db = ImportedCredential::from_payload("p", &original.payload()).unwrap();
    assert_eq!(from_db, original);
    // A credential missing scopes/token_uri gets the defaults on export, then is stable.
    let bare = parse_json_credential("b.json", br#"{"refresh_token":"r"}"#).unwrap();
    let once = bare.export_json();
    assert_eq!(
        once["token_uri"],
        json!("https://oauth2.googleapis.com/token")
    );
    assert_eq!(once["scopes"].as_array().map(Vec::len), Some(3));
    let twice = parse_json_credential("b.json", once.to_string().as_bytes())
        .unwrap()
        .export_json();
    assert_eq!(once, twice);
}

#[test]
fn export_zip_round_trips_with_unique_safe_names() {
    let mut creds: Vec<ImportedCredential> = ["a", "b", "c"]
        .iter()
        .map(|n| {
            parse_json_credential(
                &format!("{n}.json"),
                cred(n, &format!("rt-{n}")).to_string().as_bytes(),
            )
            .unwrap()
        })
        .collect();
    // A legacy name that is not safe as a path, and a clash after sanitizing.
    creds[1].name = "../evil".into();
    creds[2].name = "_evil".into();
    let bytes = export_zip(&creds).unwrap();
    let mut archive = ZipArchive::new(Cursor::new(bytes.as_slice())).unwrap();
    let entry_names: Vec<String> = archive.file_names().map(String::from).collect();
    assert_eq!(entry_names, ["a.json", "_evil.json", "_evil-2.json"]);
    assert_eq!(
        archive.by_index(0).unwrap().compression(),
        CompressionMethod::Deflated
    );
    let report = parse_zip(&bytes, &ZipLimits::default()).unwrap();
    assert!(report.rejected.is_empty(), "{:?}", report.rejected);
    assert_eq!(names(&report.imported), ["a", "_evil", "_evil-2"]);
    for (got, want) in report.imported.iter().zip(&creds) {
        assert_eq!(got.refresh_token, want.refresh_token);
        assert_eq!(got.project_id, want.project_id);
        assert_eq!(got.export_json(), {
            let mut w = want.clone();
            w.name = got.name.clone();
            w.export_json()
        });
    }
}

// ---- ZIP archives ----------------------------------------------------------------------------

#[test]
fn zip_with_bad_entries_still_imports_the_good_ones() {
    let good1 = cred("one", "rt-1").to_string();
    let good2 = cred("two", "rt-2").to_string();
    let bytes = zip_of(&[
        ("creds/one.json", good1.as_bytes()),
        ("broken.json", b"{ not json"),
        ("no-refresh.json", br#"{"token":"x"}"#),
        ("readme.txt", b"hello"),
        ("inner.zip", b"PK\x03\x04"),
        ("__MACOSX/._one.json", b"\x00\x05\x16\x07"),
        ("two.JSON", good2.as_bytes()),
        ("dup/one.json", cred("three", "rt-3").to_string().as_bytes()),
    ]);
    let report = parse_zip(&bytes, &ZipLimits::default()).unwrap();
    assert_eq!(names(&report.imported), ["one", "two", "one-2"]);
    assert!(rejected_reason(&report, "broken.json").contains("not valid JSON"));
    assert!(rejected_reason(&report, "no-refresh.json").contains("refresh_token"));
    assert_eq!(rejected_reason(&report, "readme.txt"), "not a .json file");
    assert!(rejected_reason(&report, "inner.zip").contains("nested"));
    assert_eq!(report.rejected.len(), 4, "{:?}", report.rejected);
}

#[test]
fn zip_traversal_names_are_rejected_one_by_one() {
    let good = cred("ok", "rt-ok").to_string();
    let bad_names = [
        "../x.json",
        "a/../../x.json",
        "/etc/x.json",
        "C:\\x.json",
        "C:/x.json",
        "sub\\x.json",
        "x\0.json",
    ];
    let mut entries: Vec<(&str, &[u8])> = bad_names.iter().map(|n| (*n, good.as_bytes())).collect();
    entries.push(("ok.json", good.as_bytes()));
    let report = parse_zip(&zip_of(&entries), &ZipLimits::default()).unwrap();
    assert_eq!(names(&report.imported), ["ok"]);
    assert_eq!(
        report.rejected.len(),
        bad_names.len(),
        "{:?}",
        report.rejected
    );
    for (name, reason) in &report.rejected {
        assert!(reason.starts_with("unsafe name"), "{name}: {reason}");
        assert!(!name.contains('\0'), "shown names are cleaned");
    }
    let reasons: Vec<&str> = report.rejected.iter().map(|(_, r)| r.as_str()).collect();
    assert!(reasons.iter().any(|r| r.contains("traversal")));
    assert!(reasons.iter().any(|r| r.contains("absolute")));
    assert!(reasons.iter().any(|r| r.contains("drive letter")));
    assert!(reasons.iter().any(|r| r.contains("backslash")));
    assert!(reasons.iter().any(|r| r.contains("NUL")));
}

#[test]
fn archive_level_limits_fail_the_whole_archive() {
    let good = cred("a", "rt-a").to_string();
    let bytes = zip_of(&[("a.json", good.as_bytes()), ("b.json", good.as_bytes())]);

    let small = ZipLimits {
        max_archive_bytes: bytes.len() as u64 - 1,
        ..ZipLimits::default()
    };
    assert_eq!(
        parse_zip(&bytes, &small),
        Err(ImportError::ArchiveTooLarge {
            size: bytes.len() as u64,
            limit: bytes.len() as u64 - 1
        })
    );

    let few = ZipLimits {
        max_entries: 1,
        ..ZipLimits::default()
    };
    assert_eq!(
        parse_zip(&bytes, &few),
        Err(ImportError::TooManyEntries { count: 2, limit: 1 })
    );

    assert!(matches!(
        parse_zip(b"definitely not a zip", &ZipLimits::default()),
        Err(ImportError::NotAZip(_))
    ));
    assert!(matches!(
        parse_zip(&[], &ZipLimits::default()),
        Err(ImportError::NotAZip(_))
    ));
}

#[test]
fn too_many_entries_at_default_limit() {
    let entries: Vec<(String, Vec<u8>)> = (0..1001)
        .map(|i| (format!("{i}.json"), b"{}".to_vec()))
        .collect();
    let refs: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(n, b)| (n.as_str(), b.as_slice()))
        .collect();
    assert_eq!(
        parse_zip(&zip_of(&refs), &ZipLimits::default()),
        Err(ImportError::TooManyEntries {
            count: 1001,
            limit: 1000
        })
    );
}

#[test]
fn total_expansion_is_bounded_across_entries() {
    let padded = |rt: &str| {
        let mut s = cred(rt, rt).to_string();
        s.push_str(&" ".repeat(900 - s.len()));
        s
    };
    let (a, b, c) = (padded("a"), padded("b"), padded("c"));
    let bytes = zip_of(&[
        ("a.json", a.as_bytes()),
        ("b.json", b.as_bytes()),
        ("c.json", c.as_bytes()),
    ]);
    let limits = ZipLimits {
        max_entry_bytes: 1000,
        max_total_uncompressed: 2500,
        ..ZipLimits::default()
    };
    assert_eq!(
        parse_zip(&bytes, &limits),
        Err(ImportError::ArchiveExpandsTooMuch { limit: 2500 })
    );
    let roomy = ZipLimits {
        max_total_uncompressed: 2700,
        ..limits
    };
    assert_eq!(parse_zip(&bytes, &roomy).unwrap().imported.len(), 3);
}

#[test]
fn deflate_bomb_entry_is_rejected_and_others_survive() {
    let zeros = vec![0u8; 3 << 20];
    let good = cred("ok", "rt-ok").to_string();
    let bytes = zip_of(&[("bomb.json", &zeros), ("ok.json", good.as_bytes())]);
    assert!(bytes.len() < 64 << 10, "compresses well: {}", bytes.len());
    let report = parse_zip(&bytes, &ZipLimits::default()).unwrap();
    assert_eq!(names(&report.imported), ["ok"]);
    assert!(rejected_reason(&report, "bomb.json").contains("larger than the limit"));
}

/// Rewrites the uncompressed size of entry `index` in its local and central headers.
fn patch_uncompressed_size(bytes: &mut [u8], index: usize, size: u32) {
    let (local, central) = {
        let mut archive = ZipArchive::new(Cursor::new(&*bytes)).unwrap();
        let entry = archive.by_index(index).unwrap();
        (
            entry.header_start() as usize,
            entry.central_header_start() as usize,
        )
    };
    assert_eq!(&bytes[local..local + 4], b"PK\x03\x04");
    assert_eq!(&bytes[central..central + 4], b"PK\x01\x02");
    bytes[local + 22..local + 26].copy_from_slice(&size.to_le_bytes());
    bytes[central + 24..central + 28].copy_from_slice(&size.to_le_bytes());
}

#[test]
fn lying_header_cannot_smuggle_an_oversized_entry() {
    // Valid JSON, so only the size bound can refuse it.
    let mut body = cred("liar", "rt-liar").to_string();
    body.push_str(&" ".repeat(2 << 20));
    let good = cred("ok", "rt-ok").to_string();
    let mut bytes = zip_of(&[("liar.json", body.as_bytes()), ("ok.json", good.as_bytes())]);
    patch_uncompressed_size(&mut bytes, 0, 100);
    let claimed = ZipArchive::new(Cursor::new(bytes.as_slice()))
        .unwrap()
        .by_index(0)
        .unwrap()
        .size();
    assert_eq!(claimed, 100, "the header now lies");

    let report = parse_zip(&bytes, &ZipLimits::default()).unwrap();
    assert_eq!(names(&report.imported), ["ok"]);
    assert!(
        rejected_reason(&report, "liar.json").contains("larger than the limit"),
        "{:?}",
        report.rejected
    );
}

// ---- uploads -----------------------------------------------------------------------------

#[test]
fn upload_dispatches_on_extension_and_strips_paths() {
    let limits = ZipLimits::default();
    let json = reference_json().to_string();
    let r = parse_upload("../../etc/My Creds<1>.json", json.as_bytes(), &limits).unwrap();
    assert_eq!(names(&r.imported), ["My_Creds_1_"]);

    let r = parse_upload("C:\\Users\\me\\bad.json", b"{}", &limits).unwrap();
    assert!(r.imported.is_empty());
    assert_eq!(r.rejected[0].0, "bad.json");

    let zip = zip_of(&[("x.json", json.as_bytes())]);
    let r = parse_upload("bundle.ZIP", &zip, &limits).unwrap();
    assert_eq!(names(&r.imported), ["x"]);

    assert_eq!(
        parse_upload("creds.txt", json.as_bytes(), &limits),
        Err(ImportError::UnsupportedFileType)
    );
    assert!(matches!(
        parse_upload("fake.zip", json.as_bytes(), &limits),
        Err(ImportError::NotAZip(_))
    ));

    let tight = ZipLimits {
        max_entry_bytes: 10,
        ..limits
    };
    let r = parse_upload("big.json", json.as_bytes(), &tight).unwrap();
    assert!(rejected_reason(&r, "big.json").contains("larger than the limit"));
}

// ---- env and directory -----------------------------------------------------------------------

#[test]
fn env_accepts_json_and_base64_and_reports_bad_values_by_name_only() {
    let oauth_creds = json!({"refresh_token": "rt-env-b64", "expiry_date": 1_767_000_000_000_i64});
    let env: HashMap<String, String> = [
        ("GCLI_CREDS_10", cred("ten", "rt-10").to_string()),
        ("GCLI_CREDS_2", STANDARD.encode(oauth_creds.to_string())),
        ("GCLI_CREDS_my_project", cred("mine", "rt-mine").to_string()),
        (
            "GOOGLE_CREDENTIALS",
            STANDARD.encode(cred("g", "rt-g").to_string()),
        ),
        ("GCLI_CREDS_3", "SECRET-but-not-base64!".to_string()),
        ("GCLI_CREDS_4", STANDARD.encode("[\"SECRET\"]")),
        ("GCLI_CREDS_5", "   ".to_string()),
        ("PATH", "/usr/bin".to_string()),
        ("GOOGLE_APPLICATION_CREDENTIALS", "/x.json".to_string()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let report = parse_env(&env);
    assert_eq!(
        names(&report.imported),
        [
            "env-GCLI_CREDS_2",
            "env-GCLI_CREDS_10",
            "env-GCLI_CREDS_my_project",
            "env-GOOGLE_CREDENTIALS"
        ]
    );
    let b64 = &report.imported[0];
    assert_eq!(b64.refresh_token, "rt-env-b64");
    assert_eq!(b64.client_id, GEMINI_CLI_CLIENT_ID);
    assert_eq!(b64.expiry.unwrap().timestamp(), 1_767_000_000);
    assert_eq!(report.rejected.len(), 2, "{:?}", report.rejected);
    assert!(rejected_reason(&report, "GCLI_CREDS_3").contains("base64"));
    assert!(rejected_reason(&report, "GCLI_CREDS_4").contains("not a JSON object"));
    for (_, reason) in &report.rejected {
        assert!(!reason.contains("SECRET"), "{reason}");
    }
    // Stable names: the same environment imports under the same names on every start.
    assert_eq!(parse_env(&env), report);
}

#[test]
fn scan_dir_reads_json_and_zip_and_skips_links() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path();
    std::fs::write(p.join("b.json"), cred("b", "rt-b").to_string()).unwrap();
    std::fs::write(p.join("bad.json"), "{").unwrap();
    std::fs::write(p.join("notes.txt"), "ignored").unwrap();
    std::fs::write(
        p.join("pack.zip"),
        zip_of(&[
            ("b.json", cred("b2", "rt-b2").to_string().as_bytes()),
            ("c.json", cred("c", "rt-c").to_string().as_bytes()),
            ("../evil.json", b"{}"),
        ]),
    )
    .unwrap();
    std::fs::write(p.join("broken.zip"), "not a zip").unwrap();
    std::fs::create_dir(p.join("sub")).unwrap();
    std::fs::write(p.join("sub/deep.json"), cred("deep", "rt-deep").to_string()).unwrap();
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("t.json"), cred("t", "rt-t").to_string()).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(outside.path().join("t.json"), p.join("link.json")).unwrap();

    let report = scan_dir(p, &ZipLimits::default());
    assert_eq!(names(&report.imported), ["b", "b-2", "c"]);
    assert_eq!(report.imported[1].refresh_token, "rt-b2");
    assert!(rejected_reason(&report, "bad.json").contains("not valid JSON"));
    assert!(rejected_reason(&report, "broken.zip").contains("not a readable ZIP"));
    assert!(rejected_reason(&report, "pack.zip: ../evil.json").contains("unsafe name"));
    #[cfg(unix)]
    assert!(rejected_reason(&report, "link.json").contains("symbolic link"));

    let missing = scan_dir(&p.join("nope"), &ZipLimits::default());
    assert!(missing.imported.is_empty());
    assert!(missing.rejected[0].1.contains("cannot read directory"));
}

#[test]
fn scan_dir_bounds_file_sizes() {
    let dir = tempfile::tempdir().unwrap();
    let mut body = cred("big", "rt-big").to_string();
    body.push_str(&" ".repeat(200));
    std::fs::write(dir.path().join("big.json"), body).unwrap();
    let limits = ZipLimits {
        max_entry_bytes: 100,
        ..ZipLimits::default()
    };
    let report = scan_dir(dir.path(), &limits);
    assert!(report.imported.is_empty());
    assert!(rejected_reason(&report, "big.json").contains("larger than the limit of 100"));
}

// ---- duplicates and source precedence -------------------------------------------------------

#[test]
fn duplicates_by_refresh_token_or_account() {
    let a = parse_json_credential(
        "a.json",
        json!({"refresh_token": "rt-a", "email": "u@x.com", "project_id": "p"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    let existing = vec![ExistingKey {
        name: "stored".into(),
        refresh_token_sha256: a.refresh_token_sha256(),
        email: Some("u@x.com".into()),
        project_id: Some("p".into()),
    }];
    assert_eq!(
        find_duplicate(&a, &existing),
        Some(Duplicate::SameRefreshToken {
            existing: "stored".into()
        })
    );
    let same_account = parse_json_credential(
        "b.json",
        json!({"refresh_token": "rt-b", "email": "U@X.COM", "project_id": "p"})
            .to_string()
            .as_bytes(),
    )
    .unwrap();
    assert_eq!(
        find_duplicate(&same_account, &existing),
        Some(Duplicate::SameAccount {
            existing: "stored".into()
        })
    );
    let sha = a.refresh_token_sha256();
    assert_eq!(sha.len(), 64);
    assert!(sha.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(!sha.contains("rt-a"));

    let batch = parse_zip(
        &zip_of(&[
            ("one.json", cred("one", "rt-same").to_string().as_bytes()),
            ("two.json", cred("two", "rt-same").to_string().as_bytes()),
        ]),
        &ZipLimits::default(),
    )
    .unwrap();
    let (kept, dropped) = dedup_batch(batch.imported);
    assert_eq!(names(&kept), ["one"]);
    assert_eq!(
        dropped,
        [(
            "two".to_string(),
            Duplicate::SameRefreshToken {
                existing: "one".into()
            }
        )]
    );
}

#[test]
fn env_takes_precedence_over_directory_for_the_same_account() {
    let env: HashMap<String, String> = [(
        "GCLI_CREDS_1".to_string(),
        json!({"refresh_token": "rt-shared", "email": "u@x.com"}).to_string(),
    )]
    .into();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("a.json"),
        json!({"refresh_token": "rt-shared"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("b.json"),
        json!({"refresh_token": "rt-other", "email": "u@x.com"}).to_string(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("c.json"),
        json!({"refresh_token": "rt-c"}).to_string(),
    )
    .unwrap();
    let (merged, notes) =
        merge_sources(parse_env(&env), scan_dir(dir.path(), &ZipLimits::default()));
    let got: Vec<(CredentialSource, &str)> =
        merged.iter().map(|(s, c)| (*s, c.name.as_str())).collect();
    assert_eq!(
        got,
        [
            (CredentialSource::Env, "env-GCLI_CREDS_1"),
            (CredentialSource::Dir, "c")
        ]
    );
    assert_eq!(notes.len(), 2, "{notes:?}");
    assert!(notes[0].contains("\"a\"") && notes[0].contains("same refresh token"));
    assert!(notes[1].contains("\"b\"") && notes[1].contains("same account"));
    for note in &notes {
        assert!(!note.contains("rt-"), "{note}");
    }
    // The row the service inserts.
    let row = merged[1].1.to_new_credential(CredentialSource::Dir);
    assert_eq!(row.name, "c");
    assert_eq!(row.payload["refresh_token"], json!("rt-c"));
    assert_eq!(
        row.refresh_token_sha256.as_deref(),
        Some(merged[1].1.refresh_token_sha256().as_str())
    );
}

// ---- robustness ------------------------------------------------------------------------------

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn parse_zip_never_panics_on_arbitrary_bytes(bytes in proptest::collection::vec(any::<u8>(), 0..4096)) {
        let _ = parse_zip(&bytes, &ZipLimits::default());
    }

    #[test]
    fn parse_zip_never_panics_on_corrupted_archives(
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..8),
        cut in any::<prop::sample::Index>(),
    ) {
        let good = cred("a", "rt-a").to_string();
        let mut bytes = zip_of(&[("a.json", good.as_bytes()), ("b/c.json", b"{}"), ("d.txt", b"x")]);
        for (at, value) in flips {
            let i = at.index(bytes.len());
            bytes[i] = value;
        }
        let keep = cut.index(bytes.len() + 1);
        let _ = parse_zip(&bytes[..keep.max(bytes.len() / 2)], &ZipLimits::default());
        let _ = parse_zip(&bytes, &ZipLimits::default());
    }

    #[test]
    fn parse_json_credential_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..512), hint in ".{0,40}") {
        if let Ok(c) = parse_json_credential(&hint, &bytes) {
            prop_assert!(!c.name.contains(['/', '\\', '\0']));
            prop_assert!(!c.name.is_empty());
        }
    }
}
