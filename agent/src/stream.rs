//! Reading a streamed answer: server-sent events parsed from the HTTP body
//! (`sse.rs`), each handed to the provider's decoder, which assembles the [`Turn`] and
//! reports text and tool calls as they arrive.

use std::fmt::Display;

use futures::{Stream, StreamExt as _};

use crate::{
    model::{Delta, Turn},
    sse::Parser,
    Error, Result,
};

/// A token count from a provider's `usage` object; 0 when absent.
pub(crate) fn count(usage: &serde_json::Value, field: &str) -> u64 {
    usage
        .get(field)
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(0)
}

/// Turns one provider's events into a [`Turn`].
pub trait Decoder {
    /// The provider, as messages name it.
    fn provider(&self) -> &'static str;
    /// One event: its `event:` name (`message` when it has none) and data.
    fn event(&mut self, name: &str, data: &str) -> Result<Vec<Delta>>;
    /// Whether the provider has said its answer is complete.
    fn complete(&self) -> bool;
    /// The answer, or why there is none (a stream that ended early).
    fn finish(self) -> Result<Turn>;
}

/// The most bytes of one streamed answer meshls reads (text and tool
/// arguments with the stream's framing): an answer of `max_tokens` takes a
/// small part of it, and a stream that goes on past it is not a model's.
pub const MAX_ANSWER_BYTES: usize = 32 * 1024 * 1024;

/// Reads `body` to the end of the answer, calling `progress` with each
/// piece as it arrives; an answer over [`MAX_ANSWER_BYTES`] is an error.
pub async fn read_turn<S, B, E, D>(
    mut body: S,
    mut decoder: D,
    mut progress: impl FnMut(Delta),
) -> Result<Turn>
where
    S: Stream<Item = std::result::Result<B, E>> + Unpin,
    B: AsRef<[u8]>,
    E: Display,
    D: Decoder,
{
    let provider = decoder.provider();
    let not_utf8 = |_| Error::Malformed {
        provider,
        reason: "text that is not UTF-8".to_owned(),
    };
    let mut parser = Parser::default();
    let mut events = Vec::new();
    let mut read = 0usize;
    loop {
        let ended = match body.next().await {
            Some(Ok(bytes)) => {
                read = read.saturating_add(bytes.as_ref().len());
                if read > MAX_ANSWER_BYTES {
                    return Err(Error::TooLarge {
                        provider,
                        limit: MAX_ANSWER_BYTES,
                    });
                }
                parser.feed(bytes.as_ref(), &mut events).map_err(not_utf8)?;
                false
            }
            Some(Err(err)) => {
                return Err(Error::CutOff {
                    provider,
                    reason: err.to_string(),
                })
            }
            None => {
                parser.finish(&mut events).map_err(not_utf8)?;
                true
            }
        };
        for event in events.drain(..) {
            for delta in decoder.event(&event.name, &event.data)? {
                progress(delta);
            }
            // Whatever follows the end of the answer is not read.
            if decoder.complete() {
                return decoder.finish();
            }
        }
        if ended {
            return decoder.finish();
        }
    }
}
