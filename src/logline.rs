//! One log record, one line: sender-chosen text in a record (an event ID, a header value in a
//! reason) can hold a newline, which would forge a log line of its own. tracing-subscriber
//! already escapes terminal control sequences in field values, not line breaks; this writer
//! escapes `\n` and `\r` inside a record, keeping the record's final newline.

use std::io::{self, Write};

/// Wraps the log destination (stderr).
pub struct OneLine<W>(pub W);

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
        if !body.iter().any(|b| matches!(b, b'\n' | b'\r')) {
            return self.0.write_all(buf);
        }
        let mut out = Vec::with_capacity(buf.len() + 16);
        for &b in body {
            match b {
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                _ => out.push(b),
            }
        }
        out.extend_from_slice(end);
        self.0.write_all(&out)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_breaks_inside_a_record_are_escaped() {
        let mut w = OneLine(Vec::new());
        w.write_all(b"INFO delivered event_id=a\nFORGED b\r\n")
            .unwrap();
        w.write_all(b"INFO plain\n").unwrap();
        assert_eq!(
            String::from_utf8(w.0).unwrap(),
            "INFO delivered event_id=a\\nFORGED b\\r\nINFO plain\n"
        );
    }
}
