//! Independent models the tests check results against: [`TextModel`], a
//! document with LSP edit semantics that shares no code with the server, and
//! [`Rng`], a seeded generator for reproducible random edits.

use lsp_types::{Position, Range};

/// A document's text with LSP edit semantics, written independently of the server
/// so that tests compare the server's view of a document against an honest oracle.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextModel {
    text: String,
}

impl TextModel {
    pub fn new(text: impl Into<String>) -> TextModel {
        TextModel { text: text.into() }
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn len_chars(&self) -> usize {
        self.text.chars().count()
    }

    /// Applies an LSP edit whose positions count UTF-16 code units.
    pub fn apply(&mut self, range: Range, new_text: &str) {
        let start = self.offset_of(range.start);
        let end = self.offset_of(range.end);
        assert!(start <= end, "edit range ends before it starts: {range:?}");
        self.text.replace_range(start..end, new_text);
    }

    /// The byte offset of an LSP position. A character past the end of its line clamps
    /// to the line end and a line past the end clamps to the end of the text; a position
    /// inside a surrogate pair rounds down to the start of that character.
    pub fn offset_of(&self, position: Position) -> usize {
        let mut start = 0;
        for _ in 0..position.line {
            match line_break(&self.text[start..]) {
                Some((at, len)) => start += at + len,
                None => return self.text.len(),
            }
        }
        let end = line_break(&self.text[start..]).map_or(self.text.len(), |(at, _)| start + at);
        let mut units = 0;
        for (index, c) in self.text[start..end].char_indices() {
            units += c.len_utf16() as u32;
            if units > position.character {
                return start + index;
            }
        }
        end
    }

    /// The LSP position before the character at `char_index` (clamped to the end of the text).
    /// An index between the `\r` and `\n` of a CRLF maps to the end of that line, the only
    /// position that exists there.
    pub fn position_of(&self, char_index: usize) -> Position {
        let (mut line, mut character) = (0, 0);
        let mut chars = self.text.chars().peekable();
        let mut index = 0;
        while index < char_index {
            let Some(c) = chars.next() else { break };
            index += 1;
            match c {
                '\r' if chars.peek() == Some(&'\n') => {
                    if index == char_index {
                        break;
                    }
                    chars.next();
                    index += 1;
                    (line, character) = (line + 1, 0);
                }
                '\r' | '\n' => (line, character) = (line + 1, 0),
                c => character += c.len_utf16() as u32,
            }
        }
        Position::new(line, character)
    }

    /// The LSP range covering the characters in `chars`.
    pub fn range_of(&self, chars: std::ops::Range<usize>) -> Range {
        Range::new(self.position_of(chars.start), self.position_of(chars.end))
    }

    pub fn end_position(&self) -> Position {
        self.position_of(usize::MAX)
    }
}

/// The byte offset and length of the first line break in `text`.
fn line_break(text: &str) -> Option<(usize, usize)> {
    let at = text.find(['\r', '\n'])?;
    let len = if text[at..].starts_with("\r\n") { 2 } else { 1 };
    Some((at, len))
}

/// A small deterministic PRNG (xorshift64*), so random edit sequences are reproducible from a seed.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift is stuck at zero, so the seed is mixed with a constant that makes zero unlikely.
        let state = seed ^ 0x9E37_79B9_7F4A_7C15;
        Rng {
            state: if state == 0 {
                0x9E37_79B9_7F4A_7C15
            } else {
                state
            },
        }
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.state;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.state = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// A number in `0..n`; the multiply-high mapping avoids the bias of `%`.
    pub fn below(&mut self, n: usize) -> usize {
        assert!(n > 0, "Rng::below(0) has no possible result");
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    pub fn chance(&mut self, numerator: usize, denominator: usize) -> bool {
        self.below(denominator) < numerator
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn range(l1: u32, c1: u32, l2: u32, c2: u32) -> Range {
        Range::new(Position::new(l1, c1), Position::new(l2, c2))
    }

    #[test]
    fn emoji_counts_two_utf16_units() {
        let mut model = TextModel::new("a😀b");
        assert_eq!(model.position_of(2), Position::new(0, 3));
        model.apply(range(0, 3, 0, 4), "c");
        assert_eq!(model.text(), "a😀c");
        model.apply(range(0, 1, 0, 3), "");
        assert_eq!(model.text(), "ac");
    }

    #[test]
    fn all_line_breaks_end_lines() {
        let mut model = TextModel::new("ab\r\ncd\ref\ngh");
        model.apply(range(1, 1, 1, 1), "X");
        model.apply(range(2, 0, 2, 0), "Y");
        model.apply(range(3, 2, 3, 2), "Z");
        assert_eq!(model.text(), "ab\r\ncXd\rYef\nghZ");
        assert_eq!(model.position_of(4), Position::new(1, 0));
        // Between `\r` and `\n` only the end of the line exists.
        assert_eq!(model.position_of(3), Position::new(0, 2));
        assert_eq!(model.end_position(), Position::new(3, 3));
        // Deleting a CRLF joins the lines.
        model.apply(range(0, 2, 1, 0), "");
        assert_eq!(model.text(), "abcXd\rYef\nghZ");
    }

    #[test]
    fn positions_past_the_end_clamp() {
        let mut model = TextModel::new("abc\r\ndef");
        model.apply(range(0, 99, 0, 99), "!");
        assert_eq!(model.text(), "abc!\r\ndef");
        model.apply(range(1, 1, 7, 0), "");
        assert_eq!(model.text(), "abc!\r\nd");
        assert_eq!(model.position_of(100), Position::new(1, 1));
    }

    #[test]
    fn position_of_and_apply_agree() {
        let mut rng = Rng::new(7);
        let pieces = ["a", "é", "😀", "\n", "\r\n", "\r", ""];
        let mut model = TextModel::new("");
        let mut chars: Vec<char> = Vec::new();
        for _ in 0..2000 {
            let len = chars.len();
            let start = rng.below(len + 1);
            let end = start + rng.below(len - start + 1);
            let insert: String = (0..rng.below(3)).map(|_| *rng.pick(&pieces)).collect();
            let edit = model.range_of(start..end);
            model.apply(edit, &insert);
            // The oracle's oracle: the same edit on characters, unless it split a CRLF.
            let splits_crlf =
                |i: usize| i > 0 && i < len && chars[i - 1] == '\r' && chars[i] == '\n';
            if !splits_crlf(start) && !splits_crlf(end) {
                chars.splice(start..end, insert.chars());
                assert_eq!(model.text(), chars.iter().collect::<String>());
            } else {
                chars = model.text().chars().collect();
            }
        }
    }

    #[test]
    fn rng_is_deterministic_and_in_range() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        for n in 1..1000 {
            let x = a.below(n);
            assert_eq!(x, b.below(n));
            assert!(x < n);
        }
        assert_ne!(Rng::new(1).next_u64(), Rng::new(2).next_u64());
    }
}
