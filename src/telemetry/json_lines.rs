//! The JSON log format: one object per line, written straight into the
//! line's buffer.
//!
//! The lines have the same shape as tracing-subscriber's JSON format with
//! `flatten_event(true)`: `timestamp`, `level`, `target`, the event's fields
//! (with `message`) at the top level, then `span` and `spans` when the event
//! happens inside spans. tracing-subscriber's own formatter serializes through
//! serde_json and an `io::Write` adapter that re-checks UTF-8 on every write,
//! and json-subscriber collects fields into a map first; with a line per
//! call, either one cost about a fifth of a call's CPU (BENCHMARKS.md). This
//! one writes each field once, escaping as it goes.

use std::cell::Cell;
use std::fmt::{self, Write as _};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_log::NormalizeEvent;
use tracing_subscriber::fmt::format::{JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The event formatter. Pair it with [`JsonFields`] as the field formatter,
/// so span fields are stored as JSON objects and can be copied in as they are.
#[derive(Debug, Default, Clone, Copy)]
pub struct JsonLines;

impl<S> FormatEvent<S, JsonFields> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, JsonFields>,
        mut w: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // Records from crates that log through the `log` crate arrive via
        // tracing-log's bridge, whose own metadata says target "log"; the
        // normalized metadata names the real target, as tracing-subscriber's
        // formatters do.
        let normalized = event.normalized_metadata();
        let meta = normalized.as_ref().unwrap_or_else(|| event.metadata());
        w.write_str("{\"timestamp\":\"")?;
        write_timestamp(&mut w, SystemTime::now())?;
        w.write_str("\",\"level\":\"")?;
        w.write_str(meta.level().as_str())?;
        w.write_str("\",\"target\":")?;
        write_str(&mut w, meta.target())?;
        let mut fields = FieldWriter { w: &mut w, result: Ok(()) };
        event.record(&mut fields);
        fields.result?;

        if let Some(scope) = ctx.event_scope() {
            // Outermost first, as tracing-subscriber lists them.
            let mut current = None;
            w.write_str(",\"spans\":[")?;
            for (i, span) in scope.from_root().enumerate() {
                if i > 0 {
                    w.write_char(',')?;
                }
                let extensions = span.extensions();
                let stored = extensions
                    .get::<FormattedFields<JsonFields>>()
                    .map(|f| f.fields.as_str())
                    .unwrap_or_default();
                let object = span_object(span.name(), stored);
                w.write_str(&object)?;
                current = Some(object);
            }
            w.write_char(']')?;
            if let Some(object) = current {
                write!(w, ",\"span\":{object}")?;
            }
        }
        w.write_str("}\n")
    }
}

/// Writes `now` as RFC 3339 in UTC with microseconds, like
/// `2026-11-25T15:13:31.123456Z`. The date and time of day change once a
/// second, so each thread keeps the last second's text and only writes the
/// fraction anew.
fn write_timestamp(w: &mut impl fmt::Write, now: SystemTime) -> fmt::Result {
    thread_local! {
        static LAST_SECOND: Cell<(u64, [u8; 19])> = const { Cell::new((u64::MAX, [0; 19])) };
    }
    let since_epoch = now.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = since_epoch.as_secs();
    let prefix = LAST_SECOND.with(|last| {
        let (cached, text) = last.get();
        if cached == secs {
            return text;
        }
        // "YYYY-MM-DDTHH:MM:SSZ": keep all but the Z.
        let full = humantime::format_rfc3339_seconds(UNIX_EPOCH + Duration::from_secs(secs)).to_string();
        let mut text = [0u8; 19];
        text.copy_from_slice(&full.as_bytes()[..19]);
        last.set((secs, text));
        text
    });
    w.write_str(std::str::from_utf8(&prefix).map_err(|_| fmt::Error)?)?;
    let mut fraction = *b".000000Z";
    let mut micros = since_epoch.subsec_micros();
    for digit in fraction[1..7].iter_mut().rev() {
        *digit = b'0' + (micros % 10) as u8;
        micros /= 10;
    }
    w.write_str(std::str::from_utf8(&fraction).map_err(|_| fmt::Error)?)
}

/// A span as a JSON object: its stored fields (already a JSON object, from
/// [`JsonFields`]) plus its name.
fn span_object(name: &str, stored: &str) -> String {
    let inner = stored
        .trim()
        .strip_prefix('{')
        .and_then(|s| s.strip_suffix('}'))
        .unwrap_or_default()
        .trim();
    let mut object = String::with_capacity(inner.len() + name.len() + 12);
    object.push('{');
    if !inner.is_empty() {
        object.push_str(inner);
        object.push(',');
    }
    object.push_str("\"name\":");
    let _ = write_str(&mut object, name);
    object.push('}');
    object
}

/// Writes each field as `,"name":value`.
struct FieldWriter<'a, 'w> {
    w: &'a mut Writer<'w>,
    result: fmt::Result,
}

impl FieldWriter<'_, '_> {
    fn field(&mut self, field: &Field, value: impl FnOnce(&mut Writer<'_>) -> fmt::Result) {
        if self.result.is_ok() {
            self.result = (|| {
                self.w.write_char(',')?;
                write_str(self.w, field.name())?;
                self.w.write_char(':')?;
                value(self.w)
            })();
        }
    }
}

impl Visit for FieldWriter<'_, '_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.field(field, |w| write_str(w, value));
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.field(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value:?}")?;
            w.write_char('"')
        });
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        self.field(field, |w| {
            w.write_char('"')?;
            write!(Escaping(w), "{value}")?;
            w.write_char('"')
        });
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_i128(&mut self, field: &Field, value: i128) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_u128(&mut self, field: &Field, value: u128) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.field(field, |w| write!(w, "{value}"));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        // JSON has no NaN or infinity; serde_json writes null for them too.
        self.field(field, |w| {
            if value.is_finite() {
                write!(w, "{value}")
            } else {
                w.write_str("null")
            }
        });
    }
}

/// Writes `s` as a JSON string, quotes included.
fn write_str(w: &mut impl fmt::Write, s: &str) -> fmt::Result {
    w.write_char('"')?;
    Escaping(w).write_str(s)?;
    w.write_char('"')
}

/// Escapes what passes through it for the inside of a JSON string: quotes,
/// backslashes and control characters. Runs of plain text are copied whole.
struct Escaping<'a, W: fmt::Write + ?Sized>(&'a mut W);

impl<W: fmt::Write + ?Sized> fmt::Write for Escaping<'_, W> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let bytes = s.as_bytes();
        // Most values (IDs, names, codes) need no escaping: one pass without
        // early exit, which the compiler vectorizes, then a single copy.
        if !bytes.iter().fold(false, |any, &b| any | (b < 0x20) | (b == b'"') | (b == b'\\')) {
            return self.0.write_str(s);
        }
        let mut plain = 0;
        for (i, &b) in bytes.iter().enumerate() {
            if !NEEDS_ESCAPE[usize::from(b)] {
                continue;
            }
            self.0.write_str(&s[plain..i])?;
            match b {
                b'"' => self.0.write_str("\\\"")?,
                b'\\' => self.0.write_str("\\\\")?,
                b'\n' => self.0.write_str("\\n")?,
                b'\r' => self.0.write_str("\\r")?,
                b'\t' => self.0.write_str("\\t")?,
                _ => write!(self.0, "\\u{b:04x}")?,
            }
            plain = i + 1;
        }
        self.0.write_str(&s[plain..])
    }
}

/// The bytes JSON strings must escape: control characters, `"` and `\`.
/// (Bytes of multi-byte UTF-8 characters are all 0x80 and up, never escaped.)
const NEEDS_ESCAPE: [bool; 256] = {
    let mut table = [false; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = true;
        b += 1;
    }
    table[b'"' as usize] = true;
    table[b'\\' as usize] = true;
    table
};

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};
    use tracing_subscriber::fmt::MakeWriter;

    /// Collects what the subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl std::io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;
        fn make_writer(&'a self) -> Captured {
            self.clone()
        }
    }

    /// The lines `f` logs at TRACE and up, each parsed as JSON.
    fn lines(f: impl FnOnce()) -> Vec<serde_json::Value> {
        let out = Captured::default();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(out.clone())
            .fmt_fields(JsonFields::new())
            .event_format(JsonLines)
            .finish();
        tracing::subscriber::with_default(subscriber, f);
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        text.lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect()
    }

    #[test]
    fn every_kind_of_field_lands_at_the_top_level() {
        let err = std::io::Error::other("disk \"full\"");
        let got = lines(|| {
            tracing::info!(
                text = "a\"b\\c\nd\u{1}é",
                count = 7u64,
                delta = -3i64,
                big = 12_345u128,
                ok = true,
                ms = 0.25f64,
                nan = f64::NAN,
                shown = %"display",
                debugged = ?vec!["x"],
                error = &err as &(dyn std::error::Error + 'static),
                "the {} message",
                "formatted"
            )
        });
        assert_eq!(got.len(), 1);
        let line = &got[0];
        assert_eq!(line["message"], "the formatted message");
        assert_eq!(line["level"], "INFO");
        assert_eq!(line["target"], module_path!());
        assert_eq!(line["text"], "a\"b\\c\nd\u{1}é");
        assert_eq!(line["count"], 7);
        assert_eq!(line["delta"], -3);
        assert_eq!(line["big"], 12_345);
        assert_eq!(line["ok"], true);
        assert_eq!(line["ms"], 0.25);
        assert!(line["nan"].is_null());
        assert_eq!(line["shown"], "display");
        assert_eq!(line["debugged"], "[\"x\"]");
        assert_eq!(line["error"], "disk \"full\"");
        let ts = line["timestamp"].as_str().unwrap();
        assert!(humantime::parse_rfc3339(ts).is_ok(), "{ts}");
        assert!(line.get("span").is_none() && line.get("spans").is_none());
    }

    #[test]
    fn timestamps_are_rfc3339_with_microseconds() {
        let at = |secs: u64, micros: u64| {
            let mut out = String::new();
            write_timestamp(&mut out, UNIX_EPOCH + Duration::from_micros(secs * 1_000_000 + micros)).unwrap();
            out
        };
        assert_eq!(at(1_795_620_811, 123_456), "2026-11-25T15:33:31.123456Z");
        // The same second again (the cached date), then the next one.
        assert_eq!(at(1_795_620_811, 7), "2026-11-25T15:33:31.000007Z");
        assert_eq!(at(1_795_620_812, 999_999), "2026-11-25T15:33:32.999999Z");
        assert_eq!(at(0, 0), "1970-01-01T00:00:00.000000Z");
    }

    #[test]
    fn records_from_the_log_crate_keep_their_target() {
        let got = lines(|| {
            let record = log::Record::builder()
                .args(format_args!("handshake done"))
                .level(log::Level::Warn)
                .target("rustls::client")
                .build();
            tracing_log::format_trace(&record).unwrap();
        });
        assert_eq!(got[0]["target"], "rustls::client", "{}", got[0]);
        assert_eq!(got[0]["level"], "WARN");
        assert_eq!(got[0]["message"], "handshake done");
    }

    #[test]
    fn events_in_spans_carry_the_span_and_the_list() {
        let got = lines(|| {
            let outer = tracing::info_span!("call", request_id = "r-1", path = "/x");
            let _outer = outer.enter();
            let inner = tracing::info_span!("step");
            let _inner = inner.enter();
            tracing::warn!(n = 1, "inside");
        });
        let line = &got[0];
        assert_eq!(line["message"], "inside");
        assert_eq!(line["spans"][0]["name"], "call");
        assert_eq!(line["spans"][0]["request_id"], "r-1");
        assert_eq!(line["spans"][0]["path"], "/x");
        assert_eq!(line["spans"][1], serde_json::json!({"name": "step"}));
        assert_eq!(line["span"], serde_json::json!({"name": "step"}));
    }
}
