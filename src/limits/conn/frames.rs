//! Follows an HTTP/2 connection's frames in one direction — lengths, types, flags and stream
//! IDs, never payloads — for `watch`.

pub const PREFACE_LEN: usize = 24;
pub const FRAME_HEADER_LEN: usize = 9;
pub const DATA: u8 = 0x0;
pub const HEADERS: u8 = 0x1;
pub const RST_STREAM: u8 = 0x3;
pub const CONTINUATION: u8 = 0x9;
pub const END_STREAM: u8 = 0x1;
pub const END_HEADERS: u8 = 0x4;

/// What the frame follower saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Event {
    /// A frame header: type, flags, stream.
    Frame(u8, u8, u32),
    /// A header block began.
    BlockStarted,
    /// A header block (HEADERS and its CONTINUATIONs) was received whole, on this stream.
    BlockDone(u32),
}

/// Follows one direction's frames: only lengths, types, flags and stream IDs.
#[derive(Debug, Default)]
pub struct Frames {
    /// Preface bytes still to skip (the client's direction starts with `PREFACE_LEN`).
    preface: usize,
    header: [u8; FRAME_HEADER_LEN],
    have: usize,
    /// Payload bytes of the current frame still to skip.
    payload: usize,
    /// The current frame ends a header block once its payload is read.
    ends_block: bool,
    /// Inside a header block (a HEADERS frame without END_HEADERS, then CONTINUATIONs).
    in_block: bool,
    block_stream: u32,
}

impl Frames {
    /// The client's direction (it begins with the connection preface).
    pub fn client() -> Frames {
        Frames {
            preface: PREFACE_LEN,
            ..Frames::default()
        }
    }

    /// The server's direction.
    pub fn server() -> Frames {
        Frames::default()
    }

    /// Whether a header block is partly received.
    pub fn in_block(&self) -> bool {
        self.in_block
    }

    pub fn feed(&mut self, mut bytes: &[u8], mut on: impl FnMut(Event)) {
        while !bytes.is_empty() {
            if self.preface > 0 {
                let n = self.preface.min(bytes.len());
                self.preface -= n;
                bytes = &bytes[n..];
            } else if self.payload > 0 {
                let n = self.payload.min(bytes.len());
                self.payload -= n;
                bytes = &bytes[n..];
            } else {
                let n = (FRAME_HEADER_LEN - self.have).min(bytes.len());
                self.header[self.have..self.have + n].copy_from_slice(&bytes[..n]);
                self.have += n;
                bytes = &bytes[n..];
                if self.have < FRAME_HEADER_LEN {
                    break;
                }
                self.have = 0;
                let h = self.header;
                self.payload = usize::from(h[0]) << 16 | usize::from(h[1]) << 8 | usize::from(h[2]);
                let (kind, flags) = (h[3], h[4]);
                let stream = u32::from_be_bytes([h[5], h[6], h[7], h[8]]) & 0x7fff_ffff;
                on(Event::Frame(kind, flags, stream));
                self.ends_block = false;
                if kind == HEADERS || (kind == CONTINUATION && self.in_block) {
                    if !self.in_block {
                        self.in_block = true;
                        self.block_stream = stream;
                        on(Event::BlockStarted);
                    }
                    self.ends_block = flags & END_HEADERS != 0;
                }
            }
            if self.preface == 0 && self.payload == 0 && self.have == 0 && self.ends_block {
                self.ends_block = false;
                self.in_block = false;
                on(Event::BlockDone(self.block_stream));
            }
        }
    }
}

#[cfg(test)]
pub mod tests {
    use super::*;

    pub fn frame(kind: u8, flags: u8, stream: u8, payload: &[u8]) -> Vec<u8> {
        let n = payload.len();
        let mut f = vec![
            (n >> 16) as u8,
            (n >> 8) as u8,
            n as u8,
            kind,
            flags,
            0,
            0,
            0,
            stream,
        ];
        f.extend_from_slice(payload);
        f
    }

    pub fn connection() -> Vec<u8> {
        let mut v = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n".to_vec();
        v.extend(frame(0x4, 0, 0, &[0; 12])); // SETTINGS
        v
    }

    fn events(f: &mut Frames, bytes: &[u8]) -> Vec<Event> {
        let mut out = Vec::new();
        f.feed(bytes, |e| out.push(e));
        out
    }

    #[test]
    fn a_header_block_is_seen_through_continuations_at_any_split() {
        let mut all = connection();
        all.extend(frame(HEADERS, 0, 3, &[1; 20]));
        all.extend(frame(CONTINUATION, 0, 3, &[2; 5]));
        all.extend(frame(CONTINUATION, END_HEADERS, 3, &[3; 7]));
        all.extend(frame(DATA, END_STREAM, 3, &[4; 30]));
        for chunk in [1, 2, 3, 7, 9, 10, 64, all.len()] {
            let mut f = Frames::client();
            let mut seen = Vec::new();
            for c in all.chunks(chunk) {
                seen.extend(events(&mut f, c));
            }
            let blocks: Vec<_> = seen
                .iter()
                .filter(|e| !matches!(e, Event::Frame(..)))
                .collect();
            assert_eq!(
                blocks,
                [&Event::BlockStarted, &Event::BlockDone(3)],
                "chunk {chunk}"
            );
            assert!(seen.contains(&Event::Frame(DATA, END_STREAM, 3)));
            assert!(!f.in_block());
        }
    }

    #[test]
    fn an_unfinished_block_stays_open() {
        let mut f = Frames::client();
        events(&mut f, &connection());
        let e = events(&mut f, &frame(HEADERS, 0, 1, &[0; 3]));
        assert!(e.contains(&Event::BlockStarted) && f.in_block());
        let mut g = Frames::client();
        let mut bytes = connection();
        bytes.extend(frame(HEADERS, END_HEADERS, 1, &[0; 40]));
        let e = events(&mut g, &bytes[..bytes.len() - 1]);
        assert!(!e.contains(&Event::BlockDone(1)) && g.in_block());
        assert_eq!(
            events(&mut g, &bytes[bytes.len() - 1..]),
            [Event::BlockDone(1)]
        );
    }

    #[test]
    fn the_server_direction_has_no_preface() {
        let mut f = Frames::server();
        let mut bytes = frame(0x4, 0, 0, &[]);
        bytes.extend(frame(HEADERS, END_HEADERS | END_STREAM, 5, &[0; 4]));
        let e = events(&mut f, &bytes);
        assert!(e.contains(&Event::Frame(HEADERS, END_HEADERS | END_STREAM, 5)));
    }

    #[test]
    fn no_panic_on_arbitrary_bytes() {
        let (mut f, mut g) = (Frames::client(), Frames::server());
        let mut x: u32 = 7;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let b = (x >> 16) as u8;
            f.feed(&[b, b ^ 0x5a, 0x04], |_| {});
            g.feed(&[b ^ 0x33, b, 0x01], |_| {});
        }
    }
}
