//! `textDocument/foldingRange` from the syntax tree: bracketed nodes over
//! several lines, comment blocks and runs of imports.

use lsp_types::{FoldingRange, FoldingRangeKind};
use tree_sitter::Node;

use super::line_of;
use crate::Snapshot;

impl Snapshot {
    pub fn folding_ranges(&self) -> Vec<FoldingRange> {
        let (Some(tree), Some(language)) = (&self.tree, self.language) else {
            return Vec::new();
        };
        let mut out: Vec<FoldingRange> = Vec::new();
        // A run of consecutive comments or imports being gathered.
        let mut run: Option<(FoldingRangeKind, u32, u32)> = None;
        let mut cursor = tree.walk();
        let mut visit = true;
        loop {
            let node = cursor.node();
            // Comments and imports fold whole; their insides would break the run.
            let mut descend = visit;
            if visit {
                let kind = if language.comment_kinds.contains(&node.kind()) {
                    Some(FoldingRangeKind::Comment)
                } else if language.import_kinds.contains(&node.kind()) {
                    Some(FoldingRangeKind::Imports)
                } else {
                    None
                };
                let (start, end) = (line_of(&self.text, node.start_byte()), self.end_line(node));
                descend = kind.is_none();
                match (kind, &mut run) {
                    (Some(kind), Some((run_kind, _, run_end)))
                        if *run_kind == kind && start == *run_end + 1 =>
                    {
                        *run_end = end;
                    }
                    (Some(kind), _) => {
                        flush(&mut out, run.take());
                        run = Some((kind, start, end));
                    }
                    (None, _) => {
                        if node.is_named() {
                            flush(&mut out, run.take());
                        }
                        if let Some(range) = self.bracket_fold(node) {
                            out.push(range);
                        }
                    }
                }
            }
            if descend && cursor.goto_first_child() {
                continue;
            }
            if cursor.goto_next_sibling() {
                visit = true;
                continue;
            }
            if !cursor.goto_parent() {
                break;
            }
            visit = false;
        }
        flush(&mut out, run);
        out.sort_by_key(|r| (r.start_line, std::cmp::Reverse(r.end_line)));
        // Editors fold by start line: keep the outermost range per line.
        out.dedup_by_key(|r| r.start_line);
        out
    }

    /// The line of a node's last character (a node ending with a line break
    /// ends on the line before).
    fn end_line(&self, node: Node<'_>) -> u32 {
        let end = node.end_byte();
        if end > node.start_byte() && self.text.byte(end - 1) == b'\n' {
            line_of(&self.text, end - 1)
        } else {
            line_of(&self.text, end)
        }
    }

    /// `{ ... }`, `( ... )` and `[ ... ]` spanning lines fold from the opening
    /// line to the line before the closing bracket, which stays visible.
    fn bracket_fold(&self, node: Node<'_>) -> Option<FoldingRange> {
        let open = node.child(0)?;
        let close = node.child(node.child_count().checked_sub(1)?)?;
        let pair = matches!(
            (open.kind(), close.kind()),
            ("{", "}") | ("(", ")") | ("[", "]")
        );
        if !pair || close.is_missing() {
            return None;
        }
        let start_line = line_of(&self.text, open.start_byte());
        let end_line = line_of(&self.text, close.start_byte()).checked_sub(1)?;
        (end_line > start_line).then(|| FoldingRange {
            start_line,
            end_line,
            kind: Some(FoldingRangeKind::Region),
            ..FoldingRange::default()
        })
    }
}

fn flush(out: &mut Vec<FoldingRange>, run: Option<(FoldingRangeKind, u32, u32)>) {
    if let Some((kind, start_line, end_line)) = run {
        if end_line > start_line {
            out.push(FoldingRange {
                start_line,
                end_line,
                kind: Some(kind),
                ..FoldingRange::default()
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use crate::features::test_support::parse;

    fn check(language: &str, fixture: &str, expect: Expect) {
        let (snap, _) = parse(language, fixture);
        let out: String = snap
            .folding_ranges()
            .iter()
            .map(|r| {
                format!(
                    "{}-{} {:?}\n",
                    r.start_line,
                    r.end_line,
                    r.kind.clone().unwrap()
                )
            })
            .collect();
        expect.assert_eq(&out);
    }

    #[test]
    fn rust_folds_blocks_comments_and_imports() {
        check(
            "rust",
            r#"use std::io;
use std::fmt;
// One comment
// and another.
fn main() {
    let v = [
        1,
        2,
    ];
    if true {
        call(1,
             2);
    }
}
"#,
            expect![[r#"
                0-1 Imports
                2-3 Comment
                4-12 Region
                5-7 Region
                9-11 Region
            "#]],
        );
    }

    #[test]
    fn typescript_folds_classes_and_objects() {
        check(
            "typescript",
            "import a from 'a';\nimport b from 'b';\nclass A {\n  m() {\n    return {\n      x: 1,\n    };\n  }\n}\n",
            expect![[r#"
                0-1 Imports
                2-7 Region
                3-6 Region
                4-5 Region
            "#]],
        );
    }
}
