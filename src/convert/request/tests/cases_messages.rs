use serde_json::json;

use super::*;

#[test]
fn case_01_leading_system_becomes_system_instruction() {
    let r = req(json!([
        {"role": "system", "content": "S1"},
        {"role": "user", "content": "U"}
    ]));
    assert_eq!(r["systemInstruction"], json!({"parts": [{"text": "S1"}]}));
    assert_eq!(
        r["contents"],
        json!([{"role": "user", "parts": [{"text": "U"}]}])
    );
}

#[test]
fn case_02_later_system_is_demoted_not_merged() {
    let r = req(json!([
        {"role": "system", "content": "A"},
        {"role": "system", "content": [{"type": "text", "text": "B"}, {"type": "text", "text": "  "}]},
        {"role": "user", "content": "U"},
        {"role": "system", "content": "C"},
        {"role": "user", "content": "V"}
    ]));
    assert_eq!(
        r["systemInstruction"]["parts"],
        json!([{"text": "A"}, {"text": "B"}])
    );
    assert_eq!(
        r["contents"],
        json!([
            {"role": "user", "parts": [{"text": "U"}]},
            {"role": "user", "parts": [{"text": "C"}]},
            {"role": "user", "parts": [{"text": "V"}]}
        ])
    );
}

#[test]
fn case_03_compatibility_mode_makes_system_a_user_turn() {
    let body = json!({"model": "gemini-2.5-pro", "messages": [
        {"role": "system", "content": "S"},
        {"role": "developer", "content": "D"},
        {"role": "user", "content": "U"}
    ]});
    let o = ConvertOptions {
        compatibility_mode: true,
        return_thoughts: true,
        ..ConvertOptions::default()
    };
    let r = openai_to_gemini(&body, &o).unwrap().request;
    assert!(r.get("systemInstruction").is_none());
    assert_eq!(
        r["contents"],
        json!([
            {"role": "user", "parts": [{"text": "S"}]},
            {"role": "user", "parts": [{"text": "D"}]},
            {"role": "user", "parts": [{"text": "U"}]}
        ])
    );
}

#[test]
fn case_04_developer_is_system() {
    let r = req(json!([
        {"role": "developer", "content": "D"},
        {"role": "system", "content": "S"},
        {"role": "user", "content": "U"}
    ]));
    assert_eq!(
        r["systemInstruction"]["parts"],
        json!([{"text": "D"}, {"text": "S"}])
    );
    assert_eq!(r["contents"].as_array().unwrap().len(), 1);
}

#[test]
fn case_05_system_only_gets_fallback_user_turn() {
    let r = req(json!([{"role": "system", "content": "S"}]));
    assert_eq!(r["systemInstruction"]["parts"], json!([{"text": "S"}]));
    assert_eq!(
        r["contents"],
        json!([{"role": "user", "parts": [{"text": SYSTEM_ONLY_FALLBACK}]}])
    );
}

#[test]
fn case_06_text_and_data_url_image() {
    let r = req(json!([{"role": "user", "content": [
        {"type": "text", "text": "look  "},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA", "detail": "high"}},
        {"type": "image_url", "image_url": {"url": "data:image/jpeg;charset=x;name=a.jpg;base64,BBBB"}},
        {"type": "image_url", "image_url": "data:image/gif;base64,CCCC"}
    ]}]));
    assert_eq!(
        r["contents"][0]["parts"],
        json!([
            {"text": "look"},
            {"inlineData": {"mimeType": "image/png", "data": "AAAA"}},
            {"inlineData": {"mimeType": "image/jpeg", "data": "BBBB"}},
            {"inlineData": {"mimeType": "image/gif", "data": "CCCC"}}
        ])
    );
}

#[test]
fn case_07_remote_image_url_is_rejected_fix() {
    let err = convert_err(json!({"model": "gemini-2.5-pro", "messages": [
        {"role": "user", "content": "hi"},
        {"role": "user", "content": [{"type": "image_url", "image_url": {"url": "https://x/y.png"}}]}
    ]}));
    assert_eq!(
        err,
        ConvertError::RemoteUrl {
            field: "messages[1].content[0].image_url".into(),
            kind: "image"
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("remote image URLs are not fetched; send a data: URL"),
        "{msg}"
    );
    assert!(msg.contains("messages[1].content[0]"), "{msg}");
}

#[test]
fn case_08_input_audio_file_and_video_ext() {
    let r = req(json!([{"role": "user", "content": [
        {"type": "input_audio", "input_audio": {"data": "QQ==", "format": "mp3"}},
        {"type": "input_audio", "input_audio": {"data": "UQ==", "format": "wav"}},
        {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64,JVBE"}},
        {"type": "file", "file": {"filename": "notes.pdf", "file_data": "JVBF"}},
        {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAB"}}
    ]}]));
    assert_eq!(
        r["contents"][0]["parts"],
        json!([
            {"inlineData": {"mimeType": "audio/mpeg", "data": "QQ=="}},
            {"inlineData": {"mimeType": "audio/wav", "data": "UQ=="}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBE"}},
            {"inlineData": {"mimeType": "application/pdf", "data": "JVBF"}},
            {"inlineData": {"mimeType": "video/mp4", "data": "AAAB"}}
        ])
    );
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "file", "file": {"file_id": "file-123"}}
        ]}]}),
    );
    assert!(
        err.to_string()
            .contains("file_id references are not supported"),
        "{err}"
    );
    let err = convert_err(
        json!({"model": "m", "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "https://youtu.be/x"}}
        ]}]}),
    );
    assert!(err.to_string().contains("remote video URLs"), "{err}");
}

fn tool_f_integer() -> serde_json::Value {
    json!([{"type": "function", "function": {"name": "f", "parameters": {
        "type": "object", "properties": {"n": {"type": "integer"}, "b": {"type": "boolean"}, "s": {"type": "string"}}
    }}}])
}

#[test]
fn case_09_tool_call_id_decoded_args_repaired_bypass_signature() {
    let r = convert(
        json!({"model": "gemini-3-flash-preview", "tools": tool_f_integer(), "messages": [
            {"role": "user", "content": "q"},
            {"role": "assistant", "content": null, "tool_calls": [
                {"id": "call_1__thought__SIG", "type": "function",
                 "function": {"name": "f", "arguments": "{\"n\":\"5\",\"b\":\"yes\",\"s\":true}"}}
            ]}
        ]}),
    )
    .request;
    assert_eq!(
        r["contents"][1],
        json!({"role": "model", "parts": [{
            "functionCall": {"id": "call_1", "name": "f", "args": {"n": 5, "b": true, "s": "true"}},
            "thoughtSignature": "skip_thought_signature_validator"
        }]})
    );
}

#[test]
fn real_thought_signature_is_round_tripped() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1", "function": {"name": "f", "arguments": {"x": 1}},
             "extra_content": {"google": {"thought_signature": "CiQBreal"}}},
            {"id": "c2", "function": {"name": "f", "arguments": "{}"}}
        ]}
    ]));
    let parts = &r["contents"][1]["parts"];
    assert_eq!(parts[0]["thoughtSignature"], "CiQBreal");
    assert_eq!(parts[0]["functionCall"]["args"], json!({"x": 1}));
    assert_eq!(
        parts[1]["thoughtSignature"],
        "skip_thought_signature_validator"
    );
}

#[test]
fn case_10_text_before_function_calls_in_one_model_content() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "content": "let me check", "tool_calls": [
            {"id": "a", "function": {"name": "f", "arguments": "{}"}},
            {"id": "b", "function": {"name": "g", "arguments": "{}"}}
        ]}
    ]));
    let parts = r["contents"][1]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 3);
    assert_eq!(parts[0], json!({"text": "let me check"}));
    assert_eq!(parts[1]["functionCall"]["name"], "f");
    assert_eq!(parts[2]["functionCall"]["name"], "g");
}

#[test]
fn case_11_unparsable_arguments_drop_only_that_call() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [
            {"id": "a", "function": {"name": "f", "arguments": "{bad json"}},
            {"id": "b", "function": {"name": "g", "arguments": "{\"k\":1}"}}
        ]}
    ]));
    let parts = r["contents"][1]["parts"].as_array().unwrap();
    assert_eq!(parts.len(), 1);
    assert_eq!(parts[0]["functionCall"]["name"], "g");
}

#[test]
fn case_12_consecutive_tool_results_form_one_user_content() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [
            {"id": "c1__thought__X", "function": {"name": "f", "arguments": "{}"}},
            {"id": "c2", "function": {"name": "g", "arguments": "{}"}}
        ]},
        {"role": "tool", "tool_call_id": "c1__thought__X", "name": "wrong", "content": "[1,2]"},
        {"role": "tool", "tool_call_id": "c2", "content": "plain"},
        {"role": "user", "content": "next"}
    ]));
    assert_eq!(
        r["contents"][2],
        json!({"role": "user", "parts": [
            {"functionResponse": {"id": "c1", "name": "f", "response": {"result": [1, 2]}}},
            {"functionResponse": {"id": "c2", "name": "g", "response": {"result": "plain"}}}
        ]})
    );
    assert_eq!(
        r["contents"][3],
        json!({"role": "user", "parts": [{"text": "next"}]})
    );
}

#[test]
fn case_13_object_tool_result_used_as_is_and_list_content_fix() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": "{\"ok\":true}"}
    ]));
    assert_eq!(
        r["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"ok": true})
    );

    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "assistant", "tool_calls": [{"id": "c", "function": {"name": "f", "arguments": "{}"}}]},
        {"role": "tool", "tool_call_id": "c", "content": [{"type": "text", "text": "r"}, {"type": "text", "text": "s"}]}
    ]));
    assert_eq!(
        r["contents"][2]["parts"][0]["functionResponse"]["response"],
        json!({"result": "rs"})
    );
}

#[test]
fn case_14_unknown_tool_call_id_without_name() {
    let r = req(json!([
        {"role": "user", "content": "q"},
        {"role": "tool", "tool_call_id": "nope", "content": "x"}
    ]));
    assert_eq!(
        r["contents"][1]["parts"][0]["functionResponse"]["name"],
        "unknown_function"
    );
}

#[test]
fn empty_messages_produce_no_content_and_unknown_roles_fail() {
    let r = req(json!([
        {"role": "user", "content": ""},
        {"role": "assistant", "content": null},
        {"role": "user", "content": [{"type": "refusal", "refusal": "no"}, {"type": "mystery"}]},
        {"role": "user", "content": "real"}
    ]));
    assert_eq!(
        r["contents"],
        json!([{"role": "user", "parts": [{"text": "real"}]}])
    );

    let err = convert_err(json!({"model": "m", "messages": [{"role": "user", "content": "  "}]}));
    assert!(
        err.to_string().contains("no message has any content"),
        "{err}"
    );
    let err = convert_err(json!({"model": "m", "messages": [
        {"role": "user", "content": "q"}, {"role": "robot", "content": "x"}
    ]}));
    assert_eq!(
        err.to_string(),
        "invalid 'messages[1].role': 'robot' is not supported; use system, developer, user, assistant or tool"
    );
}
