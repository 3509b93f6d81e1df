//! `textDocument/selectionRange`: from the smallest syntax node at a position
//! out through its ancestors, each step a strictly larger range.

use lsp_types::{Position, SelectionRange};

use crate::{position, position::byte_range_to_range, Snapshot};

/// Most ranges in one chain.
const MAX_DEPTH: usize = 200;

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
        let mut chain = vec![whole.clone()];
        if let Some(tree) = &self.tree {
            // Walk down from the root to the innermost node: `Node::parent`
            // costs the node's depth, so walking up would be quadratic.
            let root = tree.root_node();
            let target = root.descendant_for_byte_range(byte, byte).unwrap_or(root);
            let mut node = Some(root);
            while let Some(n) = node {
                if chain.last() != Some(&n.byte_range()) {
                    chain.push(n.byte_range());
                }
                node = n.child_with_descendant(target).filter(|child| *child != n);
            }
        }
        // Editors serialise the chain recursively; past this depth, only the
        // innermost steps and the whole document are kept.
        if chain.len() > MAX_DEPTH {
            chain.drain(1..chain.len() - MAX_DEPTH + 1);
        }
        let mut result: Option<SelectionRange> = None;
        for bytes in chain {
            result = Some(SelectionRange {
                range: byte_range_to_range(&self.text, bytes, self.encoding),
                parent: result.map(Box::new),
            });
        }
        Ok(result.unwrap_or(SelectionRange {
            range: byte_range_to_range(&self.text, whole, self.encoding),
            parent: None,
        }))
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
    fn deep_nesting_is_capped_and_keeps_the_whole_document() {
        let depth = 5_000;
        let fixture = format!(
            "fn f() {{ {}$01{} }}\n",
            "(".repeat(depth),
            ")".repeat(depth)
        );
        let (snap, pos) = parse("rust", &fixture);
        let ranges = snap.selection_ranges(&[pos.unwrap()]).unwrap();
        let mut chain = vec![];
        let mut cur = ranges.first();
        while let Some(sel) = cur {
            chain.push(sel.range);
            cur = sel.parent.as_deref();
        }
        assert_eq!(chain.len(), super::MAX_DEPTH);
        // `fn f() { ` is 9 characters, then the parentheses.
        assert_eq!(
            chain[0].start.character as usize,
            9 + depth,
            "the innermost is the literal"
        );
        assert_eq!(
            chain.last().unwrap().end.line,
            1,
            "the outermost is the whole document"
        );
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
