use proptest::prelude::*;

use super::*;

fn r(text: &str) -> String {
    redact_with(text, &SecretRegistry::new()).into_owned()
}

#[test]
fn clean_text_is_borrowed_unchanged() {
    let text =
        "2025-01-01T12:34:56Z pool: picked credential a.json model=gemini-2.5-pro max_tokens=100";
    assert!(matches!(
        redact_with(text, &SecretRegistry::new()),
        Cow::Borrowed(_)
    ));
}

#[test]
fn bearer_tokens() {
    assert_eq!(
        r("auth: Bearer abc.DEF-123_x~+/="),
        "auth: Bearer [REDACTED]"
    );
    assert_eq!(r("sent bearer\txyz, then"), "sent bearer\t[REDACTED], then");
    // Prose that happens to follow the word is hidden too: erring on the side of hiding.
    assert_eq!(r("the Bearer scheme"), "the Bearer [REDACTED]");
    // Not the scheme: glued to other letters, or nothing after it.
    assert_eq!(
        r("bearers x, unbearer y, Bearer"),
        "bearers x, unbearer y, Bearer"
    );
}

#[test]
fn google_token_shapes() {
    assert_eq!(r("tok ya29.a0AfB_x-y.z end"), "tok ya29.[REDACTED] end");
    assert_eq!(r("rt=1//0gAbCdEfGhIj-k_l"), "rt=1//[REDACTED]");
    assert_eq!(r("client GOCSPX-AbC123_x"), "client GOCSPX-[REDACTED]");
    assert_eq!(
        r("k AIzaSyA1234567890abcdefghijklmnopqrstu"),
        "k AIza[REDACTED]"
    );
    assert_eq!(r("callback 4/0AX4XfWh_abcdef"), "callback 4/0A[REDACTED]");
    // Too short to be a token, or glued to a word: ordinary text.
    assert_eq!(
        r("prefix ya29. alone, ratio 1//2"),
        "prefix ya29. alone, ratio 1//2"
    );
    assert_eq!(r("xya29.abc"), "xya29.abc");
}

#[test]
fn query_and_form_values() {
    assert_eq!(
        r("GET /v1/models?key=sk-123&alt=sse"),
        "GET /v1/models?key=[REDACTED]&alt=sse"
    );
    assert_eq!(
        r(
            "body grant_type=refresh_token&refresh_token=abc%2F%2Fdef&client_secret=s3cr3t&client_id=id1"
        ),
        "body grant_type=refresh_token&refresh_token=[REDACTED]&client_secret=[REDACTED]&client_id=id1"
    );
    assert_eq!(
        r("access_token=abc password=hunter2 ok"),
        "access_token=[REDACTED] password=[REDACTED] ok"
    );
    assert_eq!(
        r("https://x/cb?state=s7&code=c0de&scope=a"),
        "https://x/cb?state=[REDACTED]&code=[REDACTED]&scope=a"
    );
    // `code` and `state` as plain fields are a status code and a credential state.
    assert_eq!(
        r("upstream error code=429 state=cooling"),
        "upstream error code=429 state=cooling"
    );
}

#[test]
fn tracing_field_values() {
    // `%` fields print bare, `?` fields print quoted with escapes.
    assert_eq!(r("msg token=abc.def"), "msg token=[REDACTED]");
    assert_eq!(r("msg auth=Bearer abc.def x=1"), "msg auth=[REDACTED] x=1");
    assert_eq!(
        r(r#"msg password="p w\"d" user="bob""#),
        r#"msg password="[REDACTED]" user="bob""#
    );
    assert_eq!(
        r("msg accessToken=abc apiKey=def"),
        "msg accessToken=[REDACTED] apiKey=[REDACTED]"
    );
    assert_eq!(
        r("usage max_tokens=5 prompt_token_count=7"),
        "usage max_tokens=5 prompt_token_count=7"
    );
}

#[test]
fn json_string_fields() {
    for name in [
        "access_token",
        "refresh_token",
        "token",
        "password",
        "api_key",
        "client_secret",
        "id_token",
        "code_verifier",
    ] {
        let text = format!(r#"{{"{name}": "v4lue/x", "expiry": 3599}}"#);
        assert_eq!(
            r(&text),
            format!(r#"{{"{name}": "[REDACTED]", "expiry": 3599}}"#),
            "{name}"
        );
    }
    assert_eq!(
        r(r#"{"error":{"code":400,"message":"bad"}}"#),
        r#"{"error":{"code":400,"message":"bad"}}"#
    );
}

#[test]
fn json_inside_a_debug_formatted_string() {
    assert_eq!(
        r(r#"body="{\"refresh_token\":\"zzz\",\"x\":1}""#),
        r#"body="{\"refresh_token\":\"[REDACTED]\",\"x\":1}""#
    );
}

#[test]
fn debug_structs() {
    assert_eq!(
        r(r#"cred=Cred { client_secret: "abc", refresh_token: Some("def"), email: "a@b" }"#),
        r#"cred=Cred { client_secret: "[REDACTED]", refresh_token: Some("[REDACTED]"), email: "a@b" }"#
    );
    // Prose after a colon is not a value.
    assert_eq!(
        r("invalid password: too short"),
        "invalid password: too short"
    );
}

#[test]
fn header_values() {
    assert_eq!(
        r("Authorization: Basic dXNlcjpwYXNz\nnext"),
        "Authorization: [REDACTED]\nnext"
    );
    assert_eq!(r("x-goog-api-key: abc123"), "x-goog-api-key: [REDACTED]");
    assert_eq!(
        r(r#"headers={"authorization": "Bearer t0k", "x-api-key": "k3y", "accept": "*/*"}"#),
        r#"headers={"authorization": "[REDACTED]", "x-api-key": "[REDACTED]", "accept": "*/*"}"#
    );
}

#[test]
fn registered_secrets_anywhere() {
    let reg = SecretRegistry::new();
    reg.register("Zq8s9-opaque-value");
    assert_eq!(
        redact_with("a=1 xxZq8s9-opaque-valueyy é", &reg),
        "a=1 xx[REDACTED]yy é"
    );
}

#[test]
fn multibyte_text_around_matches() {
    assert_eq!(r("令牌 token=值值 后"), "令牌 token=[REDACTED] 后");
    assert_eq!(r("é Bearer x\u{e9}y"), "é Bearer [REDACTED]\u{e9}y");
}

fn secret_strategy() -> impl Strategy<Value = String> {
    "[A-Za-z0-9._/+=-]{6,80}"
        .prop_filter("not part of the marker", |s| !MARKER.contains(s.as_str()))
}

proptest! {
    #[test]
    fn registered_secrets_never_survive(
        secrets in proptest::collection::vec(secret_strategy(), 1..6),
        chunks in proptest::collection::vec(any::<String>(), 1..8),
        picks in proptest::collection::vec(any::<prop::sample::Index>(), 1..8),
    ) {
        let reg = SecretRegistry::new();
        reg.register_many(secrets.iter().map(String::as_str));
        let mut text = String::new();
        for (i, chunk) in chunks.iter().enumerate() {
            text.push_str(chunk);
            if let Some(pick) = picks.get(i) {
                let secret: &String = pick.get(&secrets);
                text.push_str(secret);
            }
        }
        let out = redact_with(&text, &reg);
        for s in &secrets {
            prop_assert!(!out.contains(s.as_str()), "{s:?} survived in {out:?}");
        }
    }

    #[test]
    fn text_without_secrets_or_triggers_is_untouched(text in "[a-z ,.]{0,200}") {
        let reg = SecretRegistry::new();
        reg.register("Zq8s9-opaque-value");
        let out = redact_with(&text, &reg).into_owned();
        prop_assert_eq!(out, text);
    }

    #[test]
    fn never_panics_on_arbitrary_input(text in any::<String>()) {
        let _ = redact_with(&text, &SecretRegistry::new());
    }
}
