//! `textDocument/selectionRange`: from the smallest syntax node at a position
//! out through its ancestors, each step a strictly larger range.

use lsp_types::{Position, SelectionRange};

use crate::{position, position::byte_range_to_range, Snapshot};

impl Snapshot {
    /// One selection range chain per position, innermost first. Documents
    /// without a tree get the whole document as their only range.
    pub fn selection_ranges(&self, positions: &[Position]) -> crate::Result<Vec<SelectionRange>> {
        positions
            .iter()
            .map(|&pos| self.selection_range(pos))
            .collect()
    }

    fn selection_range(&self, pos: Position) -> crate::Result<SelectionRange> {
        let byte = self
            .text
            .char_to_byte(position::to_char(&self.text, pos, self.encoding)?);
        let whole = 0..self.text.len_bytes();
        let mut chain = Vec::new();
        if let Some(tree) = &self.tree {
            let mut node = tree.root_node().descendant_for_byte_range(byte, byte);
            while let Some(n) = node {
                if chain.last() != Some(&n.byte_range()) {
                    chain.push(n.byte_range());
                }
                node = n.parent();
            }
        }
        if chain.last() != Some(&whole) {
            chain.push(whole);
        }
        let mut result: Option<SelectionRange> = None;
        for bytes in chain.into_iter().rev() {
            result = Some(SelectionRange {
                range: byte_range_to_range(&self.text, bytes, self.encoding),
                parent: result.map(Box::new),
            });
        }
        Ok(result.expect("the chain holds at least the whole document"))
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use crate::features::test_support::parse;

    fn check(language: &str, fixture: &str, expect: Expect) {
        let (snap, pos) = parse(language, fixture);
        let ranges = snap.selection_ranges(&[pos.unwrap()]).unwrap();
        let mut out = String::new();
        let mut cur = ranges.first();
        while let Some(sel) = cur {
            let r = sel.range;
            let start = crate::position::to_char(&snap.text, r.start, snap.encoding).unwrap();
            let end = crate::position::to_char(&snap.text, r.end, snap.encoding).unwrap();
            out.push_str(&format!("{:?}\n", snap.text.slice(start..end).to_string()));
            cur = sel.parent.as_deref();
        }
        expect.assert_eq(&out);
    }

    #[test]
    fn expands_from_identifier_to_file() {
        check(
            "rust",
            "fn main() {\n    let 😀x = foo(ba$0r, 1);\n}\n",
            expect![[r#"
                "bar"
                "(bar, 1)"
                "foo(bar, 1)"
                "let 😀x = foo(bar, 1);"
                "{\n    let 😀x = foo(bar, 1);\n}"
                "fn main() {\n    let 😀x = foo(bar, 1);\n}"
                "fn main() {\n    let 😀x = foo(bar, 1);\n}\n"
            "#]],
        );
    }
}
