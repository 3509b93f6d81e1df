//! Conversion between LSP positions and rope offsets, in every position
//! encoding LSP defines. This is the only module that knows how LSP counts
//! columns; everything else works in char or byte offsets.
//!
//! LSP lines end at `\n`, `\r\n` or `\r` (the rope is built with exactly
//! those line breaks). A `character` past the end of its line means the end
//! of the line, as the specification says; a line past the end of the
//! document, or a column that splits a character, is an error.

use std::ops::Range as StdRange;

use lsp_types::{Position, PositionEncodingKind, Range};
use ropey::{Rope, RopeSlice};

use crate::{Error, Result};

/// How the `character` of an LSP position counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum PositionEncoding {
    Utf8,
    /// Mandatory for every client, and the default.
    #[default]
    Utf16,
    Utf32,
}

impl PositionEncoding {
    pub fn from_lsp(kind: &PositionEncodingKind) -> Option<Self> {
        match kind.as_str() {
            "utf-8" => Some(Self::Utf8),
            "utf-16" => Some(Self::Utf16),
            "utf-32" => Some(Self::Utf32),
            _ => None,
        }
    }

    pub fn to_lsp(self) -> PositionEncodingKind {
        match self {
            Self::Utf8 => PositionEncodingKind::UTF8,
            Self::Utf16 => PositionEncodingKind::UTF16,
            Self::Utf32 => PositionEncodingKind::UTF32,
        }
    }

    /// Length of `text` in this encoding's code units.
    fn len(self, text: RopeSlice<'_>) -> usize {
        match self {
            Self::Utf8 => text.len_bytes(),
            Self::Utf16 => text.len_utf16_cu(),
            Self::Utf32 => text.len_chars(),
        }
    }

    /// The char index of code unit `unit` in `text`, or `None` when the unit
    /// falls inside a character.
    fn unit_to_char(self, text: RopeSlice<'_>, unit: usize) -> Option<usize> {
        match self {
            Self::Utf32 => Some(unit),
            Self::Utf16 => {
                let ch = text.utf16_cu_to_char(unit);
                (text.char_to_utf16_cu(ch) == unit).then_some(ch)
            }
            Self::Utf8 => {
                let ch = text.byte_to_char(unit);
                (text.char_to_byte(ch) == unit).then_some(ch)
            }
        }
    }
}

/// Number of chars taken by the line break at the end of `line` (0, 1 or 2).
fn line_break_len(line: RopeSlice<'_>) -> usize {
    let n = line.len_chars();
    match (
        n.checked_sub(2).map(|i| line.char(i)),
        n.checked_sub(1).map(|i| line.char(i)),
    ) {
        (Some('\r'), Some('\n')) => 2,
        (_, Some('\n' | '\r')) => 1,
        _ => 0,
    }
}

/// The char offset in `rope` that `pos` names.
pub(crate) fn to_char(rope: &Rope, pos: Position, enc: PositionEncoding) -> Result<usize> {
    let line_idx = pos.line as usize;
    if line_idx >= rope.len_lines() {
        return Err(Error::LineOutOfRange {
            line: pos.line,
            character: pos.character,
            line_count: rope.len_lines(),
        });
    }
    let line = rope.line(line_idx);
    let content = line.slice(..line.len_chars() - line_break_len(line));
    let unit = pos.character as usize;
    let col = if unit >= enc.len(content) {
        content.len_chars()
    } else {
        enc.unit_to_char(content, unit)
            .ok_or(Error::InsideCharacter {
                line: pos.line,
                character: pos.character,
            })?
    };
    Ok(rope.line_to_char(line_idx) + col)
}

/// The LSP position of char offset `char_idx` (at most `rope.len_chars()`).
pub(crate) fn to_position(rope: &Rope, char_idx: usize, enc: PositionEncoding) -> Position {
    let line_idx = rope.char_to_line(char_idx);
    let line_start = rope.line_to_char(line_idx);
    // An offset between the `\r` and `\n` of a line break (tree-sitter ends
    // comments there) is the end of the line's content.
    let line = rope.line(line_idx);
    let col = (char_idx - line_start).min(line.len_chars() - line_break_len(line));
    Position::new(line_idx as u32, enc.len(line.slice(..col)) as u32)
}

pub(crate) fn to_char_range(
    rope: &Rope,
    range: Range,
    enc: PositionEncoding,
) -> Result<StdRange<usize>> {
    let start = to_char(rope, range.start, enc)?;
    let end = to_char(rope, range.end, enc)?;
    if end < start {
        return Err(Error::InvertedRange {
            start_line: range.start.line,
            start_character: range.start.character,
            end_line: range.end.line,
            end_character: range.end.character,
        });
    }
    Ok(start..end)
}

/// The LSP range of a byte range of `rope` (tree-sitter works in bytes).
pub(crate) fn byte_range_to_range(
    rope: &Rope,
    bytes: StdRange<usize>,
    enc: PositionEncoding,
) -> Range {
    Range::new(
        to_position(rope, rope.byte_to_char(bytes.start), enc),
        to_position(rope, rope.byte_to_char(bytes.end), enc),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn pos(line: u32, character: u32) -> Position {
        Position::new(line, character)
    }

    #[test]
    fn utf16_counts_surrogate_pairs_as_two_units() {
        let rope = Rope::from_str("a😀b\n");
        assert_eq!(to_char(&rope, pos(0, 3), PositionEncoding::Utf16), Ok(2));
        assert_eq!(to_char(&rope, pos(0, 3), PositionEncoding::Utf32), Ok(3));
        assert_eq!(to_char(&rope, pos(0, 5), PositionEncoding::Utf8), Ok(2));
        assert_eq!(to_position(&rope, 2, PositionEncoding::Utf16), pos(0, 3));
        assert_eq!(to_position(&rope, 2, PositionEncoding::Utf8), pos(0, 5));
    }

    #[test]
    fn position_inside_a_character_is_an_error() {
        let rope = Rope::from_str("a😀b");
        assert_eq!(
            to_char(&rope, pos(0, 2), PositionEncoding::Utf16),
            Err(Error::InsideCharacter {
                line: 0,
                character: 2
            })
        );
        assert!(to_char(&rope, pos(0, 3), PositionEncoding::Utf8).is_err());
    }

    #[test]
    fn columns_past_the_line_end_clamp_before_the_line_break() {
        for text in ["ab\r\ncd", "ab\ncd", "ab\rcd"] {
            let rope = Rope::from_str(text);
            assert_eq!(
                to_char(&rope, pos(0, 99), PositionEncoding::Utf16),
                Ok(2),
                "{text:?}"
            );
            assert_eq!(
                to_char(&rope, pos(1, 1), PositionEncoding::Utf16),
                Ok(text.len() - 1)
            );
        }
    }

    #[test]
    fn an_offset_inside_a_crlf_is_the_end_of_its_line() {
        let rope = Rope::from_str("ab\r\ncd");
        assert_eq!(to_position(&rope, 3, PositionEncoding::Utf16), pos(0, 2));
    }

    #[test]
    fn lines_past_the_end_are_errors() {
        let rope = Rope::from_str("one\ntwo\n");
        // Three lines: the empty one after the final newline is addressable.
        assert_eq!(to_char(&rope, pos(2, 0), PositionEncoding::Utf16), Ok(8));
        assert_eq!(
            to_char(&rope, pos(3, 0), PositionEncoding::Utf16),
            Err(Error::LineOutOfRange {
                line: 3,
                character: 0,
                line_count: 3
            })
        );
    }

    #[test]
    fn unicode_line_separators_are_not_lsp_line_breaks() {
        let rope = Rope::from_str("a\u{2028}b\u{85}c\nd");
        assert_eq!(rope.len_lines(), 2);
        assert_eq!(to_char(&rope, pos(1, 0), PositionEncoding::Utf16), Ok(6));
    }

    fn text_strategy() -> impl Strategy<Value = String> {
        proptest::collection::vec(
            prop_oneof![
                Just("a"),
                Just("é"),
                Just("中"),
                Just("😀"),
                Just("e\u{301}"),
                Just("\n"),
                Just("\r\n"),
                Just("\r"),
                Just(" "),
            ],
            0..40,
        )
        .prop_map(|parts| parts.concat())
    }

    proptest! {
        #[test]
        fn char_offsets_round_trip_in_every_encoding(text in text_strategy()) {
            let rope = Rope::from_str(&text);
            for enc in [PositionEncoding::Utf8, PositionEncoding::Utf16, PositionEncoding::Utf32] {
                for ch in 0..=rope.len_chars() {
                    // Offsets between the two chars of a CRLF are not positions LSP can name.
                    if ch > 0 && ch < rope.len_chars() && rope.char(ch - 1) == '\r' && rope.char(ch) == '\n' {
                        continue;
                    }
                    let p = to_position(&rope, ch, enc);
                    prop_assert_eq!(to_char(&rope, p, enc), Ok(ch), "{:?} {:?}", enc, p);
                }
            }
        }

        #[test]
        fn utf16_positions_agree_with_std(text in text_strategy()) {
            // An independent model: walk the chars, counting lines and UTF-16 units with std.
            let rope = Rope::from_str(&text);
            let chars: Vec<char> = text.chars().collect();
            let (mut i, mut line, mut units) = (0usize, 0u32, 0u32);
            loop {
                let p = Position::new(line, units);
                prop_assert_eq!(to_char(&rope, p, PositionEncoding::Utf16), Ok(i));
                prop_assert_eq!(to_position(&rope, i, PositionEncoding::Utf16), p);
                match (chars.get(i), chars.get(i + 1)) {
                    (None, _) => break,
                    (Some('\r'), Some('\n')) => { i += 2; line += 1; units = 0; }
                    (Some('\r' | '\n'), _) => { i += 1; line += 1; units = 0; }
                    (Some(c), _) => { i += 1; units += c.len_utf16() as u32; }
                }
            }
        }
    }
}
