//! Tool outputs kept whole: one too long for the conversation is cut there,
//! and one dropped from an old step to make room is replaced by a note;
//! either way the model can read it back with the `read_output` tool.
//! They are kept in memory for the session, up to [`KEPT_BYTES`], oldest
//! dropped first.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::model::ToolSpec;

/// The name of the tool that reads a kept output.
pub const READ_OUTPUT: &str = "read_output";
/// Bytes kept in all; beyond this the oldest outputs are forgotten.
pub const KEPT_BYTES: usize = 16 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct Outputs {
    kept: VecDeque<(u32, String)>,
    last_id: u32,
    bytes: usize,
}

/// Saved with the session: only the last id, so that after a restart a
/// note's id never names another output (the outputs themselves are not
/// saved).
impl Serialize for Outputs {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.last_id.serialize(serializer)
    }
}

impl<'de> Deserialize<'de> for Outputs {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(Outputs {
            last_id: u32::deserialize(deserializer)?,
            ..Outputs::default()
        })
    }
}

impl Outputs {
    /// Keeps `text`; its id for `read_output`.
    pub fn keep(&mut self, text: String) -> u32 {
        self.last_id += 1;
        self.bytes += text.len();
        self.kept.push_back((self.last_id, text));
        while self.bytes > KEPT_BYTES && self.kept.len() > 1 {
            if let Some((_, old)) = self.kept.pop_front() {
                self.bytes -= old.len();
            }
        }
        self.last_id
    }

    /// `content` as the model gets it: whole when it is at most `limit`
    /// bytes, else cut there (at a character boundary) and kept whole, with
    /// a note saying how to read on.
    pub fn cut(&mut self, content: String, limit: usize) -> String {
        if content.len() <= limit {
            return content;
        }
        let mut cut = limit;
        while !content.is_char_boundary(cut) {
            cut -= 1;
        }
        let mut head = content[..cut].to_owned();
        let dropped = content.len() - cut;
        let id = self.keep(content);
        head.push_str(&format!(
            "\n(output cut here, {dropped} more bytes; {READ_OUTPUT} with id {id} and offset {cut} reads on)"
        ));
        head
    }

    /// What `read_output` answers: `limit` bytes of output `id` from
    /// `offset` (both moved to character boundaries), saying where to read
    /// on.
    pub fn read(&self, arguments: &Value, limit: usize) -> Result<String, String> {
        let id = arguments
            .get("id")
            .and_then(Value::as_u64)
            .ok_or("`id` must be the number of a kept output")?;
        let text = self
            .kept
            .iter()
            .find(|(kept, _)| u64::from(*kept) == id)
            .map(|(_, text)| text)
            .ok_or_else(|| {
                format!("output {id} is not kept (outputs are kept until meshls restarts, and the oldest go first); run its tool again")
            })?;
        let mut start = arguments
            .get("offset")
            .and_then(Value::as_u64)
            .map_or(0, |offset| offset as usize)
            .min(text.len());
        while !text.is_char_boundary(start) {
            start -= 1;
        }
        let mut end = start
            .saturating_add(
                arguments
                    .get("limit")
                    .and_then(Value::as_u64)
                    .map_or(limit, |asked| (asked as usize).clamp(1, limit)),
            )
            .min(text.len());
        // Forward to a character boundary: a read always makes progress.
        while !text.is_char_boundary(end) {
            end += 1;
        }
        let mut out = text[start..end].to_owned();
        if end < text.len() {
            out.push_str(&format!(
                "\n(bytes {start}-{end} of {}; read on with offset {end})",
                text.len()
            ));
        }
        Ok(out)
    }
}

pub fn spec() -> ToolSpec {
    ToolSpec {
        name: READ_OUTPUT.to_owned(),
        description:
            "Read an earlier tool output that was cut or dropped, by the id its note gives."
                .to_owned(),
        parameters: json!({"type": "object", "properties": {
            "id": {"type": "integer"},
            "offset": {"type": "integer", "description": "Byte to start at, from 0"},
            "limit": {"type": "integer", "description": "How many bytes"}},
            "required": ["id"]}),
    }
}
