use proptest::prelude::*;

use super::*;

fn budget(budget: i64) -> Thinking {
    Thinking::Budget {
        budget,
        include_thoughts: true,
    }
}

fn level(l: &str) -> Thinking {
    Thinking::Level {
        level: l.to_string(),
        include_thoughts: true,
    }
}

/// Every thinking suffix of every model family, as the reference configures it, except that
/// the 3.1-flash-lite and 3.5-flash levels include thoughts (the reference's substring test
/// left them out).
#[test]
fn thinking_table_rows() {
    let rows: Vec<(&str, &str, Thinking)> = vec![
        (
            "gemini-2.5-pro",
            "gemini-2.5-pro",
            Thinking::IncludeOnly(true),
        ),
        ("gemini-2.5-pro-max", "gemini-2.5-pro", budget(32768)),
        ("gemini-2.5-pro-high", "gemini-2.5-pro", budget(16000)),
        ("gemini-2.5-pro-medium", "gemini-2.5-pro", budget(8192)),
        ("gemini-2.5-pro-low", "gemini-2.5-pro", budget(1024)),
        ("gemini-2.5-pro-minimal", "gemini-2.5-pro", budget(128)),
        ("gemini-2.5-pro-nothinking", "gemini-2.5-pro", budget(128)),
        (
            "gemini-2.5-pro-maxthinking",
            "gemini-2.5-pro",
            budget(32768),
        ),
        ("gemini-2.5-flash", "gemini-2.5-flash", Thinking::Default),
        ("gemini-2.5-flash-max", "gemini-2.5-flash", budget(24576)),
        ("gemini-2.5-flash-high", "gemini-2.5-flash", budget(16000)),
        ("gemini-2.5-flash-medium", "gemini-2.5-flash", budget(8192)),
        ("gemini-2.5-flash-low", "gemini-2.5-flash", budget(1024)),
        (
            "gemini-2.5-flash-minimal",
            "gemini-2.5-flash",
            Thinking::Off,
        ),
        (
            "gemini-2.5-flash-nothinking",
            "gemini-2.5-flash",
            Thinking::Off,
        ),
        (
            "gemini-2.5-flash-maxthinking",
            "gemini-2.5-flash",
            budget(24576),
        ),
        (
            "gemini-3-flash-preview",
            "gemini-3-flash-preview",
            Thinking::Default,
        ),
        (
            "gemini-3-flash-preview-high",
            "gemini-3-flash-preview",
            level("high"),
        ),
        (
            "gemini-3-flash-preview-medium",
            "gemini-3-flash-preview",
            level("medium"),
        ),
        (
            "gemini-3-flash-preview-low",
            "gemini-3-flash-preview",
            level("low"),
        ),
        (
            "gemini-3-flash-preview-minimal",
            "gemini-3-flash-preview",
            Thinking::Default,
        ),
        (
            "gemini-3-flash-preview-maxthinking",
            "gemini-3-flash-preview",
            level("high"),
        ),
        (
            "gemini-3-flash-preview-nothinking",
            "gemini-3-flash-preview",
            Thinking::Off,
        ),
        (
            "gemini-3.1-pro-preview",
            "gemini-3.1-pro-preview",
            Thinking::IncludeOnly(true),
        ),
        (
            "gemini-3.1-pro-preview-high",
            "gemini-3.1-pro-preview",
            level("high"),
        ),
        (
            "gemini-3.1-pro-preview-low",
            "gemini-3.1-pro-preview",
            level("low"),
        ),
        (
            "gemini-3.1-pro-preview-medium",
            "gemini-3.1-pro-preview",
            Thinking::IncludeOnly(true),
        ),
        (
            "gemini-3.1-flash-lite",
            "gemini-3.1-flash-lite",
            Thinking::Default,
        ),
        ("gemini-3.5-flash", "gemini-3-flash", Thinking::Default),
        (
            "gemini-3.1-flash-lite-high",
            "gemini-3.1-flash-lite",
            level("high"),
        ),
        (
            "gemini-3.1-flash-lite-medium",
            "gemini-3.1-flash-lite",
            level("medium"),
        ),
        (
            "gemini-3.1-flash-lite-low",
            "gemini-3.1-flash-lite",
            level("low"),
        ),
        ("gemini-3.5-flash-high", "gemini-3-flash", level("high")),
        ("gemini-3.5-flash-medium", "gemini-3-flash", level("medium")),
        ("gemini-3.5-flash-low", "gemini-3-flash", level("low")),
        (
            "gemini-3.1-flash-lite-minimal",
            "gemini-3.1-flash-lite",
            Thinking::Default,
        ),
        (
            "gemini-3.5-flash-minimal",
            "gemini-3-flash",
            Thinking::Default,
        ),
    ];
    for (name, base, thinking) in rows {
        let r = resolve(name).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(r.base, base, "{name}");
        assert_eq!(r.thinking, thinking, "{name}");
        assert_eq!(r.requested, name);
        assert!(!r.search);
        assert_eq!(r.mode, StreamMode::Normal);
    }
}

#[test]
fn prefixes_select_stream_mode_and_are_stripped_from_requested() {
    let cases = [
        ("假流式/gemini-2.5-pro", StreamMode::FakeStream),
        ("fake-stream/gemini-2.5-pro", StreamMode::FakeStream),
        ("gemini-2.5-pro-假流式", StreamMode::FakeStream),
        ("流式抗截断/gemini-2.5-pro", StreamMode::AntiTruncation),
        ("anti-truncation/gemini-2.5-pro", StreamMode::AntiTruncation),
        ("models/假流式/gemini-2.5-pro", StreamMode::FakeStream),
        ("models/gemini-2.5-pro", StreamMode::Normal),
    ];
    for (name, mode) in cases {
        let r = resolve(name).expect(name);
        assert_eq!(r.mode, mode, "{name}");
        assert_eq!(r.requested, "gemini-2.5-pro", "{name}");
        assert_eq!(r.base, "gemini-2.5-pro", "{name}");
    }
}

#[test]
fn features_combine() {
    let r = resolve("流式抗截断/gemini-2.5-pro-maxthinking-search").unwrap();
    assert_eq!(r.mode, StreamMode::AntiTruncation);
    assert_eq!(r.requested, "gemini-2.5-pro-maxthinking-search");
    assert_eq!(r.base, "gemini-2.5-pro");
    assert_eq!(r.thinking, budget(32768));
    assert!(r.search);

    // -search before the thinking suffix is accepted too.
    let r = resolve("假流式/gemini-2.5-flash-search-high").unwrap();
    assert_eq!(r.base, "gemini-2.5-flash");
    assert!(r.search);
    assert_eq!(r.thinking, budget(16000));
    assert_eq!(r.mode, StreamMode::FakeStream);

    let r = resolve("gemini-3.5-flash-low-search-假流式").unwrap();
    assert_eq!(r.base, "gemini-3-flash");
    assert_eq!(r.requested, "gemini-3.5-flash-low-search");
    assert_eq!(r.mode, StreamMode::FakeStream);
    assert!(r.search);
}

#[test]
fn legacy_think_suffix_only_strips_for_flash() {
    assert_eq!(
        resolve("gemini-2.5-flash-think").unwrap().thinking,
        Thinking::Default
    );
    assert_eq!(
        resolve("gemini-2.5-pro-think").unwrap().thinking,
        Thinking::IncludeOnly(true)
    );
    assert_eq!(
        resolve("gemini-2.5-pro-think").unwrap().base,
        "gemini-2.5-pro"
    );
}

#[test]
fn gemini3_max_means_high_level() {
    assert_eq!(
        resolve("gemini-3.1-pro-preview-max").unwrap().thinking,
        level("high")
    );
}

#[test]
fn unknown_plausible_names_pass_through() {
    let r = resolve("gemini-2.0-flash-exp").unwrap();
    assert_eq!(r.base, "gemini-2.0-flash-exp");
    assert_eq!(r.thinking, Thinking::Default);
    let r = resolve("gemma-4-31b-it-search").unwrap();
    assert_eq!(r.base, "gemma-4-31b-it");
    assert!(r.search);
    // Unknown family: budgets like 2.5, no implicit includeThoughts for "pro".
    assert_eq!(
        resolve("gemini-1.5-pro").unwrap().thinking,
        Thinking::Default
    );
    assert_eq!(
        resolve("gemini-1.5-pro-high").unwrap().thinking,
        budget(16000)
    );
    // Suffix-looking words inside an id are left alone.
    let r = resolve("gemini-2.5-flash-lite").unwrap();
    assert_eq!(r.base, "gemini-2.5-flash-lite");
    let r = resolve("gemini-3.1-pro-preview-customtools").unwrap();
    assert_eq!(r.base, "gemini-3.1-pro-preview-customtools");
}

#[test]
fn garbage_names_are_rejected_with_clear_errors() {
    assert_eq!(resolve(""), Err(ModelError::Empty));
    assert_eq!(resolve("   "), Err(ModelError::Empty));
    assert_eq!(resolve("假流式/"), Err(ModelError::Empty));
    assert!(matches!(
        resolve("gemini 2.5 pro"),
        Err(ModelError::Invalid(_))
    ));
    assert!(matches!(
        resolve("../etc/passwd"),
        Err(ModelError::Invalid(_))
    ));
    assert!(matches!(resolve("-high"), Err(ModelError::Invalid(_))));
    assert!(matches!(
        resolve("x/gemini-2.5-pro"),
        Err(ModelError::Invalid(_))
    ));
    assert!(matches!(
        resolve(&"a".repeat(200)),
        Err(ModelError::TooLong(_))
    ));
    assert!(matches!(
        resolve("gemini-2.5-pro-high-low"),
        Err(ModelError::ConflictingSuffixes { .. })
    ));
    assert!(matches!(
        resolve("gemini-2.5-pro-search-search"),
        Err(ModelError::ConflictingSuffixes { .. })
    ));
    assert!(matches!(
        resolve("假流式/流式抗截断/gemini-2.5-pro"),
        Err(ModelError::ConflictingModes(_))
    ));
    let msg = resolve("gemini 2.5").unwrap_err().to_string();
    assert!(msg.contains("gemini 2.5"), "{msg}");
}

#[test]
fn reasoning_effort_maps_per_family() {
    let flash25 = Family::of("gemini-2.5-flash");
    let pro25 = Family::of("gemini-2.5-pro");
    let flash3 = Family::of("gemini-3-flash-preview");
    let pro3 = Family::of("gemini-3.1-pro-preview");
    let re = reasoning_effort_thinking;
    assert_eq!(re(flash25, "none").unwrap(), Thinking::Off);
    assert_eq!(
        re(pro25, "none").unwrap(),
        Thinking::Budget {
            budget: 128,
            include_thoughts: false
        }
    );
    assert_eq!(re(flash25, "minimal").unwrap(), budget(512));
    assert_eq!(re(flash25, "low").unwrap(), budget(1024));
    assert_eq!(re(flash25, "MEDIUM").unwrap(), budget(8192));
    assert_eq!(re(flash25, "high").unwrap(), budget(24576));
    assert_eq!(re(flash25, "xhigh").unwrap(), budget(24576));
    assert_eq!(re(pro25, "xhigh").unwrap(), budget(32768));
    assert_eq!(re(pro25, "auto").unwrap(), budget(-1));
    assert_eq!(re(flash3, "minimal").unwrap(), level("minimal"));
    assert_eq!(re(flash3, "medium").unwrap(), level("medium"));
    assert_eq!(re(pro3, "medium").unwrap(), level("high"));
    assert_eq!(re(pro3, "minimal").unwrap(), level("low"));
    assert_eq!(
        re(flash3, "none").unwrap(),
        Thinking::Level {
            level: "minimal".into(),
            include_thoughts: false
        }
    );
    assert_eq!(re(flash3, "auto").unwrap(), Thinking::Default);
    assert_eq!(
        re(flash3, "extreme"),
        Err(ReasoningEffortError("extreme".into()))
    );
}

fn defaults() -> Vec<String> {
    DEFAULT_BASE_MODELS.iter().map(|s| s.to_string()).collect()
}

#[test]
fn case_49_model_lists() {
    let ids = openai_model_ids(&defaults(), &[]);
    assert_eq!(ids.len(), 180);
    let unique: std::collections::HashSet<_> = ids.iter().collect();
    assert_eq!(unique.len(), 180, "ids are unique");
    assert_eq!(ids.iter().filter(|i| !i.contains('/')).count(), 60);
    for id in [
        "gemini-2.5-pro-max-search",
        "假流式/gemini-3.1-pro-preview-low",
        "流式抗截断/gemini-3.5-flash-minimal-search",
    ] {
        assert!(ids.iter().any(|i| i == id), "{id}");
    }
    assert!(!ids.iter().any(|i| i == "gemini-3.1-pro-preview-medium"));
    // Every listed id resolves.
    for id in &ids {
        resolve(id).unwrap_or_else(|e| panic!("{id}: {e}"));
    }

    let entries = gemini_model_entries(&defaults(), &[]);
    assert_eq!(entries.len(), 180);
    let fake = entries
        .iter()
        .find(|e| e["name"] == "models/假流式/gemini-2.5-pro")
        .expect("fake-stream entry");
    assert_eq!(fake["baseModelId"], "gemini-2.5-pro");
    assert_eq!(fake["displayName"], "假流式/gemini-2.5-pro");
    assert_eq!(fake["version"], "001");
    assert_eq!(fake["supportedGenerationMethods"][0], "generateContent");
    assert!(fake["inputTokenLimit"].as_u64().is_some());
}

#[test]
fn model_list_for_unknown_base_has_plain_and_search() {
    let ids = openai_model_ids(&["gemma-4-31b-it".to_string()], &[]);
    assert_eq!(ids.len(), 6);
    assert!(ids.contains(&"流式抗截断/gemma-4-31b-it-search".to_string()));
}

proptest! {
    #[test]
    fn resolve_never_panics(name in "\\PC{0,64}") {
        let _ = resolve(&name);
    }

    #[test]
    fn resolving_requested_is_idempotent(
        prefix in prop::sample::select(vec!["", "假流式/", "流式抗截断/", "models/", "fake-stream/"]),
        base in "[a-z][a-z0-9.]{0,10}(-[a-z0-9]{1,6}){0,3}",
        think in prop::sample::select(vec!["", "-high", "-low", "-max", "-minimal", "-medium", "-nothinking"]),
        search in any::<bool>(),
    ) {
        let name = format!("{prefix}{base}{think}{}", if search { "-search" } else { "" });
        if let Ok(r) = resolve(&name) {
            let again = resolve(&r.requested).expect("requested resolves");
            prop_assert_eq!(&again.requested, &r.requested);
            prop_assert_eq!(&again.base, &r.base);
            prop_assert_eq!(&again.thinking, &r.thinking);
            prop_assert_eq!(again.search, r.search);
            // The base id has no feature suffix left (except the 3.5 mapping target).
            let base_again = resolve(&r.base).expect("base resolves");
            prop_assert!(!base_again.search);
        }
    }
}

#[test]
fn aliases_apply_to_the_base_name_and_keep_features() {
    let a = Aliases::defaults();
    let m = resolve_with("fake-stream/claude-sonnet-4-5", &a).unwrap();
    assert_eq!(
        m.requested, "claude-sonnet-4-5",
        "the client's name is echoed"
    );
    assert_eq!(m.base, "gemini-2.5-pro");
    assert_eq!(m.mode, StreamMode::FakeStream);
    assert_eq!(
        m.thinking,
        Thinking::IncludeOnly(true),
        "pro family rules apply"
    );
    let m = resolve_with("gpt-5-codex-high-search", &a).unwrap();
    assert_eq!(m.base, "gemini-2.5-pro");
    assert!(m.search);
    assert_eq!(m.thinking, budget(16000));
    let m = resolve_with("claude-haiku-4-5-20251001", &a).unwrap();
    assert_eq!(m.base, "gemini-2.5-flash");
    // A pattern picked from the model list resolves too.
    let m = resolve_with("claude-sonnet-*", &a).unwrap();
    assert_eq!(m.base, "gemini-2.5-pro");
    // Without aliases, the name goes upstream as sent.
    assert_eq!(
        resolve("claude-sonnet-4-5").unwrap().base,
        "claude-sonnet-4-5"
    );
    assert_eq!(
        resolve_with("gemini-2.5-flash", &a).unwrap().base,
        "gemini-2.5-flash"
    );
    // A custom table: first match wins, an alias may point at a Gemini 3 model.
    let custom =
        Aliases::parse(["team-*=gemini-3-flash-preview", "team-pro=gemini-2.5-pro"]).unwrap();
    let m = resolve_with("team-pro-high", &custom).unwrap();
    assert_eq!(m.base, "gemini-3-flash-preview");
    assert_eq!(m.thinking, level("high"));
}

#[test]
fn kind_pins_combine_with_stream_prefixes_in_any_order() {
    let m = resolve("vertex/gemini-2.5-pro").unwrap();
    assert_eq!(
        (m.base.as_str(), m.pin),
        ("gemini-2.5-pro", Some(Pin::Vertex))
    );
    assert_eq!(m.requested, "gemini-2.5-pro");
    let m = resolve("假流式/aistudio/gemini-2.5-flash-high-search").unwrap();
    assert_eq!(m.pin, Some(Pin::AiStudio));
    assert_eq!(m.mode, StreamMode::FakeStream);
    assert!(m.search);
    let m = resolve("code-assist/anti-truncation/models/gemini-2.5-pro").unwrap();
    assert_eq!(
        (m.pin, m.mode),
        (Some(Pin::CodeAssist), StreamMode::AntiTruncation)
    );
    assert_eq!(
        resolve("vertex/vertex/gemini-2.5-pro").unwrap().pin,
        Some(Pin::Vertex)
    );
    assert_eq!(
        resolve("vertex/aistudio/gemini-2.5-pro"),
        Err(ModelError::ConflictingPins(
            "vertex/aistudio/gemini-2.5-pro".into()
        ))
    );
    assert_eq!(resolve("gemini-2.5-pro").unwrap().pin, None);
}

#[test]
fn pins_are_listed_only_when_asked_for() {
    let base = vec!["gemini-2.5-pro".to_string()];
    let plain = openai_model_ids(&base, &[]);
    assert!(!plain.iter().any(|m| m.starts_with("vertex/")));
    let ids = openai_model_ids(&base, &[Pin::Vertex]);
    assert!(ids.contains(&"vertex/gemini-2.5-pro".to_string()));
    assert!(ids.contains(&"vertex/gemini-2.5-pro-search".to_string()));
    assert!(!ids.iter().any(|m| m.starts_with("aistudio/")));
    assert_eq!(ids.len(), plain.len() + plain.len() / 3);
    let entries = gemini_model_entries(&base, &[Pin::AiStudio]);
    let pinned = entries
        .iter()
        .find(|e| e["name"] == "models/aistudio/gemini-2.5-pro")
        .unwrap();
    assert_eq!(pinned["baseModelId"], "gemini-2.5-pro");
}
