//! `Content-Length` framing of JSON-RPC messages, for the editor connection
//! and for downstream servers alike.
//!
//! The decoder never fails on bad input: a malformed header or an oversized
//! message becomes a [`Frame::Malformed`] and the decoder resynchronises on
//! the next `Content-Length`. (tokio-util's `FramedRead` ends the stream after
//! a decoder error, which would end the connection on one bad frame.)

use bytes::{Buf, BufMut, Bytes, BytesMut};
use tokio_util::codec::{Decoder, Encoder};

/// Larger messages are refused rather than buffered.
pub const MAX_MESSAGE_LEN: usize = 256 * 1024 * 1024;
/// A header block this long without its blank line is garbage, not a header.
const MAX_HEADER_LEN: usize = 8 * 1024;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// The body of one message, not yet parsed as JSON.
    Message(Bytes),
    /// Bytes that were not a well-formed frame; why, in one phrase.
    Malformed(String),
}

#[derive(Debug, Default)]
pub struct LspCodec {
    /// The length of the body being read, once its header is complete.
    content_len: Option<usize>,
    /// Bytes of a refused (oversized) body still to be thrown away.
    skip: usize,
}

impl Decoder for LspCodec {
    type Item = Frame;
    type Error = std::io::Error;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if self.skip > 0 {
            let n = self.skip.min(src.len());
            src.advance(n);
            self.skip -= n;
            if self.skip > 0 {
                return Ok(None);
            }
        }
        if let Some(len) = self.content_len {
            if src.len() < len {
                src.reserve(len - src.len());
                return Ok(None);
            }
            self.content_len = None;
            return Ok(Some(Frame::Message(src.split_to(len).freeze())));
        }
        // Stray line breaks between messages are harmless; skip them.
        let blank = src
            .iter()
            .take_while(|b| matches!(b, b'\r' | b'\n'))
            .count();
        src.advance(blank);
        let Some(end) = find(src, b"\r\n\r\n") else {
            if src.len() > MAX_HEADER_LEN {
                resync(src, src.len());
                return Ok(Some(Frame::Malformed(
                    "a header longer than 8 KiB".to_owned(),
                )));
            }
            return Ok(None);
        };
        match parse_headers(&src[..end]) {
            Ok(len) if len > MAX_MESSAGE_LEN => {
                // The header is sound, so the body's end is known: drop it
                // whole, with one error, rather than rescanning it as garbage.
                src.advance(end + 4);
                self.skip = len;
                Ok(Some(Frame::Malformed(format!(
                    "a message of {len} bytes, over the limit of {MAX_MESSAGE_LEN}"
                ))))
            }
            Ok(len) => {
                src.advance(end + 4);
                self.content_len = Some(len);
                self.decode(src)
            }
            Err(why) => {
                resync(src, end + 4);
                Ok(Some(Frame::Malformed(why)))
            }
        }
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, Self::Error> {
        if let Some(frame) = self.decode(src)? {
            return Ok(Some(frame));
        }
        let inside_body = self.content_len.is_some() || self.skip > 0;
        self.skip = 0;
        if !inside_body && src.iter().all(|b| b.is_ascii_whitespace()) {
            src.clear();
            return Ok(None);
        }
        src.clear();
        self.content_len = None;
        Ok(Some(Frame::Malformed(
            "the input ended in the middle of a message".to_owned(),
        )))
    }
}

impl<T: AsRef<[u8]>> Encoder<T> for LspCodec {
    type Error = std::io::Error;

    fn encode(&mut self, body: T, dst: &mut BytesMut) -> Result<(), Self::Error> {
        let body = body.as_ref();
        let header = format!("Content-Length: {}\r\n\r\n", body.len());
        dst.reserve(header.len() + body.len());
        dst.put_slice(header.as_bytes());
        dst.put_slice(body);
        Ok(())
    }
}

/// The body length from a header block (without its blank line).
fn parse_headers(block: &[u8]) -> Result<usize, String> {
    let text = std::str::from_utf8(block).map_err(|_| "a header that is not UTF-8".to_owned())?;
    let mut len = None;
    for line in text.split("\r\n") {
        let Some((name, value)) = line.split_once(':') else {
            return Err(format!(
                "a header line without a colon: {:?}",
                truncate(line)
            ));
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("Content-Length") {
            let n: usize = value.parse().map_err(|_| {
                format!(
                    "a Content-Length that is not a number: {:?}",
                    truncate(value)
                )
            })?;
            len = Some(n);
        }
        // Content-Type is optional and only ever utf-8 in practice; other
        // headers are ignored, as the specification allows.
    }
    len.ok_or_else(|| "a header without Content-Length".to_owned())
}

/// Drops bad bytes: up to the next `Content-Length` (in any case, as header
/// names are) if one starts before `limit`, else up to `limit`.
fn resync(src: &mut BytesMut, limit: usize) {
    let next = src
        .windows(b"content-length".len())
        .skip(1)
        .position(|w| w.eq_ignore_ascii_case(b"content-length"))
        .map(|i| i + 1);
    src.advance(next.filter(|&i| i < limit).unwrap_or(limit).min(src.len()));
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn truncate(s: &str) -> &str {
    s.char_indices().nth(40).map_or(s, |(i, _)| &s[..i])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(input: &[u8]) -> Vec<Frame> {
        let mut codec = LspCodec::default();
        let mut buf = BytesMut::from(input);
        let mut out = Vec::new();
        while let Some(frame) = codec.decode(&mut buf).unwrap() {
            out.push(frame);
        }
        while let Some(frame) = codec.decode_eof(&mut buf).unwrap() {
            out.push(frame);
        }
        out
    }

    fn msg(s: &str) -> Frame {
        Frame::Message(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn decodes_messages_split_anywhere() {
        let input = b"Content-Length: 2\r\nContent-Type: application/vscode-jsonrpc; charset=utf-8\r\n\r\n{}content-length: 4\r\n\r\n[1] ";
        for split in 0..input.len() {
            let mut codec = LspCodec::default();
            let mut buf = BytesMut::from(&input[..split]);
            let mut out = Vec::new();
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            buf.extend_from_slice(&input[split..]);
            while let Some(f) = codec.decode(&mut buf).unwrap() {
                out.push(f);
            }
            assert_eq!(out, vec![msg("{}"), msg("[1] ")], "split at {split}");
        }
    }

    #[test]
    fn recovers_from_malformed_headers() {
        let frames = decode_all(
            b"Content-Length: abc\r\n\r\nContent-Length: 2\r\n\r\n{}garbage\r\n\r\nContent-Length: 2\r\n\r\n[]",
        );
        assert_eq!(
            frames,
            vec![
                Frame::Malformed("a Content-Length that is not a number: \"abc\"".to_owned()),
                msg("{}"),
                Frame::Malformed("a header line without a colon: \"garbage\"".to_owned()),
                msg("[]"),
            ]
        );
    }

    #[test]
    fn garbage_before_a_header_is_skipped_without_losing_the_message() {
        let frames = decode_all(b"oops Content-Length: 2\r\n\r\n{}");
        assert_eq!(frames.len(), 2, "{frames:?}");
        assert!(matches!(frames[0], Frame::Malformed(_)));
        assert_eq!(frames[1], msg("{}"));
    }

    #[test]
    fn an_oversized_message_is_one_error_and_the_next_message_survives() {
        let mut codec = LspCodec::default();
        let header = format!("Content-Length: {}\r\n\r\n", MAX_MESSAGE_LEN + 3);
        let mut buf = BytesMut::from(header.as_bytes());
        let first = codec.decode(&mut buf).unwrap();
        assert!(
            matches!(&first, Some(Frame::Malformed(m)) if m.contains("over the limit")),
            "{first:?}"
        );
        // The body arrives in pieces, "Content-Length" inside it included:
        // all of it is thrown away quietly.
        let mut chunk = vec![b'x'; 1 << 20];
        chunk[..14].copy_from_slice(b"Content-Length");
        let mut sent = 0;
        while sent < MAX_MESSAGE_LEN {
            buf.extend_from_slice(&chunk);
            sent += chunk.len();
            assert_eq!(codec.decode(&mut buf).unwrap(), None);
        }
        buf.extend_from_slice(b"xxxcontent-length: 2\r\n\r\n{}");
        assert_eq!(codec.decode(&mut buf).unwrap(), Some(msg("{}")));
    }

    #[test]
    fn truncated_messages_are_malformed() {
        for input in [
            &b"Content-Length: 10\r\n\r\n{\"a\""[..],
            b"Content-Length: 10\r\n\r\n   ",
        ] {
            assert_eq!(
                decode_all(input),
                vec![Frame::Malformed(
                    "the input ended in the middle of a message".to_owned()
                )]
            );
        }
    }

    #[test]
    fn encodes_with_a_content_length_header() {
        let mut out = BytesMut::new();
        LspCodec::default().encode("{\"é\":1}", &mut out).unwrap();
        assert_eq!(&out[..], "Content-Length: 8\r\n\r\n{\"é\":1}".as_bytes());
    }
}
