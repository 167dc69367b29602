//! Stream bodies: Google's exact SSE framing (one `data: ` line holding the whole envelope, a
//! blank line, CRLF by default, no `[DONE]`), plus the scripted broken shapes (cuts, clean
//! ends without finishReason, malformed framing, error events).

use std::time::Duration;

use bytes::Bytes;
use serde::Serialize;
use serde_json::{Value, json};

use super::faults::{Fault, MalformedSse};

/// Compact JSON except `": "` after keys, the spacing seen in captured upstream SSE lines.
struct UpstreamFormatter;

impl serde_json::ser::Formatter for UpstreamFormatter {
    fn begin_object_value<W: ?Sized + std::io::Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        w.write_all(b": ")
    }
}

pub(crate) fn upstream_json(v: &Value) -> String {
    let mut buf = Vec::new();
    let mut ser = serde_json::Serializer::with_formatter(&mut buf, UpstreamFormatter);
    if v.serialize(&mut ser).is_err() {
        return v.to_string();
    }
    String::from_utf8(buf).unwrap_or_else(|_| v.to_string())
}

pub(crate) enum Ending {
    Clean,
    /// The body errors out: hyper drops the connection without the chunked terminator.
    Abort,
}

pub(crate) struct StreamPlan {
    pub frames: Vec<Bytes>,
    pub ending: Ending,
}

impl StreamPlan {
    /// For an aborted plan, a `content-length` larger than what is sent: hyper then has to
    /// close the connection when the body ends, and cannot finish the message cleanly.
    pub fn abort_length(&self) -> Option<usize> {
        match self.ending {
            Ending::Abort => Some(self.frames.iter().map(Bytes::len).sum::<usize>() + 64),
            Ending::Clean => None,
        }
    }
}

fn event(json: &str, eol: &str) -> Bytes {
    Bytes::from(format!("data: {json}{eol}{eol}"))
}

/// Works on Code Assist envelopes and on the unwrapped Gemini API / Vertex bodies alike.
fn strip_finish(mut env: Value) -> Value {
    let pointer = if env.get("response").is_some() {
        "/response/candidates"
    } else {
        "/candidates"
    };
    if let Some(cands) = env.pointer_mut(pointer).and_then(Value::as_array_mut) {
        for c in cands {
            if let Some(obj) = c.as_object_mut() {
                obj.remove("finishReason");
            }
        }
    }
    env
}

/// Frames for `envelopes` under an optional shaping fault (non-shaping faults are ignored).
pub(crate) fn plan(envelopes: Vec<Value>, shape: Option<&Fault>, eol: &str) -> StreamPlan {
    let framed = |envs: &[Value]| -> Vec<Bytes> {
        envs.iter().map(|e| event(&upstream_json(e), eol)).collect()
    };
    let clean = |frames| StreamPlan {
        frames,
        ending: Ending::Clean,
    };
    let take = |k: u32| {
        usize::try_from(k)
            .unwrap_or(usize::MAX)
            .min(envelopes.len())
    };
    match shape {
        Some(Fault::StreamCut {
            after_events,
            mid_event,
        }) => {
            let k = take(*after_events);
            let mut frames = framed(&envelopes[..k]);
            if *mid_event {
                if let Some(next) = envelopes.get(k) {
                    let whole = event(&upstream_json(next), eol);
                    frames.push(whole.slice(..whole.len() / 2));
                }
            }
            StreamPlan {
                frames,
                ending: Ending::Abort,
            }
        }
        Some(Fault::EndWithoutFinish { after_events }) => {
            let k = take(*after_events);
            let envs: Vec<Value> = envelopes.into_iter().take(k).map(strip_finish).collect();
            clean(framed(&envs))
        }
        Some(Fault::EmptyStream) => clean(Vec::new()),
        Some(Fault::InStreamError { after_events }) => {
            let k = take(*after_events);
            let mut frames = framed(&envelopes[..k]);
            let err = json!({"error": {"code": 500, "message": "Internal error encountered.", "status": "INTERNAL"}});
            frames.push(event(&upstream_json(&err), eol));
            clean(frames)
        }
        Some(Fault::MalformedSse { variant }) => clean(malformed(&envelopes, *variant, eol)),
        _ => clean(framed(&envelopes)),
    }
}

fn malformed(envelopes: &[Value], variant: MalformedSse, eol: &str) -> Vec<Bytes> {
    let lines: Vec<String> = envelopes.iter().map(upstream_json).collect();
    let mut frames: Vec<Bytes> = Vec::new();
    match variant {
        MalformedSse::InvalidJsonLine => {
            frames.push(event("{\"response\": {\"candidates\": [", eol));
            frames.extend(lines.iter().map(|l| event(l, eol)));
        }
        MalformedSse::MultiLineData => {
            for (i, env) in envelopes.iter().enumerate() {
                if i == 0 {
                    let pretty = serde_json::to_string_pretty(env).unwrap_or_default();
                    let mut s: String = pretty.lines().map(|l| format!("data: {l}{eol}")).collect();
                    s.push_str(eol);
                    frames.push(Bytes::from(s));
                } else {
                    frames.push(event(&lines[i], eol));
                }
            }
        }
        MalformedSse::CommentAndFields => {
            for (i, l) in lines.iter().enumerate() {
                let s =
                    format!(": keep-alive{eol}event: message{eol}id: {i}{eol}data: {l}{eol}{eol}");
                frames.push(Bytes::from(s));
            }
        }
        MalformedSse::MissingBlankLine => {
            frames.extend(lines.iter().map(|l| Bytes::from(format!("data: {l}{eol}"))));
            frames.push(Bytes::from(eol.to_string()));
        }
        MalformedSse::Bom => {
            for (i, l) in lines.iter().enumerate() {
                let bom = if i == 0 { "\u{feff}" } else { "" };
                frames.push(Bytes::from(format!("{bom}data: {l}{eol}{eol}")));
            }
        }
        MalformedSse::NoSpaceAfterData => {
            frames.extend(
                lines
                    .iter()
                    .map(|l| Bytes::from(format!("data:{l}{eol}{eol}"))),
            );
        }
        MalformedSse::TrailingDone => {
            frames.extend(lines.iter().map(|l| event(l, eol)));
            frames.push(event("[DONE]", eol));
        }
    }
    frames
}

/// A streaming body that paces frames. An aborted plan simply stops: the caller declares a
/// longer `content-length` (see [`StreamPlan::abort_length`]), so the connection is cut.
pub(crate) fn body(plan: StreamPlan, delay: Duration) -> poem::Body {
    let stream = async_stream::stream! {
        for (i, frame) in plan.frames.into_iter().enumerate() {
            if i > 0 && !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            yield Ok::<Bytes, std::io::Error>(frame);
        }
    };
    poem::Body::from_bytes_stream(stream)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn envs() -> Vec<Value> {
        vec![
            json!({"response": {"candidates": [{"content": {"parts": [{"text": "a"}]}}]}, "traceId": "t"}),
            json!({"response": {"candidates": [{"content": {"parts": [{"text": "b"}]}, "finishReason": "STOP"}]}, "traceId": "t"}),
        ]
    }

    fn joined(p: &StreamPlan) -> String {
        p.frames
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect()
    }

    #[test]
    fn framing_is_one_data_line_per_event() {
        let p = plan(envs(), None, "\r\n");
        assert_eq!(
            joined(&p),
            "data: {\"response\": {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"a\"}]}}]},\"traceId\": \"t\"}\r\n\r\n\
             data: {\"response\": {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"b\"}]},\"finishReason\": \"STOP\"}]},\"traceId\": \"t\"}\r\n\r\n"
        );
    }

    #[test]
    fn end_without_finish_strips_finish_reason() {
        let p = plan(
            envs(),
            Some(&Fault::EndWithoutFinish { after_events: 5 }),
            "\n",
        );
        let s = joined(&p);
        assert_eq!(s.matches("data: ").count(), 2);
        assert!(!s.contains("finishReason"));
    }

    #[test]
    fn cut_mid_event_sends_half_an_event_and_aborts() {
        let cut = Fault::StreamCut {
            after_events: 1,
            mid_event: true,
        };
        let p = plan(envs(), Some(&cut), "\n");
        assert!(matches!(p.ending, Ending::Abort));
        assert_eq!(p.frames.len(), 2);
        assert!(!p.frames[1].ends_with(b"\n\n"));
    }
}
