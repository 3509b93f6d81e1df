//! Semantic tokens from several servers through one legend.
//!
//! The editor learns one legend at `initialize`, but each server numbers
//! token types and modifiers by its own. meshls advertises the union of the
//! legends and renumbers each server's tokens into it. Delta answers edit
//! the number arrays at arbitrary offsets and cannot be renumbered, so
//! deltas are advertised only when no server needs renumbering.

use serde_json::{json, Value};

/// Token types and modifiers, by index.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Legend {
    pub types: Vec<String>,
    pub modifiers: Vec<String>,
}

impl Legend {
    /// The legend in a server's `ServerCapabilities`, if it offers tokens.
    pub fn of(capabilities: &Value) -> Option<Legend> {
        let legend = capabilities.pointer("/semanticTokensProvider/legend")?;
        let names = |field: &str| -> Vec<String> {
            legend
                .get(field)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|name| name.as_str().map(str::to_owned))
                .collect()
        };
        Some(Legend {
            types: names("tokenTypes"),
            modifiers: names("tokenModifiers"),
        })
    }

    /// Adds the names `other` has and this one lacks, at the end, so the
    /// indices already given out stay valid.
    pub fn add(&mut self, other: &Legend) {
        for (mine, theirs) in [
            (&mut self.types, &other.types),
            (&mut self.modifiers, &other.modifiers),
        ] {
            for name in theirs {
                if !mine.contains(name) {
                    mine.push(name.clone());
                }
            }
        }
    }

    pub fn to_json(&self) -> Value {
        json!({ "tokenTypes": self.types, "tokenModifiers": self.modifiers })
    }

    /// How to renumber tokens of `theirs` into this legend; `None` when
    /// their numbers are already right.
    pub fn remap_from(&self, theirs: &Legend) -> Option<Remap> {
        let index = |list: &[String], name: &String| {
            list.iter()
                .position(|n| n == name)
                .map_or(u64::MAX, |i| i as u64)
        };
        let types: Vec<u64> = theirs.types.iter().map(|t| index(&self.types, t)).collect();
        let modifiers: Vec<u64> = theirs
            .modifiers
            .iter()
            .map(|m| index(&self.modifiers, m))
            .collect();
        let identity = types.iter().enumerate().all(|(i, &t)| t == i as u64)
            && modifiers.iter().enumerate().all(|(i, &m)| m == i as u64);
        (!identity).then_some(Remap { types, modifiers })
    }
}

/// Renumbers one server's tokens into the advertised legend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Remap {
    types: Vec<u64>,
    /// Where each of their modifier bits goes.
    modifiers: Vec<u64>,
}

impl Remap {
    /// Renumbers a `SemanticTokens` answer (`{data: [...]}`) in place. A
    /// type the legend lacks (which cannot happen for a legend built from
    /// theirs) becomes the server's number unchanged.
    pub fn apply(&self, answer: &mut Value) {
        let Some(data) = answer.get_mut("data").and_then(Value::as_array_mut) else {
            return;
        };
        for token in data.chunks_exact_mut(5) {
            if let Some(ty) = token[3].as_u64() {
                let mapped = self.types.get(ty as usize).copied().unwrap_or(u64::MAX);
                if mapped != u64::MAX {
                    token[3] = Value::from(mapped);
                }
            }
            if let Some(bits) = token[4].as_u64() {
                let mut mapped = 0u64;
                for (bit, &to) in self.modifiers.iter().enumerate().take(64) {
                    if bits & (1 << bit) != 0 && to < 64 {
                        mapped |= 1 << to;
                    }
                }
                token[4] = Value::from(mapped);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn legend(types: &[&str], modifiers: &[&str]) -> Legend {
        Legend {
            types: types.iter().map(|s| s.to_string()).collect(),
            modifiers: modifiers.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn the_first_legend_is_kept_and_others_renumbered() {
        let first = legend(&["function", "variable"], &["static"]);
        let second = legend(&["variable", "macro"], &["readonly", "static"]);
        let mut union = first.clone();
        union.add(&second);
        assert_eq!(
            union,
            legend(&["function", "variable", "macro"], &["static", "readonly"])
        );
        assert_eq!(union.remap_from(&first), None);

        let remap = union.remap_from(&second).unwrap();
        // variable (0) with readonly|static (0b11); macro (1) with static (0b10).
        let mut answer = json!({"resultId": "1", "data": [0, 0, 3, 0, 3, 1, 4, 2, 1, 2]});
        remap.apply(&mut answer);
        assert_eq!(
            answer,
            json!({"resultId": "1", "data": [0, 0, 3, 1, 3, 1, 4, 2, 2, 1]})
        );
    }

    #[test]
    fn a_legend_is_read_from_capabilities() {
        let caps = json!({"semanticTokensProvider": {"legend": {"tokenTypes": ["a"], "tokenModifiers": []}, "full": true}});
        assert_eq!(Legend::of(&caps), Some(legend(&["a"], &[])));
        assert_eq!(Legend::of(&json!({})), None);
    }
}
