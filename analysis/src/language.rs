//! The languages meshls parses itself: a small table, so adding Python or Go
//! is one entry (a grammar, the LSP language ids, extensions and a symbols
//! query in `queries/`).

use std::sync::OnceLock;

use tree_sitter::Query;

pub struct Language {
    /// The LSP language ids an editor uses for this language, canonical first.
    pub lsp_ids: &'static [&'static str],
    /// File name extensions, without the dot.
    pub extensions: &'static [&'static str],
    grammar: fn() -> tree_sitter::Language,
    /// A query whose patterns capture a definition under the name of its kind
    /// (`@function`, `@struct`, ... see `features::symbol_kind`) and the
    /// definition's name as `@name`.
    symbols_source: &'static str,
    symbols: OnceLock<Query>,
    /// Node kinds that are comments, folded as `comment` when they run over
    /// several lines or several of them follow one another.
    pub(crate) comment_kinds: &'static [&'static str],
    /// Node kinds that are imports, folded as `imports` when consecutive.
    pub(crate) import_kinds: &'static [&'static str],
}

impl Language {
    pub fn id(&self) -> &'static str {
        self.lsp_ids[0]
    }

    pub fn for_lsp_id(id: &str) -> Option<&'static Language> {
        LANGUAGES.iter().find(|lang| lang.lsp_ids.contains(&id))
    }

    /// The language of a file by its extension.
    pub fn for_path(path: &str) -> Option<&'static Language> {
        let ext = path.rsplit_once('.')?.1;
        LANGUAGES.iter().find(|lang| lang.extensions.contains(&ext))
    }

    pub(crate) fn grammar(&self) -> tree_sitter::Language {
        (self.grammar)()
    }

    pub(crate) fn symbols_query(&self) -> &Query {
        self.symbols.get_or_init(|| {
            // The queries ship inside the binary and are checked by the tests,
            // so a failure here is a bug in meshls, not bad input.
            Query::new(&self.grammar(), self.symbols_source)
                .unwrap_or_else(|err| panic!("symbols query for {} is invalid: {err}", self.id()))
        })
    }
}

pub static LANGUAGES: [Language; 3] = [
    Language {
        lsp_ids: &["rust"],
        extensions: &["rs"],
        grammar: || tree_sitter_rust::LANGUAGE.into(),
        symbols_source: include_str!("../queries/rust/symbols.scm"),
        symbols: OnceLock::new(),
        comment_kinds: &["line_comment", "block_comment"],
        import_kinds: &["use_declaration", "extern_crate_declaration"],
    },
    Language {
        lsp_ids: &["typescript"],
        extensions: &["ts", "mts", "cts"],
        grammar: || tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        symbols_source: include_str!("../queries/typescript/symbols.scm"),
        symbols: OnceLock::new(),
        comment_kinds: &["comment"],
        import_kinds: &["import_statement"],
    },
    Language {
        lsp_ids: &["typescriptreact", "tsx"],
        extensions: &["tsx"],
        grammar: || tree_sitter_typescript::LANGUAGE_TSX.into(),
        symbols_source: include_str!("../queries/typescript/symbols.scm"),
        symbols: OnceLock::new(),
        comment_kinds: &["comment"],
        import_kinds: &["import_statement"],
    },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_symbols_query_compiles() {
        for lang in &LANGUAGES {
            let _ = lang.symbols_query();
        }
    }

    #[test]
    fn languages_are_found_by_id_and_extension() {
        assert_eq!(
            Language::for_lsp_id("typescriptreact").map(Language::id),
            Some("typescriptreact")
        );
        assert_eq!(
            Language::for_path("src/a.tsx").map(Language::id),
            Some("typescriptreact")
        );
        assert_eq!(Language::for_path("lib.rs").map(Language::id), Some("rust"));
        assert!(Language::for_path("README").is_none());
    }
}
