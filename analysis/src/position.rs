//! Conversion between LSP positions and rope offsets, in every position
//! encoding LSP defines, and the same for plain strings ([`text`]: a file
//! as it is on disk, a line the agent quotes). This is the only module that
//! knows how LSP counts lines and columns; everything else works in char or
//! byte offsets.
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

/// The same conversions for a string not held in a rope (a file read from
/// disk, a document's text at one version), in UTF-16 as LSP's default,
/// with LSP's line breaks: `\n`, `\r\n` and a lone `\r`. Lines and columns
/// here count from 0 and in UTF-16 code units unless a name says chars.
pub mod text {
    use lsp_types::Position;

    /// The lines of `text` without their line breaks, as LSP counts them:
    /// `"a\rb"` is two lines, and a text ending in a break has an empty
    /// last line.
    pub fn lines(text: &str) -> impl Iterator<Item = &str> {
        let mut rest = Some(text);
        std::iter::from_fn(move || {
            let current = rest?;
            match current.find(['\n', '\r']) {
                Some(at) => {
                    let after = if current[at..].starts_with("\r\n") {
                        at + 2
                    } else {
                        at + 1
                    };
                    rest = Some(&current[after..]);
                    Some(&current[..at])
                }
                None => {
                    rest = None;
                    Some(current)
                }
            }
        })
    }

    /// Line `line` of `text`, without its line break.
    pub fn line(text: &str, line: u32) -> Option<&str> {
        lines(text).nth(line as usize)
    }

    /// How many lines `text` has (at least one: an empty text is one empty
    /// line).
    pub fn line_count(text: &str) -> usize {
        lines(text).count()
    }

    /// Line `line`'s length in UTF-16 code units; 0 past the end.
    pub fn line_len(text: &str, line: u32) -> u32 {
        self::line(text, line).map_or(0, |l| l.encode_utf16().count() as u32)
    }

    /// The LSP position of byte `offset` (at a char boundary, at most
    /// `text.len()`). An offset between the `\r` and `\n` of a break is the
    /// end of its line, as in the rope.
    pub fn byte_position(text: &str, offset: usize) -> Position {
        let bytes = text.as_bytes();
        let (mut line, mut start) = (0u32, 0usize);
        for (at, &byte) in bytes[..offset].iter().enumerate() {
            if byte == b'\n' || (byte == b'\r' && bytes.get(at + 1) != Some(&b'\n')) {
                line += 1;
                start = at + 1;
            }
        }
        let content = text[start..offset].trim_end_matches('\r');
        Position::new(line, content.encode_utf16().count() as u32)
    }

    /// The LSP position of char column `column` of line `line`; a column
    /// past the end of the line is its end, and without such a line the
    /// column is taken as it is.
    pub fn char_column_position(text: &str, line: u32, column: u32) -> Position {
        let character = self::line(text, line).map_or(column, |l| {
            l.chars()
                .take(column as usize)
                .map(char::len_utf16)
                .sum::<usize>() as u32
        });
        Position::new(line, character)
    }

    /// The char column of an LSP position (a unit inside a character counts
    /// as that character); without such a line, the units as they are.
    pub fn char_column(text: &str, position: Position) -> u32 {
        let Some(l) = self::line(text, position.line) else {
            return position.character;
        };
        let mut seen = 0;
        l.chars()
            .take_while(|c| {
                seen += c.len_utf16();
                seen <= position.character as usize
            })
            .count() as u32
    }
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

    #[test]
    fn text_lines_are_lsp_lines() {
        fn lines(t: &str) -> Vec<&str> {
            text::lines(t).collect()
        }
        assert_eq!(lines(""), [""]);
        assert_eq!(lines("a\r\nb\rc\nd\n"), ["a", "b", "c", "d", ""]);
        assert_eq!(text::line("a\rb", 1), Some("b"));
        assert_eq!(text::line_len("a😀\n", 0), 3);
        assert_eq!(text::byte_position("ab\r\ncd", 3), pos(0, 2));
        assert_eq!(text::char_column_position("a😀b", 0, 2), pos(0, 3));
        assert_eq!(text::char_column("a😀b", pos(0, 3)), 2);
        assert_eq!(text::char_column("a😀b", pos(0, 2)), 1);
    }

    proptest! {
        #[test]
        fn string_helpers_agree_with_the_rope(text in text_strategy()) {
            let rope = Rope::from_str(&text);
            let lines: Vec<&str> = text::lines(&text).collect();
            prop_assert_eq!(lines.len(), rope.len_lines());
            for (index, line) in lines.iter().enumerate() {
                let slice = rope.line(index);
                let content = slice.slice(..slice.len_chars() - line_break_len(slice));
                prop_assert_eq!(content.to_string(), *line);
                prop_assert_eq!(text::line_len(&text, index as u32) as usize, content.len_utf16_cu());
            }
            for (offset, _) in text.char_indices().chain(std::iter::once((text.len(), ' '))) {
                let ch = rope.byte_to_char(offset);
                prop_assert_eq!(
                    text::byte_position(&text, offset),
                    to_position(&rope, ch, PositionEncoding::Utf16)
                );
                // Round trip through char columns, where LSP can name it.
                let p = to_position(&rope, ch, PositionEncoding::Utf16);
                let column = text::char_column(&text, p);
                prop_assert_eq!(text::char_column_position(&text, p.line, column), p);
            }
        }

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
