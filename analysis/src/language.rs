//! The languages meshls knows, in one place: every LSP language id with
//! its file extensions and the other names editors give it ([`KNOWN`],
//! whether meshls parses it or only its servers do), and the languages
//! meshls parses itself ([`LANGUAGES`]: a grammar and a symbols query in
//! `queries/` each, so adding Python or Go is one entry).

use std::{path::Path, sync::OnceLock};

use tree_sitter::Query;

/// A language by its LSP id.
#[derive(Debug)]
pub struct Known {
    /// The LSP language id, as VS Code names it.
    pub id: &'static str,
    /// File name extensions, without the dot.
    pub extensions: &'static [&'static str],
    /// Other ids editors send for it: eglot names a language after its
    /// major mode (`rust-ts` for `rust-ts-mode`), some clients `tsx`.
    pub aliases: &'static [&'static str],
}

/// Every language meshls knows.
pub static KNOWN: &[Known] = &[
    Known {
        id: "rust",
        extensions: &["rs"],
        aliases: &["rust-ts"],
    },
    Known {
        id: "typescript",
        extensions: &["ts", "mts", "cts"],
        aliases: &["typescript-ts"],
    },
    Known {
        id: "typescriptreact",
        extensions: &["tsx"],
        aliases: &["tsx", "tsx-ts"],
    },
    Known {
        id: "javascript",
        extensions: &["js", "mjs", "cjs"],
        aliases: &["js", "js-ts", "javascript-ts"],
    },
    Known {
        id: "javascriptreact",
        extensions: &["jsx"],
        aliases: &["jsx", "js-jsx"],
    },
    Known {
        id: "python",
        extensions: &["py", "pyi"],
        aliases: &["python-ts"],
    },
    Known {
        id: "c",
        extensions: &["c", "h"],
        aliases: &["c-ts"],
    },
    Known {
        id: "cpp",
        extensions: &["cc", "cpp", "cxx", "hpp", "hh"],
        aliases: &["c++", "c++-ts", "cpp-ts"],
    },
    Known {
        id: "go",
        extensions: &["go"],
        aliases: &["go-ts"],
    },
];

/// The LSP language id of a file by its extension.
pub fn lsp_id_of_path(path: &Path) -> Option<&'static str> {
    let extension = path.extension()?.to_str()?;
    KNOWN
        .iter()
        .find(|known| known.extensions.contains(&extension))
        .map(|known| known.id)
}

/// The LSP language id meshls goes by for a document the editor named
/// `given` at `path`: `given` when it is one meshls knows; else the one
/// its extension says (eglot sends `js` for a `.ts` file in `js-mode`);
/// else the one `given` is another name for; else `given` as it is.
pub fn canonical_lsp_id<'a>(given: &'a str, path: &Path) -> &'a str {
    if KNOWN.iter().any(|known| known.id == given) {
        return given;
    }
    lsp_id_of_path(path)
        .or_else(|| {
            KNOWN
                .iter()
                .find(|known| known.aliases.contains(&given))
                .map(|known| known.id)
        })
        .unwrap_or(given)
}

/// A language meshls parses.
pub struct Language {
    /// Its LSP language id (see [`KNOWN`] for extensions and aliases).
    id: &'static str,
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
        self.id
    }

    /// The language meshls parses for an LSP id, or one of its aliases.
    pub fn for_lsp_id(id: &str) -> Option<&'static Language> {
        let id = KNOWN
            .iter()
            .find(|known| known.id == id || known.aliases.contains(&id))
            .map_or(id, |known| known.id);
        LANGUAGES.iter().find(|lang| lang.id == id)
    }

    /// The language of a file by its extension.
    pub fn for_path(path: &str) -> Option<&'static Language> {
        Language::for_lsp_id(lsp_id_of_path(Path::new(path))?)
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
        id: "rust",
        grammar: || tree_sitter_rust::LANGUAGE.into(),
        symbols_source: include_str!("../queries/rust/symbols.scm"),
        symbols: OnceLock::new(),
        comment_kinds: &["line_comment", "block_comment"],
        import_kinds: &["use_declaration", "extern_crate_declaration"],
    },
    Language {
        id: "typescript",
        grammar: || tree_sitter_typescript::LANGUAGE_TYPESCRIPT.into(),
        symbols_source: include_str!("../queries/typescript/symbols.scm"),
        symbols: OnceLock::new(),
        comment_kinds: &["comment"],
        import_kinds: &["import_statement"],
    },
    Language {
        id: "typescriptreact",
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
        assert_eq!(
            Language::for_lsp_id("tsx").map(Language::id),
            Some("typescriptreact")
        );
        assert_eq!(
            Language::for_lsp_id("rust-ts").map(Language::id),
            Some("rust")
        );
    }

    #[test]
    fn an_id_meshls_does_not_know_goes_by_the_extension_then_the_alias() {
        let ts = Path::new("src/a.ts");
        assert_eq!(canonical_lsp_id("typescript", ts), "typescript");
        // eglot in js-mode, on a TypeScript file.
        assert_eq!(canonical_lsp_id("js", ts), "typescript");
        assert_eq!(canonical_lsp_id("typescript-ts", ts), "typescript");
        assert_eq!(canonical_lsp_id("js", Path::new("untitled")), "javascript");
        assert_eq!(canonical_lsp_id("python-ts", Path::new("a.py")), "python");
        assert_eq!(
            canonical_lsp_id("plaintext", Path::new("notes.txt")),
            "plaintext"
        );
        // Every id, extension and alias is one language's only.
        let mut seen = std::collections::HashSet::new();
        for known in KNOWN {
            for name in std::iter::once(&known.id).chain(known.aliases) {
                assert!(seen.insert(("id", *name)), "{name}");
            }
            for extension in known.extensions {
                assert!(seen.insert(("extension", *extension)), "{extension}");
            }
        }
        // Every language meshls parses is a known one.
        for language in &LANGUAGES {
            assert!(KNOWN.iter().any(|known| known.id == language.id()));
        }
    }
}
