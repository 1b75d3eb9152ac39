//! One log record, one line, and no terminal control: sender-chosen text in a record (an event
//! ID, a header value in a reason) can hold a newline, which would forge a log line of its own,
//! or an escape sequence, which would rewrite what a terminal shows. tracing-subscriber escapes
//! neither in `%` (Display) fields; this writer escapes `\n` and `\r` as `\n`/`\r` inside a
//! record, keeping the record's final newline, and — unless the formatter writes colours (a
//! terminal), whose codes must pass — every other control but tab: C0 bytes and DEL as `\xNN`,
//! C1 controls (U+0080–U+009F, which a terminal may take as escapes) as `\u{NN}`. JSON lines
//! (`--json-logs`) get JSON's own escape, `\u00NN`, so they stay JSON (serde_json escapes C0
//! itself, and leaves DEL and C1 raw).

use std::io::{self, BufWriter, Write};
use std::sync::{Mutex, OnceLock};

use tracing_appender::non_blocking::{ErrorCounter, NonBlocking, NonBlockingBuilder, WorkerGuard};

/// The writer thread's guard: dropping it writes out what is queued.
static GUARD: Mutex<Option<WorkerGuard>> = Mutex::new(None);
static DROPPED: OnceLock<ErrorCounter> = OnceLock::new();

/// stderr behind a queue. A thread handling a request formats its line and queues it; one
/// writer thread writes whatever has queued up with one `write` (a `write` per line, with the
/// stderr lock, cost about a tenth of a request's CPU under load). A full queue (128k lines:
/// stderr stalled) drops lines rather than stalling requests; `hookgate_log_lines_dropped_total`
/// counts them.
pub fn queued_stderr(escape: Escape) -> NonBlocking {
    let sink = OneLine {
        inner: BufWriter::with_capacity(64 * 1024, io::stderr()),
        escape,
    };
    let (writer, guard) = NonBlockingBuilder::default()
        .thread_name("hookgate-log")
        .finish(sink);
    let _ = DROPPED.set(writer.error_counter());
    if let Ok(mut g) = GUARD.lock() {
        *g = Some(guard);
    }
    writer
}

/// Writes out the queued lines (waiting up to a second) and stops the writer thread; later
/// lines are dropped. For exits that skip destructors (`process::exit`, abort on panic).
pub fn flush() {
    let guard = GUARD.lock().map(|mut g| g.take()).unwrap_or(None);
    drop(guard);
}

/// Lines dropped so far because the queue was full.
pub fn dropped_lines() -> u64 {
    DROPPED.get().map_or(0, |c| c.dropped_lines() as u64)
}

/// Wraps the log destination (stderr).
pub struct OneLine<W> {
    pub inner: W,
    pub escape: Escape,
}

/// What the formatter writes, and so how a control is escaped in it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Escape {
    /// Text with colour codes (a terminal): they must pass, only line breaks are escaped.
    Colours,
    /// Plain text: every control is escaped.
    Text,
    /// JSON lines: every control is escaped, as JSON does.
    Json,
}

impl<W: Write> Write for OneLine<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.write_all(buf)?;
        Ok(buf.len())
    }

    /// The formatter writes each record whole, in one call, ending in `\n`.
    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        let (body, end): (&[u8], &[u8]) = match buf.strip_suffix(b"\n") {
            Some(body) => (body, b"\n"),
            None => (buf, b""),
        };
        let all = self.escape != Escape::Colours;
        // A C1 control is `C2 80`..`C2 9F` in UTF-8; `C2` is never a continuation byte.
        let escaped = |b: u8| matches!(b, b'\n' | b'\r') || (all && (control(b) || b == 0xc2));
        if !body.iter().copied().any(escaped) {
            return self.inner.write_all(buf);
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        let mut i = 0;
        while i < body.len() {
            let b = body[i];
            i += 1;
            match (b, self.escape) {
                (b'\n', _) => out.extend_from_slice(b"\\n"),
                (b'\r', _) => out.extend_from_slice(b"\\r"),
                (_, Escape::Colours) => out.push(b),
                (0xc2, e) => match body.get(i) {
                    Some(&c1 @ 0x80..=0x9f) => {
                        i += 1;
                        let s = match e {
                            Escape::Json => format!("\\u{c1:04x}"),
                            _ => format!("\\u{{{c1:02x}}}"),
                        };
                        out.extend_from_slice(s.as_bytes());
                    }
                    _ => out.push(b),
                },
                (b, Escape::Json) if control(b) => {
                    out.extend_from_slice(format!("\\u{b:04x}").as_bytes())
                }
                (b, _) if control(b) => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
                _ => out.push(b),
            }
        }
        out.extend_from_slice(end);
        self.inner.write_all(&out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

/// C0 controls and DEL, but tab.
fn control(b: u8) -> bool {
    (b < 0x20 && b != b'\t') || b == 0x7f
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_inside_a_record_are_escaped() {
        let mut w = OneLine {
            inner: Vec::new(),
            escape: Escape::Text,
        };
        w.write_all(b"INFO delivered event_id=a\nFORGED b\r\n")
            .unwrap();
        w.write_all(b"INFO plain\tkept\n").unwrap();
        w.write_all(b"INFO id=\x1b[31mred\x07\x7f\n").unwrap();
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "INFO delivered event_id=a\\nFORGED b\\r\nINFO plain\tkept\nINFO id=\\x1b[31mred\\x07\\x7f\n"
        );
        // At a terminal the formatter's colours pass; line breaks are still escaped.
        let mut t = OneLine {
            inner: Vec::new(),
            escape: Escape::Colours,
        };
        t.write_all(b"\x1b[32mINFO\x1b[0m a\nb\n").unwrap();
        assert_eq!(t.inner, b"\x1b[32mINFO\x1b[0m a\\nb\n");
    }

    #[test]
    fn c1_controls_are_escaped_and_other_characters_kept() {
        let mut w = OneLine {
            inner: Vec::new(),
            escape: Escape::Text,
        };
        w.write_all("INFO id=a\u{9b}31m\u{85}é\u{a0}€\n".as_bytes())
            .unwrap();
        assert_eq!(
            String::from_utf8(w.inner).unwrap(),
            "INFO id=a\\u{9b}31m\\u{85}é\u{a0}€\n"
        );
    }

    #[test]
    fn json_lines_stay_json() {
        let mut w = OneLine {
            inner: Vec::new(),
            escape: Escape::Json,
        };
        let value = "a\u{7f}b\u{9b}c\u{1b}d\n\té";
        let line = format!("{}\n", serde_json::json!({ "event_id": value }));
        w.write_all(line.as_bytes()).unwrap();
        let out = String::from_utf8(w.inner).unwrap();
        assert_eq!(out, "{\"event_id\":\"a\\u007fb\\u009bc\\u001bd\\n\\té\"}\n");
        let back: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(back["event_id"], value);
    }
}
