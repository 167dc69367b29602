//! Tolerant Server-Sent-Events decoder for the upstream's `text/event-stream` bodies.
//!
//! Google frames one JSON document per `data:` line, but the transport may split bytes
//! anywhere (inside a UTF-8 sequence, between `\r` and `\n`), and proxies in between can add
//! comments, `event:` lines, BOMs or drop the final blank line. The decoder follows the WHATWG
//! parsing rules (LF, CR and CRLF terminators, one optional space after the colon, multi-line
//! `data:` joined with `\n`) and only decodes UTF-8 once a line is complete, so chunk
//! boundaries never change the result.

/// One dispatched event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SseEvent {
    pub data: String,
    pub event: Option<String>,
}

impl SseEvent {
    /// `data: [DONE]` is not a Google sentinel, but OpenAI-style proxies in front of the
    /// upstream add it; callers treat it as a clean end of stream.
    pub fn is_done(&self) -> bool {
        self.data.trim() == "[DONE]"
    }

    /// The JSON documents carried by this event.
    ///
    /// Normally one. When a producer forgot the blank line between two events, their `data:`
    /// lines are joined into `{..}\n{..}`, which is not one document; we then read the
    /// documents one after another and stop at the first that does not parse, so a missing
    /// separator does not lose both events. Returns an empty vector for non-JSON data.
    pub fn json(&self) -> Vec<serde_json::Value> {
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&self.data) {
            return vec![v];
        }
        serde_json::Deserializer::from_str(&self.data)
            .into_iter::<serde_json::Value>()
            .map_while(Result::ok)
            .collect()
    }
}

#[derive(Default)]
pub struct SseDecoder {
    /// Bytes of the current, not yet terminated line.
    line: Vec<u8>,
    /// The previous byte was `\r`: a `\n` that follows (maybe in the next push) belongs to it.
    after_cr: bool,
    /// No line has been completed yet, so a leading BOM must still be stripped.
    started: bool,
    data: Option<String>,
    event: Option<String>,
    /// `finish` found an event (or a line) that was never terminated.
    ended_mid_event: bool,
}

impl SseDecoder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Feed the next bytes of the body and get the events they completed.
    pub fn push(&mut self, bytes: &[u8]) -> Vec<SseEvent> {
        let mut out = Vec::new();
        let mut rest = bytes;
        if self.after_cr && !rest.is_empty() {
            self.after_cr = false;
            if rest[0] == b'\n' {
                rest = &rest[1..];
            }
        }
        // Terminators are found with a vectorised search (a byte-by-byte scan was the
        // largest cost of reading a stream); a line that is whole in this chunk is read in
        // place, and only a line split across chunks is copied.
        while let Some(i) = memchr::memchr2(b'\n', b'\r', rest) {
            if self.line.is_empty() {
                self.read_line(&rest[..i], &mut out);
            } else {
                self.line.extend_from_slice(&rest[..i]);
                self.end_line(&mut out);
            }
            let cr = rest[i] == b'\r';
            rest = &rest[i + 1..];
            if cr {
                match rest.first() {
                    Some(b'\n') => rest = &rest[1..],
                    Some(_) => {}
                    // The `\n` of this `\r\n` may come with the next push.
                    None => self.after_cr = true,
                }
            }
        }
        self.line.extend_from_slice(rest);
        out
    }

    /// The body ended: flush an unterminated last line and a final event that lacked its
    /// blank line. Whether anything was left open is reported by [`Self::ended_mid_event`].
    pub fn finish(&mut self) -> Vec<SseEvent> {
        let mut out = Vec::new();
        self.ended_mid_event = false;
        if !self.line.is_empty() {
            let is_comment = self.current_line_text().starts_with(':');
            self.ended_mid_event |= !is_comment;
            self.end_line(&mut out);
        }
        self.after_cr = false;
        if self.data.is_some() || self.event.is_some() {
            self.ended_mid_event = true;
            self.dispatch(&mut out);
        }
        out
    }

    /// After [`Self::finish`]: true when the body stopped inside an event, i.e. without the
    /// blank line that closes it. Google always closes its events, so together with "no
    /// `finishReason` seen" this identifies an abrupt cut, even when the flushed JSON parses.
    pub fn ended_mid_event(&self) -> bool {
        self.ended_mid_event
    }

    /// True while bytes or fields of an unfinished event are buffered.
    pub fn has_pending(&self) -> bool {
        !self.line.is_empty() || self.data.is_some() || self.event.is_some()
    }

    fn current_line_text(&self) -> String {
        let bytes = if !self.started && self.line.starts_with(BOM) {
            &self.line[BOM.len()..]
        } else {
            &self.line[..]
        };
        String::from_utf8_lossy(bytes).into_owned()
    }

    fn end_line(&mut self, out: &mut Vec<SseEvent>) {
        // The line buffer is lent out and handed back, so its allocation is reused.
        let mut line = std::mem::take(&mut self.line);
        self.read_line(&line, out);
        line.clear();
        self.line = line;
    }

    /// One complete line, without its terminator.
    fn read_line(&mut self, line: &[u8], out: &mut Vec<SseEvent>) {
        let start = if !self.started && line.starts_with(BOM) {
            BOM.len()
        } else {
            0
        };
        self.started = true;
        match std::str::from_utf8(&line[start..]) {
            Ok(text) => self.process_line(text, out),
            Err(_) => {
                let text = String::from_utf8_lossy(&line[start..]).into_owned();
                self.process_line(&text, out);
            }
        }
    }

    fn process_line(&mut self, line: &str, out: &mut Vec<SseEvent>) {
        if line.is_empty() {
            self.dispatch(out);
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((f, v)) => (f, v.strip_prefix(' ').unwrap_or(v)),
            None => (line, ""),
        };
        match field {
            "data" => match &mut self.data {
                Some(d) => {
                    d.push('\n');
                    d.push_str(value);
                }
                None => self.data = Some(value.to_string()),
            },
            "event" => self.event = Some(value.to_string()),
            // id/retry matter only to EventSource reconnection, which we never do; anything
            // else is not an SSE field and is ignored as the spec requires.
            _ => {}
        }
    }

    fn dispatch(&mut self, out: &mut Vec<SseEvent>) {
        let event = self.event.take();
        // Per the SSE spec an event without data (or with empty data) is not dispatched.
        if let Some(data) = self.data.take().filter(|d| !d.is_empty()) {
            out.push(SseEvent { data, event });
        }
    }
}

const BOM: &[u8] = b"\xEF\xBB\xBF";

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn all(input: &[u8]) -> Vec<SseEvent> {
        let mut d = SseDecoder::new();
        let mut ev = d.push(input);
        ev.extend(d.finish());
        ev
    }

    fn datas(ev: &[SseEvent]) -> Vec<&str> {
        ev.iter().map(|e| e.data.as_str()).collect()
    }

    #[test]
    fn google_framing_lf_and_crlf() {
        let lf = all(b"data: {\"a\":1}\n\ndata: {\"b\":2}\n\n");
        let crlf = all(b"data: {\"a\":1}\r\n\r\ndata: {\"b\":2}\r\n\r\n");
        let cr = all(b"data: {\"a\":1}\r\rdata: {\"b\":2}\r\r");
        assert_eq!(datas(&lf), vec!["{\"a\":1}", "{\"b\":2}"]);
        assert_eq!(lf, crlf);
        assert_eq!(lf, cr);
    }

    #[test]
    fn crlf_split_across_pushes_adds_no_blank_line() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: a\r").is_empty());
        // If the \n were taken as a second (blank) line, "a" would be dispatched here alone.
        assert!(d.push(b"\ndata: b\r").is_empty());
        let ev = d.push(b"\n\r\n");
        assert_eq!(datas(&ev), vec!["a\nb"]);
        assert!(d.finish().is_empty());
        assert!(!d.ended_mid_event());
    }

    #[test]
    fn multiline_data_comments_fields_and_no_space() {
        let ev = all(
            b": keep-alive\nevent: message\nid: 7\nretry: 100\ndata:{\"x\":\ndata: 1}\nbogus line\n\n",
        );
        assert_eq!(ev.len(), 1);
        assert_eq!(ev[0].data, "{\"x\":\n1}");
        assert_eq!(ev[0].event.as_deref(), Some("message"));
        assert_eq!(ev[0].json(), vec![serde_json::json!({"x": 1})]);
    }

    #[test]
    fn an_empty_push_between_cr_and_lf_changes_nothing() {
        let mut d = SseDecoder::new();
        assert!(d.push(b"data: a\r").is_empty());
        assert!(d.push(b"").is_empty());
        assert!(d.push(b"\n").is_empty(), "the \\n still belongs to the \\r");
        assert_eq!(datas(&d.push(b"\r\n")), vec!["a"]);
    }

    #[test]
    fn leading_bom_is_stripped_even_when_split() {
        let mut d = SseDecoder::new();
        let mut ev = d.push(b"\xEF\xBB");
        ev.extend(d.push(b"\xBFdata: x\n\n"));
        assert_eq!(datas(&ev), vec!["x"]);
    }

    #[test]
    fn utf8_split_across_pushes() {
        let text = "data: héllo 世界\n\n".as_bytes();
        let mut d = SseDecoder::new();
        let mut ev = Vec::new();
        for b in text {
            ev.extend(d.push(std::slice::from_ref(b)));
        }
        assert_eq!(datas(&ev), vec!["héllo 世界"]);
    }

    #[test]
    fn final_event_without_blank_line_is_flushed_and_flagged() {
        let mut d = SseDecoder::new();
        assert_eq!(datas(&d.push(b"data: a\n\ndata: {\"cut\":")), vec!["a"]);
        assert!(d.has_pending());
        let ev = d.finish();
        assert_eq!(datas(&ev), vec!["{\"cut\":"]);
        assert!(d.ended_mid_event());
        assert!(ev[0].json().is_empty());
    }

    #[test]
    fn clean_end_is_not_flagged() {
        let mut d = SseDecoder::new();
        d.push(b"data: a\n\n: trailing comment");
        assert!(d.finish().is_empty());
        assert!(!d.ended_mid_event());
    }

    #[test]
    fn missing_blank_line_between_events_keeps_both_documents() {
        let ev = all(b"data: {\"a\":1}\ndata: {\"b\":2}\n\n");
        assert_eq!(ev.len(), 1);
        assert_eq!(
            ev[0].json(),
            vec![serde_json::json!({"a":1}), serde_json::json!({"b":2})]
        );
    }

    #[test]
    fn done_sentinel_and_invalid_json() {
        let ev = all(b"data: not json\n\ndata: [DONE]\n\n");
        assert!(ev[0].json().is_empty());
        assert!(ev[1].is_done());
    }

    #[test]
    fn empty_data_is_not_dispatched() {
        assert!(all(b"data:\n\nevent: x\n\n").is_empty());
    }

    fn arb_events() -> impl Strategy<Value = Vec<(Vec<String>, Option<String>)>> {
        let line = "[a-zA-Z0-9 {}\":,é世\\[\\]]{0,12}";
        prop::collection::vec(
            (
                prop::collection::vec(line, 1..3),
                prop::option::of("[a-z]{1,5}"),
            ),
            0..5,
        )
    }

    fn render(events: &[(Vec<String>, Option<String>)], eol: &str) -> Vec<u8> {
        let mut s = String::new();
        for (lines, event) in events {
            s.push_str(": c");
            s.push_str(eol);
            if let Some(e) = event {
                s.push_str(&format!("event: {e}{eol}"));
            }
            for l in lines {
                s.push_str(&format!("data: {l}{eol}"));
            }
            s.push_str(eol);
        }
        s.into_bytes()
    }

    proptest! {
        #[test]
        fn chunk_boundaries_do_not_matter(events in arb_events(), cuts in prop::collection::vec(any::<prop::sample::Index>(), 0..8), crlf in any::<bool>()) {
            let bytes = render(&events, if crlf { "\r\n" } else { "\n" });
            let whole = all(&bytes);
            let mut points: Vec<usize> = cuts.iter().map(|i| i.index(bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut d = SseDecoder::new();
            let mut got = Vec::new();
            let mut prev = 0;
            for p in points {
                got.extend(d.push(&bytes[prev..p]));
                prev = p;
            }
            got.extend(d.push(&bytes[prev..]));
            got.extend(d.finish());
            prop_assert_eq!(got, whole);
            prop_assert!(!d.ended_mid_event());
        }

        #[test]
        fn lf_and_crlf_agree(events in arb_events()) {
            let lf = all(&render(&events, "\n"));
            let crlf = all(&render(&events, "\r\n"));
            let expected: Vec<String> = events.iter()
                .map(|(lines, _)| lines.join("\n"))
                .filter(|d| !d.is_empty())
                .collect();
            prop_assert_eq!(&lf, &crlf);
            prop_assert_eq!(lf.iter().map(|e| e.data.clone()).collect::<Vec<_>>(), expected);
        }
    }
}
