//! How an event's fields are written: `message name=value name=value`, exactly as
//! `tracing_subscriber`'s default field formatter writes them with ANSI off, without its cost.
//!
//! The default formatter wraps every field name and `=` in ANSI style objects even when
//! colours are off and formats every value through `core::fmt`; for the access line, written
//! on every request with fifteen fields, that was a third of the cost of logging it. Here
//! strings and integers are written directly; anything else still goes through its `Debug`.
use std::fmt::{self, Write as _};

use tracing::field::{Field, Visit};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::FormatFields;
use tracing_subscriber::fmt::format::Writer;

/// The field formatter of the log layer.
pub(crate) struct LineFields;

impl<'writer> FormatFields<'writer> for LineFields {
    fn format_fields<R: RecordFields>(&self, writer: Writer<'writer>, fields: R) -> fmt::Result {
        let mut v = LineVisitor {
            writer,
            empty: true,
            result: Ok(()),
        };
        fields.record(&mut v);
        v.result
    }
}

struct LineVisitor<'w> {
    writer: Writer<'w>,
    empty: bool,
    result: fmt::Result,
}

impl LineVisitor<'_> {
    /// Starts a field: a space before every field but the first. `false` when the field is
    /// not written (a `log` record's metadata, or after an error).
    fn start(&mut self, field: &Field) -> bool {
        if self.result.is_err() || field.name().starts_with("log.") {
            return false;
        }
        if self.empty {
            self.empty = false;
        } else {
            self.result = self.writer.write_char(' ');
        }
        self.result.is_ok()
    }

    /// `name=`; raw identifiers lose their `r#`.
    fn name(&mut self, field: &Field) -> fmt::Result {
        let name = field.name();
        self.writer
            .write_str(name.strip_prefix("r#").unwrap_or(name))?;
        self.writer.write_char('=')
    }

    fn integer(&mut self, field: &Field, digits: &str) {
        if !self.start(field) {
            return;
        }
        self.result = if field.name() == "message" {
            self.writer.write_str(digits)
        } else {
            self.name(field)
                .and_then(|()| self.writer.write_str(digits))
        };
    }
}

impl Visit for LineVisitor<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.record_debug(field, &format_args!("{value}"));
        } else {
            // A plain `&str` field is shown quoted, as its `Debug` has it.
            self.record_debug(field, &value);
        }
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.integer(field, itoa::Buffer::new().format(value));
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.integer(field, itoa::Buffer::new().format(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.integer(field, if value { "true" } else { "false" });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        match value.source() {
            Some(source) => self.record_debug(
                field,
                &format_args!(
                    "{} {}.sources={}",
                    Escaped(value),
                    field.name(),
                    Sources(source)
                ),
            ),
            None => self.record_debug(field, &format_args!("{}", Escaped(value))),
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if !self.start(field) {
            return;
        }
        self.result = if field.name() == "message" {
            // The message may carry terminal control codes; they are shown escaped.
            let mut w = Escaping(&mut self.writer);
            write!(w, "{value:?}")
        } else {
            self.name(field)
                .and_then(|()| write!(self.writer, "{value:?}"))
        };
    }
}

/// Writes through, with ANSI and C1 control characters escaped.
struct Escaping<'a, W>(&'a mut W);

impl<W: fmt::Write> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        // Most text has no control character at all: then it goes out in one piece.
        if !s.chars().any(needs_escape) {
            return self.0.write_str(s);
        }
        for ch in s.chars() {
            match ch {
                '\x1b' => self.0.write_str("\\x1b")?,
                '\x07' => self.0.write_str("\\x07")?,
                '\x08' => self.0.write_str("\\x08")?,
                '\x0c' => self.0.write_str("\\x0c")?,
                '\x7f' => self.0.write_str("\\x7f")?,
                c if ('\u{80}'..='\u{9f}').contains(&c) => write!(self.0, "\\u{{{:x}}}", c as u32)?,
                c => self.0.write_char(c)?,
            }
        }
        Ok(())
    }
}

fn needs_escape(c: char) -> bool {
    matches!(
        c,
        '\x1b' | '\x07' | '\x08' | '\x0c' | '\x7f' | '\u{80}'..='\u{9f}'
    )
}

/// `Display` of a value with control characters escaped.
struct Escaped<T>(T);

impl<T: fmt::Display> fmt::Display for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(Escaping(f), "{}", self.0)
    }
}

impl<T: fmt::Display> fmt::Debug for Escaped<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// An error's sources as a list: `["first", "second"]`.
struct Sources<'a>(&'a (dyn std::error::Error + 'static));

impl fmt::Display for Sources<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut list = f.debug_list();
        let mut cur = Some(self.0);
        while let Some(e) = cur {
            list.entry(&Escaped(format_args!("{e}")));
            cur = e.source();
        }
        list.finish()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use parking_lot::Mutex;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::fmt::format::DefaultFields;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Buf {
        type Writer = Buf;
        fn make_writer(&'a self) -> Buf {
            self.clone()
        }
    }

    #[derive(Debug)]
    struct Outer(std::io::Error);

    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("outer \x1b[31mfailed")
        }
    }

    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }

    fn events() {
        let plain = std::io::Error::other("plain cause");
        let nested = Outer(std::io::Error::other("inner \u{9b} cause"));
        let id: Option<i64> = None;
        tracing::info!("a message alone");
        tracing::info!(surface = %"openai", model = %"gemini-2.5-flash", credential = 7_i64, status = 200_u16, stream = false, latency_ms = 12_u64, ttfb_ms = id, "request");
        tracing::info!(quoted = "a str", debug = ?vec![1, 2], float = 1.5_f64, neg = -3_i64, "fields of every kind");
        tracing::warn!(
            error = &plain as &(dyn std::error::Error + 'static),
            "an error"
        );
        tracing::warn!(
            error = &nested as &(dyn std::error::Error + 'static),
            "an error with sources"
        );
        tracing::info!(r#type = "raw", "raw identifier");
        tracing::info!("control \x1b[2J codes and \u{85} C1 in the message");
        tracing::info!(message = 42_u64);
        tracing::info!(only = 1_u64);
    }

    fn output<N>(fields: N) -> String
    where
        N: for<'w> FormatFields<'w> + Send + Sync + 'static,
    {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::fmt()
            .with_ansi(false)
            .without_time()
            .with_target(false)
            .with_level(false)
            .fmt_fields(fields)
            .with_writer(buf.clone())
            .finish();
        tracing::subscriber::with_default(subscriber, events);
        let out = buf.0.lock().clone();
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn writes_exactly_what_the_default_formatter_writes() {
        let ours = output(LineFields);
        let theirs = output(DefaultFields::new());
        assert_eq!(ours.lines().count(), 9, "{ours}");
        assert_eq!(ours, theirs);
        assert!(ours.contains("credential=7 status=200 stream=false latency_ms=12"));
        assert!(ours.contains("\\x1b[2J"), "{ours}");
    }
}
