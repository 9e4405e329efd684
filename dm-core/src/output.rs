//! Output of remote commands, split into whole lines so that lines of different hosts never tear.

use crate::events::Stream;
use crate::events::{Event, EventSender};

/// The longest line sent whole; longer ones are sent in pieces of this many bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// Splits a stream of byte chunks into lines and sends each complete line as an [`Event::Output`].
///
/// A partial line waits for the rest of it (or for [`LineSplitter::finish`]), so a line is always
/// printed whole, with its host prefix, however the bytes arrived.
#[derive(Debug)]
pub struct LineSplitter {
    host: String,
    stream: Stream,
    pending: Vec<u8>,
}

impl LineSplitter {
    /// A splitter for one stream of one host.
    pub fn new(host: &str, stream: Stream) -> LineSplitter {
        LineSplitter {
            host: host.to_string(),
            stream,
            pending: Vec::new(),
        }
    }

    /// Feeds a chunk; sends every line it completes. A line longer than [`MAX_LINE`] bytes
    /// (output without newlines, a progress meter) is sent in pieces of that size, so what waits
    /// for a newline stays bounded.
    pub fn push(&mut self, chunk: &[u8], events: &EventSender) {
        self.pending.extend_from_slice(chunk);
        let mut start = 0;
        loop {
            match self.pending[start..].iter().position(|&b| b == b'\n') {
                Some(pos) if pos <= MAX_LINE => {
                    let end = start + pos;
                    self.send(start, end, events);
                    start = end + 1;
                }
                _ if self.pending.len() - start > MAX_LINE => {
                    // Never split a UTF-8 character between two pieces.
                    let mut end = start + MAX_LINE;
                    while end > start && (self.pending[end] & 0xC0) == 0x80 {
                        end -= 1;
                    }
                    if end == start {
                        end = start + MAX_LINE;
                    }
                    self.send(start, end, events);
                    start = end;
                }
                _ => break,
            }
        }
        self.pending.drain(..start);
    }

    /// Sends what is left of an unterminated last line.
    pub fn finish(&mut self, events: &EventSender) {
        if !self.pending.is_empty() {
            self.send(0, self.pending.len(), events);
            self.pending.clear();
        }
    }

    fn send(&self, start: usize, end: usize, events: &EventSender) {
        let mut line = &self.pending[start..end];
        if line.last() == Some(&b'\r') {
            line = &line[..line.len() - 1];
        }
        events.send(Event::Output {
            host: self.host.clone(),
            stream: self.stream,
            line: String::from_utf8_lossy(line).into_owned(),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::EventSender;

    fn lines(chunks: &[&[u8]]) -> Vec<String> {
        let (tx, mut rx) = EventSender::channel();
        let mut s = LineSplitter::new("h1", Stream::Stdout);
        for c in chunks {
            s.push(c, &tx);
        }
        s.finish(&tx);
        let mut out = Vec::new();
        while let Ok(ev) = rx.try_recv() {
            if let Event::Output { line, .. } = ev {
                out.push(line);
            }
        }
        out
    }

    #[test]
    fn a_line_split_across_chunks_arrives_whole() {
        assert_eq!(lines(&[b"hel", b"lo\nwor", b"ld\n"]), ["hello", "world"]);
    }

    #[test]
    fn an_unterminated_last_line_is_flushed() {
        assert_eq!(lines(&[b"a\nb"]), ["a", "b"]);
    }

    #[test]
    fn carriage_returns_before_newlines_are_dropped() {
        assert_eq!(lines(&[b"a\r\n\r\n"]), ["a", ""]);
    }

    #[test]
    fn a_line_without_newline_is_sent_in_bounded_pieces() {
        let (tx, mut rx) = EventSender::channel();
        let mut s = LineSplitter::new("h1", Stream::Stdout);
        let chunk = vec![b'x'; 10_000];
        for _ in 0..20 {
            s.push(&chunk, &tx);
            assert!(s.pending.len() <= MAX_LINE + chunk.len());
        }
        s.push(b"\nend\n", &tx);
        drop(tx);
        let mut sizes = Vec::new();
        while let Ok(Event::Output { line, .. }) = rx.try_recv() {
            sizes.push(line.len());
        }
        assert_eq!(sizes.iter().sum::<usize>(), 200_000 + 3);
        assert!(sizes.iter().all(|&n| n <= MAX_LINE), "{sizes:?}");
        assert_eq!(sizes.last(), Some(&3));
    }
}
