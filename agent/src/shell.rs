//! A command line as `sh -c` reads it, parsed far enough to judge it:
//! the words of each simple command (quotes taken off, as the program
//! receives them), and everything that makes the line more than one plain
//! command: operators (`;`, `&&`, `||`, `|`, `&`, newlines, redirections,
//! parentheses), command substitutions, parameter expansions, unquoted
//! glob characters, leading variable assignments and comments.
//!
//! The permission rules of `run_command` match what this finds, not the
//! raw text, so `cargo test $(touch x)` is not `cargo test` with an
//! argument, and `rm  -r -f` is still `rm -rf`. No shell-words crate
//! reports the operators and expansions it meets (they split words, or
//! parse all of bash), hence this small lexer.

/// One token at the top level of a command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    /// A word as the program receives it (quotes and escapes removed),
    /// and what in it the shell would expand before it runs.
    Word { text: String, expands: bool },
    /// An operator or redirection, as written (`;`, `&&`, `>`, `2>&1` is
    /// the word `2`, `>&` and the word `1`), a newline as `\n`.
    Operator(String),
}

/// What a command line is made of.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// The top-level tokens, in order.
    pub tokens: Vec<Token>,
    /// The words of every simple command, those inside command
    /// substitutions included (for deny rules, which must see them).
    pub commands: Vec<Vec<String>>,
    /// Why the line is not one plain command, in words; empty when it is.
    pub features: Vec<&'static str>,
}

impl Parsed {
    /// One simple command with literal words: no operator, substitution,
    /// expansion, glob, assignment or comment.
    pub fn is_plain(&self) -> bool {
        self.features.is_empty() && self.commands.len() == 1
    }

    /// The top-level words, each as the program receives it, joined by
    /// single spaces.
    pub fn words(&self) -> String {
        let words: Vec<&str> = self
            .tokens
            .iter()
            .filter_map(|token| match token {
                Token::Word { text, .. } => Some(text.as_str()),
                Token::Operator(_) => None,
            })
            .collect();
        words.join(" ")
    }

    /// The top-level operators, in order.
    pub fn operators(&self) -> Vec<&str> {
        self.tokens
            .iter()
            .filter_map(|token| match token {
                Token::Operator(op) => Some(op.as_str()),
                Token::Word { .. } => None,
            })
            .collect()
    }

    /// The words between top-level operators: `cargo  build&&cargo test`
    /// is `[["cargo", "build"], ["cargo", "test"]]`.
    pub fn segments(&self) -> Vec<Vec<String>> {
        let mut segments = vec![Vec::new()];
        for token in &self.tokens {
            match token {
                Token::Word { text, .. } => {
                    if let Some(last) = segments.last_mut() {
                        last.push(text.clone());
                    }
                }
                Token::Operator(_) => segments.push(Vec::new()),
            }
        }
        segments
    }

    /// The top-level words, each as the program receives it.
    pub fn word_list(&self) -> Vec<String> {
        self.segments().concat()
    }
}

const OPERATOR_CHARS: &[char] = &[';', '&', '|', '<', '>', '(', ')', '\n'];
const GLOB_CHARS: &[char] = &['*', '?', '['];

/// Parses `line`; never fails: what cannot be parsed (an unclosed quote)
/// is a feature that keeps the line from being plain.
pub fn parse(line: &str) -> Parsed {
    let mut parsed = Parsed::default();
    lex(line, &mut parsed, true);
    // A leading `NAME=value` sets a variable for the command: not an
    // argument, and it can change what the program does (`RUSTC_WRAPPER`).
    let mut at_start = true;
    for token in &parsed.tokens {
        match token {
            Token::Word { text, expands } => {
                if at_start && !expands && is_assignment(text) {
                    note(&mut parsed.features, "a variable assignment");
                } else {
                    at_start = false;
                }
            }
            Token::Operator(_) => at_start = true,
        }
    }
    parsed
}

fn note(features: &mut Vec<&'static str>, feature: &'static str) {
    if !features.contains(&feature) {
        features.push(feature);
    }
}

fn is_assignment(word: &str) -> bool {
    let Some((name, _)) = word.split_once('=') else {
        return false;
    };
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// The word and the simple command being read.
#[derive(Default)]
struct Words {
    command: Vec<String>,
    word: String,
    /// Whether a word has begun (`""` is an empty word), and whether the
    /// shell would expand something in it.
    in_word: bool,
    expands: bool,
}

impl Words {
    fn end_word(&mut self, parsed: &mut Parsed, top: bool) {
        if !self.in_word {
            return;
        }
        let text = std::mem::take(&mut self.word);
        if top {
            parsed.tokens.push(Token::Word {
                text: text.clone(),
                expands: self.expands,
            });
        }
        self.command.push(text);
        self.in_word = false;
        self.expands = false;
    }

    fn end_command(&mut self, parsed: &mut Parsed) {
        if !self.command.is_empty() {
            parsed.commands.push(std::mem::take(&mut self.command));
        }
    }
}

/// Lexes `line` into `parsed`: its tokens when `top` (a substitution's
/// commands go into `commands` only), its simple commands, its features.
fn lex(line: &str, parsed: &mut Parsed, top: bool) {
    let chars: Vec<char> = line.chars().collect();
    let mut at = Words::default();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' => {
                at.end_word(parsed, top);
                i += 1;
            }
            '\\' => {
                match chars.get(i + 1) {
                    // A line continuation: nothing at all.
                    Some('\n') => {}
                    Some(&next) => {
                        at.word.push(next);
                        at.in_word = true;
                    }
                    None => note(&mut parsed.features, "a trailing backslash"),
                }
                i += 2;
            }
            '\'' => {
                at.in_word = true;
                match chars[i + 1..].iter().position(|&c| c == '\'') {
                    Some(len) => {
                        at.word.extend(&chars[i + 1..i + 1 + len]);
                        i += len + 2;
                    }
                    None => {
                        note(&mut parsed.features, "an unclosed quote");
                        at.word.extend(&chars[i + 1..]);
                        i = chars.len();
                    }
                }
            }
            '"' => {
                at.in_word = true;
                i += 1;
                let mut closed = false;
                while i < chars.len() {
                    match chars[i] {
                        '"' => {
                            closed = true;
                            i += 1;
                            break;
                        }
                        '\\' if matches!(chars.get(i + 1), Some('"' | '\\' | '$' | '`' | '\n')) => {
                            if chars[i + 1] != '\n' {
                                at.word.push(chars[i + 1]);
                            }
                            i += 2;
                        }
                        '$' | '`' => {
                            at.expands = true;
                            i = substitution(&chars, i, &mut at.word, parsed);
                        }
                        other => {
                            at.word.push(other);
                            i += 1;
                        }
                    }
                }
                if !closed {
                    note(&mut parsed.features, "an unclosed quote");
                }
            }
            '$' | '`' => {
                at.in_word = true;
                at.expands = true;
                i = substitution(&chars, i, &mut at.word, parsed);
            }
            '#' if !at.in_word => {
                note(&mut parsed.features, "a comment");
                // To the end of the line: what follows a newline is another
                // command.
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            c if OPERATOR_CHARS.contains(&c) => {
                at.end_word(parsed, top);
                let start = i;
                while i < chars.len() && OPERATOR_CHARS.contains(&chars[i]) {
                    // A newline is an operator of its own.
                    if chars[i] == '\n' && i > start {
                        break;
                    }
                    i += 1;
                    if chars[i - 1] == '\n' {
                        break;
                    }
                }
                let op: String = chars[start..i].iter().collect();
                let feature = match op.chars().next() {
                    Some('<' | '>') => "a redirection",
                    Some('\n') => "a newline",
                    Some('(' | ')') => "a subshell",
                    _ if op == "&" => "a background job",
                    _ => "more than one command",
                };
                note(&mut parsed.features, feature);
                // A redirection stays within its command; the others end it.
                if !matches!(feature, "a redirection") {
                    at.end_command(parsed);
                }
                if top {
                    parsed.tokens.push(Token::Operator(op));
                }
            }
            // `{a,b}` and `{1..3}`: bash expands them even as `sh` (macOS,
            // Fedora); `{}` alone (find's) is a word.
            '{' if chars.get(i + 1) != Some(&'}') => {
                note(&mut parsed.features, "a brace expansion");
                at.expands = true;
                at.word.push(c);
                at.in_word = true;
                i += 1;
            }
            c => {
                if GLOB_CHARS.contains(&c) {
                    note(&mut parsed.features, "a file name pattern");
                    at.expands = true;
                }
                at.word.push(c);
                at.in_word = true;
                i += 1;
            }
        }
    }
    at.end_word(parsed, top);
    at.end_command(parsed);
}

/// At `$` or a backtick at `chars[at]`: notes the expansion, lexes a
/// command substitution's commands into `parsed`, copies the text into
/// `word` as written, and returns where the expansion ends.
fn substitution(chars: &[char], at: usize, word: &mut String, parsed: &mut Parsed) -> usize {
    let (inner, end) = match (chars[at], chars.get(at + 1)) {
        ('`', _) => {
            let mut i = at + 1;
            let mut inner = String::new();
            while i < chars.len() && chars[i] != '`' {
                if chars[i] == '\\' && i + 1 < chars.len() {
                    i += 1;
                }
                inner.push(chars[i]);
                i += 1;
            }
            if i == chars.len() {
                note(&mut parsed.features, "an unclosed quote");
            }
            (Some(inner), (i + 1).min(chars.len()))
        }
        ('$', Some('(')) => {
            // To the matching parenthesis, quotes respected.
            let (mut depth, mut i) = (0usize, at + 1);
            let mut quote: Option<char> = None;
            while i < chars.len() {
                match (quote, chars[i]) {
                    (Some(q), c) if c == q => quote = None,
                    (Some('"'), '\\') => i += 1,
                    (Some(_), _) => {}
                    (None, '\'' | '"') => quote = Some(chars[i]),
                    (None, '\\') => i += 1,
                    (None, '(') => depth += 1,
                    (None, ')') => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    (None, _) => {}
                }
                i += 1;
            }
            if i >= chars.len() {
                note(&mut parsed.features, "an unclosed parenthesis");
                (Some(chars[at + 2..].iter().collect()), chars.len())
            } else {
                (Some(chars[at + 2..i].iter().collect()), i + 1)
            }
        }
        ('$', _) => {
            note(&mut parsed.features, "a variable");
            // `$NAME`, `${...}`, `$1`, `$?`: copied as written.
            let mut i = at + 1;
            if chars.get(i) == Some(&'{') {
                while i < chars.len() && chars[i] != '}' {
                    i += 1;
                }
                i += 1;
            } else {
                while i < chars.len() && (chars[i].is_ascii_alphanumeric() || chars[i] == '_') {
                    i += 1;
                }
                // The special parameters: `$?`, `$$`, `$!`, `$#`, `$@`, `$*`, `$-`.
                if i == at + 1
                    && matches!(chars.get(i), Some('?' | '$' | '!' | '#' | '@' | '*' | '-'))
                {
                    i += 1;
                }
            }
            (None, i.min(chars.len()))
        }
        _ => (None, at + 1),
    };
    if let Some(inner) = inner {
        note(&mut parsed.features, "a command substitution");
        lex(&inner, parsed, false);
    }
    word.extend(&chars[at..end]);
    end
}

/// Short options of `words` one letter each: `-rf` and `-r -f` both give
/// `r` and `f`. Long options and arguments are not options here.
pub fn short_flags(words: &[String]) -> Vec<char> {
    words
        .iter()
        .filter(|word| is_short_cluster(word))
        .flat_map(|word| word.chars().skip(1))
        .collect()
}

/// `-x`, `-rf`: one dash, then letters or digits.
pub fn is_short_cluster(word: &str) -> bool {
    word.len() > 1
        && word.starts_with('-')
        && !word.starts_with("--")
        && word[1..].chars().all(|c| c.is_ascii_alphanumeric())
}

/// The first line of `command`, shortened to `max` characters, and how
/// much of it is not shown, for a question to the user that must fit.
pub fn one_line(command: &str, max: usize) -> String {
    let lines: Vec<&str> = command.lines().collect();
    let first = lines.first().copied().unwrap_or("").trim_end();
    let mut shown: String = first.chars().take(max).collect();
    let cut = first.chars().count() > max;
    if cut {
        shown.push('…');
    }
    match lines.len() {
        0 | 1 if !cut => format!("`{shown}`"),
        0 | 1 => format!("`{shown}` ({} characters in all)", command.chars().count()),
        n => format!(
            "`{shown}` and {} more line(s) not shown here ({} characters in all)",
            n - 1,
            command.chars().count()
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(line: &str) -> Vec<Vec<String>> {
        parse(line).commands
    }

    #[test]
    fn plain_commands_and_their_words() {
        for (line, expected) in [
            ("cargo test", vec!["cargo", "test"]),
            ("  cargo   test  -q ", vec!["cargo", "test", "-q"]),
            ("cargo test 'my test'", vec!["cargo", "test", "my test"]),
            ("cargo test \"a b\"", vec!["cargo", "test", "a b"]),
            ("echo \"a\\\"b\"", vec!["echo", "a\"b"]),
            ("echo a\\ b", vec!["echo", "a b"]),
            ("echo ''", vec!["echo", ""]),
            ("echo '$(x)' 'a;b' '*'", vec!["echo", "$(x)", "a;b", "*"]),
            ("echo a\\\nb", vec!["echo", "ab"]),
            ("echo \"x\ny\"", vec!["echo", "x\ny"]),
            (
                "cargo test -- --test-threads=1",
                vec!["cargo", "test", "--", "--test-threads=1"],
            ),
            ("echo a#b", vec!["echo", "a#b"]),
            (
                "find . -exec rm {} +",
                vec!["find", ".", "-exec", "rm", "{}", "+"],
            ),
        ] {
            let parsed = parse(line);
            assert!(parsed.is_plain(), "{line:?}: {:?}", parsed.features);
            assert_eq!(parsed.commands, vec![expected], "{line:?}");
        }
    }

    #[test]
    fn what_makes_a_line_more_than_one_plain_command() {
        for (line, feature) in [
            ("cargo test $(touch x)", "a command substitution"),
            ("cargo test `touch x`", "a command substitution"),
            ("cargo test \"$(touch x)\"", "a command substitution"),
            ("cargo test\ntouch x", "a newline"),
            ("cargo test; rm -r -f dir", "more than one command"),
            ("cargo test && touch x", "more than one command"),
            ("cargo test || touch x", "more than one command"),
            ("cargo test | tee x", "more than one command"),
            ("cargo test > x", "a redirection"),
            ("cargo test 2>&1", "a redirection"),
            ("cargo test < x", "a redirection"),
            ("(sleep 6; touch x) &", "a subshell"),
            ("sleep 6 &", "a background job"),
            ("cargo test $HOME", "a variable"),
            ("cargo test \"${HOME}\"", "a variable"),
            ("cargo test *", "a file name pattern"),
            ("cargo test src/?.rs", "a file name pattern"),
            ("RUSTC_WRAPPER=./evil cargo test", "a variable assignment"),
            ("cargo test # and more", "a comment"),
            ("rm -{r,f} dir", "a brace expansion"),
            ("echo {1..3}", "a brace expansion"),
            ("cargo test 'unclosed", "an unclosed quote"),
            ("cargo test $(touch x", "an unclosed parenthesis"),
        ] {
            let parsed = parse(line);
            assert!(!parsed.is_plain(), "{line:?}");
            assert!(
                parsed.features.contains(&feature),
                "{line:?}: {:?}",
                parsed.features
            );
        }
    }

    #[test]
    fn substitutions_and_every_command_are_seen() {
        assert_eq!(
            words("cargo test $(rm -r -f /; echo `id -u`) && make"),
            vec![
                vec!["rm", "-r", "-f", "/"],
                vec!["id", "-u"],
                vec!["echo", "`id -u`"],
                vec!["cargo", "test", "$(rm -r -f /; echo `id -u`)"],
                vec!["make"],
            ]
        );
        assert_eq!(
            words("echo \"$(printf ')'; rm x)\""),
            vec![
                vec!["printf", ")"],
                vec!["rm", "x"],
                vec!["echo", "$(printf ')'; rm x)"]
            ]
        );
        let parsed = parse("cargo  build&&cargo test >out");
        assert_eq!(parsed.operators(), vec!["&&", ">"]);
        assert_eq!(
            parsed.segments(),
            vec![vec!["cargo", "build"], vec!["cargo", "test"], vec!["out"]]
        );
    }

    #[test]
    fn short_option_clusters() {
        let words = |line: &str| parse(line).commands.remove(0);
        assert_eq!(short_flags(&words("rm -rf x")), vec!['r', 'f']);
        assert_eq!(short_flags(&words("rm -r -f x")), vec!['r', 'f']);
        assert_eq!(short_flags(&words("rm --force -- -x")), vec!['x']);
        assert!(!is_short_cluster("-"));
        assert!(!is_short_cluster("--rf"));
        assert!(!is_short_cluster("-r=1"));
    }

    #[test]
    fn one_line_for_a_question() {
        assert_eq!(one_line("cargo test", 80), "`cargo test`");
        let long = format!("cargo test\n{}", "touch x\n".repeat(40));
        assert_eq!(
            one_line(&long, 80),
            format!(
                "`cargo test` and 40 more line(s) not shown here ({} characters in all)",
                long.chars().count()
            )
        );
        assert_eq!(one_line("abcdef", 3), "`abc…` (6 characters in all)");
    }
}
