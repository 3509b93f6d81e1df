//! Reading a streamed answer: server-sent events from the HTTP body, each
//! handed to the provider's decoder, which assembles the [`Turn`] and
//! reports text and tool calls as they arrive.

use std::fmt::Display;

use eventsource_stream::{EventStreamError, Eventsource as _};
use futures::{Stream, StreamExt as _};

use crate::{
    model::{Delta, Turn},
    Error, Result,
};

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

/// Reads `body` to the end of the answer, calling `progress` with each
/// piece as it arrives.
pub async fn read_turn<S, B, E, D>(
    body: S,
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
    let mut events = body.eventsource();
    while let Some(event) = events.next().await {
        let event = event.map_err(|err| match err {
            EventStreamError::Transport(err) => Error::CutOff {
                provider,
                reason: err.to_string(),
            },
            EventStreamError::Utf8(err) => Error::Malformed {
                provider,
                reason: format!("text that is not UTF-8 ({err})"),
            },
            EventStreamError::Parser(err) => Error::Malformed {
                provider,
                reason: format!("an event stream that does not parse ({err})"),
            },
        })?;
        for delta in decoder.event(&event.event, &event.data)? {
            progress(delta);
        }
        if decoder.complete() {
            break;
        }
    }
    decoder.finish()
}
