//! Syntax errors found by tree-sitter, as diagnostics with source `meshls`.

use lsp_types::{Diagnostic, DiagnosticSeverity, NumberOrString};

use crate::{position::byte_range_to_range, Snapshot};

pub const DIAGNOSTIC_SOURCE: &str = "meshls";

/// A file being typed can be one big error; past this many, more
/// diagnostics only add noise.
const MAX_SYNTAX_ERRORS: usize = 100;

impl Snapshot {
    pub fn syntax_diagnostics(&self) -> Vec<Diagnostic> {
        let Some(tree) = &self.tree else {
            return Vec::new();
        };
        let mut out = Vec::new();
        let mut cursor = tree.walk();
        let mut visit = true;
        while out.len() < MAX_SYNTAX_ERRORS {
            let node = cursor.node();
            let mut descend = visit && node.has_error();
            if visit && (node.is_error() || node.is_missing()) {
                let message = if node.is_missing() {
                    format!("syntax error: missing `{}`", node.kind())
                } else {
                    // Only the start of the node: an error node can be the whole file.
                    let start = self.text.byte_to_char(node.start_byte());
                    let end = self.text.byte_to_char(node.end_byte()).min(start + 80);
                    let text = self.text.slice(start..end).to_string();
                    let first = text.lines().next().unwrap_or("").trim();
                    match first.char_indices().nth(30) {
                        Some((cut, _)) => format!("syntax error: unexpected `{}…`", &first[..cut]),
                        None if first.is_empty() => "syntax error".to_owned(),
                        None => format!("syntax error: unexpected `{first}`"),
                    }
                };
                out.push(Diagnostic {
                    range: byte_range_to_range(&self.text, node.byte_range(), self.encoding),
                    severity: Some(DiagnosticSeverity::ERROR),
                    code: Some(NumberOrString::String("syntax-error".to_owned())),
                    source: Some(DIAGNOSTIC_SOURCE.to_owned()),
                    message,
                    ..Diagnostic::default()
                });
                // One diagnostic per error node, not one per token inside it.
                descend = false;
            }
            if descend && cursor.goto_first_child() {
                visit = true;
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
        out
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use crate::features::test_support::parse;

    fn check(language: &str, fixture: &str, expect: Expect) {
        let (snap, _) = parse(language, fixture);
        let out: String = snap
            .syntax_diagnostics()
            .iter()
            .map(|d| {
                let r = d.range;
                format!(
                    "{}:{}-{}:{} {}\n",
                    r.start.line, r.start.character, r.end.line, r.end.character, d.message
                )
            })
            .collect();
        expect.assert_eq(&out);
    }

    #[test]
    fn clean_code_has_no_syntax_errors() {
        check("rust", "fn main() { let x = 1; }\n", expect![""]);
        check(
            "typescriptreact",
            "const a = <div>{1}</div>;\n",
            expect![""],
        );
    }

    #[test]
    fn reports_missing_and_unexpected_tokens() {
        check(
            "rust",
            "fn main() {\n    let x = 1\n    let 😀 = 2;\n}\n",
            expect![[r#"
                1:12-1:13 syntax error: unexpected `1`
                2:8-2:10 syntax error: unexpected `😀`
            "#]],
        );
        check(
            "typescript",
            "function f( {\n  return 1;\n}\n",
            expect![[r#"
            0:0-2:1 syntax error: unexpected `function f( {`
        "#]],
        );
    }
}
