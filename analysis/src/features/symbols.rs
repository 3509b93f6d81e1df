//! `textDocument/documentSymbol` and the enclosing context of a position,
//! both from the language's symbols query.

use lsp_types::{DocumentSymbol, Position, Range, SymbolKind};
use tree_sitter::{QueryCursor, StreamingIterator};

use super::node_text;
use crate::{
    position::{self, byte_range_to_range},
    Snapshot,
};

/// The innermost function, method, class, impl, trait or module around a
/// position: what the agent works on when asked about "this".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enclosing {
    pub kind: SymbolKind,
    pub name: String,
    /// Names of the symbols around it, outermost first.
    pub container: Vec<String>,
    pub range: Range,
    pub selection_range: Range,
    pub text: String,
}

/// Symbols nest at most this deep; deeper ones become siblings at this
/// depth. Editors walk the tree recursively, and real code is never deeper.
const MAX_DEPTH: usize = 32;

/// A definition found by the query, before nesting.
struct Def {
    kind: SymbolKind,
    name: String,
    bytes: std::ops::Range<usize>,
    name_bytes: std::ops::Range<usize>,
}

fn symbol_kind(capture: &str) -> Option<SymbolKind> {
    Some(match capture {
        "function" | "macro" => SymbolKind::FUNCTION,
        "method" => SymbolKind::METHOD,
        "struct" => SymbolKind::STRUCT,
        "class" => SymbolKind::CLASS,
        "enum" => SymbolKind::ENUM,
        "enum_member" => SymbolKind::ENUM_MEMBER,
        "interface" => SymbolKind::INTERFACE,
        // rust-analyzer shows impls as objects; editors render them well.
        "impl" => SymbolKind::OBJECT,
        "module" => SymbolKind::MODULE,
        "constant" => SymbolKind::CONSTANT,
        "variable" => SymbolKind::VARIABLE,
        // LSP has no kind for type aliases; rust-analyzer uses this one.
        "type_alias" => SymbolKind::TYPE_PARAMETER,
        "field" => SymbolKind::FIELD,
        "property" => SymbolKind::PROPERTY,
        _ => return None,
    })
}

impl Snapshot {
    /// Hierarchical symbols of the document, in source order.
    pub fn document_symbols(&self) -> Vec<DocumentSymbol> {
        self.nest(self.definitions(None))
    }

    /// Definitions nested into a tree of symbols.
    fn nest(&self, defs: Vec<Def>) -> Vec<DocumentSymbol> {
        let mut roots = Vec::new();
        // Definitions come sorted by start, outer before inner, so a stack of
        // open ancestors nests them in one pass.
        let mut stack: Vec<(std::ops::Range<usize>, DocumentSymbol)> = Vec::new();
        for def in defs {
            while stack
                .last()
                .is_some_and(|(outer, _)| def.bytes.end > outer.end)
                || stack.len() >= MAX_DEPTH
            {
                pop_into(&mut stack, &mut roots);
            }
            let parent_kind = stack.last().map(|(_, sym)| sym.kind);
            let kind = match (def.kind, parent_kind) {
                (
                    SymbolKind::FUNCTION,
                    Some(SymbolKind::OBJECT | SymbolKind::INTERFACE | SymbolKind::CLASS),
                ) => SymbolKind::METHOD,
                (SymbolKind::METHOD, _) if def.name == "constructor" => SymbolKind::CONSTRUCTOR,
                (kind, _) => kind,
            };
            #[allow(deprecated)] // `deprecated` is a required field of the struct.
            let symbol = DocumentSymbol {
                name: def.name,
                detail: None,
                kind,
                tags: None,
                deprecated: None,
                range: byte_range_to_range(&self.text, def.bytes.clone(), self.encoding),
                selection_range: byte_range_to_range(&self.text, def.name_bytes, self.encoding),
                children: None,
            };
            stack.push((def.bytes, symbol));
        }
        while !stack.is_empty() {
            pop_into(&mut stack, &mut roots);
        }
        roots
    }

    /// The innermost function, method, class, impl, trait, enum or module
    /// containing `pos`, or `None` at top level (or for an unparsed language).
    pub fn enclosing(&self, pos: Position) -> crate::Result<Option<Enclosing>> {
        // Validates the position: one past the end is an error, not "nothing".
        position::to_char(&self.text, pos, self.encoding)?;
        let mut container = Vec::new();
        let mut found: Option<Enclosing> = None;
        // Only the top-level item around `pos` can hold it: its symbols are
        // enough, and cost the item's size, not the file's.
        let byte = self
            .text
            .char_to_byte(position::to_char(&self.text, pos, self.encoding)?);
        let top = self
            .tree
            .as_ref()
            .and_then(|tree| tree.root_node().first_child_for_byte(byte));
        let mut level = match top {
            Some(top) => self.nest(self.definitions(Some(top))),
            None => Vec::new(),
        };
        while let Some(sym) = level
            .into_iter()
            .find(|sym| contains(sym.range, pos) && is_context(sym.kind))
        {
            if let Some(outer) = found.take() {
                container.push(outer.name);
            }
            found = Some(Enclosing {
                kind: sym.kind,
                name: sym.name.clone(),
                container: container.clone(),
                range: sym.range,
                selection_range: sym.selection_range,
                text: String::new(),
            });
            level = sym.children.unwrap_or_default();
        }
        Ok(found.map(|mut enclosing| {
            let start = position::to_char(&self.text, enclosing.range.start, self.encoding);
            let end = position::to_char(&self.text, enclosing.range.end, self.encoding);
            if let (Ok(start), Ok(end)) = (start, end) {
                enclosing.text = self.text.slice(start..end).to_string();
            }
            enclosing
        }))
    }

    /// The definitions in `within` (a node of this snapshot's tree), or in
    /// the whole document.
    fn definitions(&self, within: Option<tree_sitter::Node<'_>>) -> Vec<Def> {
        let (Some(tree), Some(language)) = (&self.tree, self.language) else {
            return Vec::new();
        };
        let query = language.symbols_query();
        let names = query.capture_names();
        let mut cursor = QueryCursor::new();
        let text = RopeText(&self.text);
        let mut matches = cursor.matches(query, within.unwrap_or(tree.root_node()), text);
        let mut defs: Vec<Def> = Vec::new();
        while let Some(m) = matches.next() {
            let mut def_node = None;
            let mut name_node = None;
            let mut kind = None;
            for capture in m.captures {
                let capture_name = names[capture.index as usize];
                if capture_name == "name" {
                    name_node = Some(capture.node);
                }
                // `@name @enum_member` capture one node twice.
                if let Some(k) = symbol_kind(capture_name) {
                    def_node = Some(capture.node);
                    kind = Some(k);
                }
            }
            let (Some(node), Some(name_node), Some(mut kind)) = (def_node, name_node, kind) else {
                continue;
            };
            let mut name = match node.kind() {
                "impl_item" => match node.child_by_field_name("trait") {
                    Some(tr) => format!(
                        "impl {} for {}",
                        node_text(&self.text, tr),
                        node_text(&self.text, name_node)
                    ),
                    None => format!("impl {}", node_text(&self.text, name_node)),
                },
                _ => node_text(&self.text, name_node),
            };
            if node.kind() == "variable_declarator" {
                let value = node.child_by_field_name("value").map(|v| v.kind());
                let keyword = node.parent().and_then(|p| p.child(0)).map(|k| k.kind());
                kind = match (value, keyword) {
                    (Some("arrow_function" | "function_expression" | "function"), _) => {
                        SymbolKind::FUNCTION
                    }
                    (_, Some("const")) => SymbolKind::CONSTANT,
                    _ => SymbolKind::VARIABLE,
                };
            }
            if name.trim().is_empty() {
                // Editors reject symbols with empty names (VS Code throws).
                name = "<anonymous>".to_owned();
            }
            defs.push(Def {
                kind,
                name,
                bytes: node.byte_range(),
                name_bytes: name_node.byte_range(),
            });
        }
        defs.sort_by(|a, b| {
            a.bytes
                .start
                .cmp(&b.bytes.start)
                .then(b.bytes.end.cmp(&a.bytes.end))
        });
        // Two patterns can match one node; keep the first.
        defs.dedup_by(|b, a| a.bytes == b.bytes);
        defs
    }
}

fn pop_into(
    stack: &mut Vec<(std::ops::Range<usize>, DocumentSymbol)>,
    roots: &mut Vec<DocumentSymbol>,
) {
    let Some((_, sym)) = stack.pop() else { return };
    match stack.last_mut() {
        Some((_, parent)) => parent.children.get_or_insert_with(Vec::new).push(sym),
        None => roots.push(sym),
    }
}

fn is_context(kind: SymbolKind) -> bool {
    matches!(
        kind,
        SymbolKind::FUNCTION
            | SymbolKind::METHOD
            | SymbolKind::CONSTRUCTOR
            | SymbolKind::CLASS
            | SymbolKind::STRUCT
            | SymbolKind::ENUM
            | SymbolKind::INTERFACE
            | SymbolKind::OBJECT
            | SymbolKind::MODULE
    )
}

fn contains(range: Range, pos: Position) -> bool {
    range.start <= pos && pos <= range.end
}

/// Gives tree-sitter's query predicates the rope's text without copying it.
struct RopeText<'a>(&'a ropey::Rope);

impl<'a> tree_sitter::TextProvider<&'a [u8]> for RopeText<'a> {
    type I = RopeChunks<'a>;

    fn text(&mut self, node: tree_sitter::Node<'_>) -> Self::I {
        RopeChunks(self.0.byte_slice(node.byte_range()).chunks())
    }
}

struct RopeChunks<'a>(ropey::iter::Chunks<'a>);

impl<'a> Iterator for RopeChunks<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<Self::Item> {
        self.0.next().map(str::as_bytes)
    }
}

#[cfg(test)]
mod tests {
    use expect_test::{expect, Expect};

    use crate::features::test_support::parse;

    fn check(language: &str, fixture: &str, expect: Expect) {
        let (snap, _) = parse(language, fixture);
        let mut out = String::new();
        fn render(out: &mut String, syms: &[lsp_types::DocumentSymbol], depth: usize) {
            for sym in syms {
                out.push_str(&format!(
                    "{}{:?} {} {}:{}-{}:{}\n",
                    "  ".repeat(depth),
                    sym.kind,
                    sym.name,
                    sym.range.start.line,
                    sym.range.start.character,
                    sym.range.end.line,
                    sym.range.end.character
                ));
                render(out, sym.children.as_deref().unwrap_or_default(), depth + 1);
            }
        }
        render(&mut out, &snap.document_symbols(), 0);
        expect.assert_eq(&out);
    }

    fn check_enclosing(language: &str, fixture: &str, expect: Expect) {
        let (snap, pos) = parse(language, fixture);
        let found = snap.enclosing(pos.expect("fixture has $0")).unwrap();
        let out = match found {
            Some(e) => format!("{:?} {} in {:?}\n{}", e.kind, e.name, e.container, e.text),
            None => "none".to_owned(),
        };
        expect.assert_eq(&out);
    }

    #[test]
    fn rust_symbols_nest_and_methods_are_methods() {
        check(
            "rust",
            r#"
use std::fmt;
/// A point. 😀
pub struct Point { x: i32, y: i32 }
enum Shape { Circle(f64), Square { side: f64 } }
trait Area { fn area(&self) -> f64; }
impl Area for Point { fn area(&self) -> f64 { 0.0 } }
impl Point { pub fn new() -> Self { Point { x: 0, y: 0 } } }
mod inner { pub const MAX: u32 = 1; static NAME: &str = "n"; type Id = u64; }
macro_rules! twice { ($e:expr) => { $e * 2 } }
fn main() { fn local() {} }
"#,
            expect![[r#"
                Struct Point 3:0-3:35
                  Field x 3:19-3:25
                  Field y 3:27-3:33
                Enum Shape 4:0-4:48
                  EnumMember Circle 4:13-4:24
                  EnumMember Square 4:26-4:46
                    Field side 4:35-4:44
                Interface Area 5:0-5:37
                  Method area 5:13-5:35
                Object impl Area for Point 6:0-6:53
                  Method area 6:22-6:51
                Object impl Point 7:0-7:60
                  Method new 7:13-7:58
                Module inner 8:0-8:77
                  Constant MAX 8:12-8:35
                  Constant NAME 8:36-8:60
                  TypeParameter Id 8:61-8:75
                Function twice 9:0-9:46
                Function main 10:0-10:27
                  Function local 10:12-10:25
            "#]],
        );
    }

    #[test]
    fn typescript_symbols() {
        check(
            "typescript",
            r#"
import { x } from "./x";
export interface Shape { area(): number; name: string }
export class Circle implements Shape {
  name = "circle";
  constructor(private r: number) {}
  area(): number { return Math.PI * this.r ** 2; }
}
enum Color { Red, Green = 2 }
type Id = string;
namespace NS { export function inner() {} }
export const double = (n: number) => n * 2;
const LIMIT = 10;
let counter = 0;
function main() { const local = 1; }
"#,
            expect![[r#"
                Interface Shape 2:7-2:55
                  Method area 2:25-2:39
                  Property name 2:41-2:53
                Class Circle 3:7-7:1
                  Property name 4:2-4:17
                  Constructor constructor 5:2-5:35
                  Method area 6:2-6:50
                Enum Color 8:0-8:29
                  EnumMember Red 8:13-8:16
                  EnumMember Green 8:18-8:27
                TypeParameter Id 9:0-9:17
                Module NS 10:0-10:43
                  Function inner 10:22-10:41
                Function double 11:13-11:42
                Constant LIMIT 12:6-12:16
                Variable counter 13:4-13:15
                Function main 14:0-14:36
            "#]],
        );
    }

    #[test]
    fn tsx_symbols() {
        check(
            "typescriptreact",
            r#"
export function App(props: { title: string }) {
  return <div className="app">{props.title}</div>;
}
export const Button = () => <button>ok</button>;
"#,
            expect![[r#"
                Function App 1:7-3:1
                Function Button 4:13-4:47
            "#]],
        );
    }

    #[test]
    fn broken_code_still_has_symbols() {
        check(
            "rust",
            "fn ok() {}\nfn broken( {\nstruct After;\n",
            expect![[r#"
                Function ok 0:0-0:10
                Struct After 2:0-2:13
            "#]],
        );
    }

    #[test]
    fn nesting_is_capped() {
        let depth = 3_000;
        let fixture = format!("{}{}", "mod m { ".repeat(depth), "}".repeat(depth));
        let (snap, _) = parse("rust", &fixture);
        let mut level = snap.document_symbols();
        let mut depth_seen = 0;
        let mut total = 0;
        while let Some(sym) = level.pop() {
            depth_seen += 1;
            total += 1 + level.len();
            level = sym.children.unwrap_or_default();
        }
        assert_eq!(depth_seen, super::MAX_DEPTH);
        assert_eq!(total, depth, "every module is still listed");
    }

    #[test]
    fn enclosing_finds_the_innermost_function() {
        check_enclosing(
            "rust",
            r#"
impl Point {
    fn norm(&self) -> f64 {
        (self.x * self.x$0) as f64
    }
}
"#,
            expect![[r#"
                Method norm in ["impl Point"]
                fn norm(&self) -> f64 {
                        (self.x * self.x) as f64
                    }"#]],
        );
        check_enclosing("rust", "use a;$0\nfn f() {}\n", expect!["none"]);
        // Past the first item, inside a module's function.
        check_enclosing(
            "rust",
            "fn first() {}\nmod outer {\n    fn inner() { 1$0 }\n}\nfn last() {}\n",
            expect![[r#"
                Function inner in ["outer"]
                fn inner() { 1 }"#]],
        );
        check_enclosing(
            "typescript",
            "class A {\n  m() { return 1$0; }\n}\n",
            expect![[r#"
                Method m in ["A"]
                m() { return 1; }"#]],
        );
    }
}
