//! OpenAI content parts → Gemini parts.
//!
//! Media must be inline: `data:` URLs (any `;` parameters, base64 payload) become
//! `inlineData`. Remote `http(s)` image URLs have already been fetched and inlined by the
//! handler's pre-pass (`crate::remote`) when fetching is on; any that remain are rejected with a
//! clear error instead of being silently dropped (the reference's behaviour).
use serde_json::{Value, json};

use super::ConvertError;
use crate::wire::openai::{ContentPart, FileRef, InputAudio, MessageContent};

/// Convert message content; `field` is the content's path, e.g. `messages[2].content`.
pub(super) fn content_parts(
    content: Option<&MessageContent>,
    field: &str,
) -> Result<Vec<Value>, ConvertError> {
    match content {
        None => Ok(Vec::new()),
        Some(MessageContent::Text(t)) => Ok(if t.is_empty() {
            Vec::new()
        } else {
            vec![json!({"text": t})]
        }),
        Some(MessageContent::Parts(items)) => {
            let mut out = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                if let Some(part) = convert_part(item, &format!("{field}[{i}]"))? {
                    out.push(part);
                }
            }
            Ok(out)
        }
    }
}

/// Only the text of a content (for system instructions and tool results).
pub(super) fn content_texts(content: Option<&MessageContent>) -> Vec<&str> {
    match content {
        None => Vec::new(),
        Some(MessageContent::Text(t)) => vec![t.as_str()],
        Some(MessageContent::Parts(items)) => items
            .iter()
            .filter_map(|p| match p {
                ContentPart::Text { text } => Some(text.as_str()),
                _ => None,
            })
            .collect(),
    }
}

fn convert_part(part: &ContentPart, field: &str) -> Result<Option<Value>, ConvertError> {
    Ok(Some(match part {
        ContentPart::Text { text } => json!({"text": text}),
        ContentPart::ImageUrl { image_url } => {
            url_part(image_url.url(), &format!("{field}.image_url"), "image")?
        }
        ContentPart::VideoUrl { video_url } => {
            url_part(video_url.url(), &format!("{field}.video_url"), "video")?
        }
        ContentPart::InputAudio { input_audio } => {
            audio_part(input_audio, &format!("{field}.input_audio"))?
        }
        ContentPart::File { file } => file_part(file, &format!("{field}.file"))?,
        ContentPart::Refusal { .. } => return Ok(None),
        ContentPart::Unsupported => {
            tracing::warn!(field, "dropping content part of unsupported type");
            return Ok(None);
        }
    }))
}

fn inline(mime: &str, data: &str) -> Value {
    json!({"inlineData": {"mimeType": mime, "data": data}})
}

pub(crate) fn url_part(url: &str, field: &str, kind: &'static str) -> Result<Value, ConvertError> {
    let trimmed = url.trim();
    // Byte-wise, case-insensitive scheme checks: slicing `&str` at a fixed byte index panics
    // when a multi-byte character straddles it.
    if has_scheme(trimmed, "data:") {
        let (mime, data) = parse_data_url(trimmed).map_err(|r| ConvertError::invalid(field, r))?;
        return Ok(inline(mime, data));
    }
    if has_scheme(trimmed, "http://") || has_scheme(trimmed, "https://") {
        return Err(ConvertError::RemoteUrl {
            field: field.to_string(),
            kind,
        });
    }
    Err(ConvertError::invalid(
        field,
        "unsupported URL; send a data: URL (data:<mime>;base64,<data>)",
    ))
}

/// Whether `url` starts with `scheme` (ASCII, any case).
fn has_scheme(url: &str, scheme: &str) -> bool {
    url.as_bytes()
        .get(..scheme.len())
        .is_some_and(|head| head.eq_ignore_ascii_case(scheme.as_bytes()))
}

/// `data:<mime>[;param]*;base64,<payload>` → (mime, payload). Parameters such as `charset`
/// or `name` are tolerated wherever they appear.
pub(super) fn parse_data_url(url: &str) -> Result<(&str, &str), String> {
    let rest = url.get(5..).ok_or("not a data: URL")?;
    let (header, data) = rest
        .split_once(',')
        .ok_or("data: URL has no ',' before its payload")?;
    let mut pieces = header.split(';');
    let mime = pieces.next().unwrap_or("").trim();
    if !pieces.any(|p| p.trim().eq_ignore_ascii_case("base64")) {
        return Err("only base64 data: URLs are supported (data:<mime>;base64,<data>)".into());
    }
    if data.trim().is_empty() {
        return Err("data: URL has an empty payload".into());
    }
    // RFC 2397: an omitted media type means text/plain.
    let mime = if mime.is_empty() { "text/plain" } else { mime };
    Ok((mime, data.trim()))
}

/// OpenAI audio `format` → MIME type (CLIProxyAPI's table).
fn audio_mime(format: &str) -> String {
    let f = format.trim().to_ascii_lowercase();
    match f.as_str() {
        "" | "wav" => "audio/wav".into(),
        "mp3" | "mpeg" => "audio/mpeg".into(),
        "ogg" | "opus" => "audio/ogg".into(),
        "flac" => "audio/flac".into(),
        "aac" => "audio/aac".into(),
        "webm" => "audio/webm".into(),
        "pcm16" | "pcm" => "audio/pcm".into(),
        g if g.starts_with("g711") => "audio/basic".into(),
        other => format!("audio/{other}"),
    }
}

pub(crate) fn audio_part(audio: &InputAudio, field: &str) -> Result<Value, ConvertError> {
    if audio.data.trim().is_empty() {
        return Err(ConvertError::invalid(
            format!("{field}.data"),
            "must not be empty",
        ));
    }
    if audio.data.starts_with("data:") {
        let (mime, data) =
            parse_data_url(&audio.data).map_err(|r| ConvertError::invalid(field, r))?;
        return Ok(inline(mime, data));
    }
    Ok(inline(&audio_mime(&audio.format), audio.data.trim()))
}

pub(crate) fn file_part(file: &FileRef, field: &str) -> Result<Value, ConvertError> {
    let Some(data) = file.file_data.as_deref().filter(|d| !d.trim().is_empty()) else {
        let reason = if file.file_id.is_some() {
            "file_id references are not supported (there is no file store); send file_data"
        } else {
            "needs file_data (a data: URL or base64 with a filename)"
        };
        return Err(ConvertError::invalid(field, reason));
    };
    let guessed = file
        .filename
        .as_deref()
        .and_then(|n| mime_guess::from_path(n).first_raw());
    if data.starts_with("data:") {
        let (mime, payload) = parse_data_url(data).map_err(|r| ConvertError::invalid(field, r))?;
        // A generic header is less useful than the file name's type.
        let mime = match (mime, guessed) {
            ("application/octet-stream" | "text/plain", Some(g)) if mime != g => g,
            (m, _) => m,
        };
        return Ok(inline(mime, payload));
    }
    let mime = guessed.ok_or_else(|| {
        ConvertError::invalid(
            field,
            "cannot tell the file type: give a filename with an extension or send file_data as a data: URL",
        )
    })?;
    Ok(inline(mime, data.trim()))
}
