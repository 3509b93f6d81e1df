//! API keys taken out of text before it goes anywhere: tool outputs and
//! answers (so a `.env` the agent reads does not carry the key to a model,
//! perhaps another vendor's), the session database, the audit log, the log
//! and the editor's messages.
//!
//! The set of secrets is the process's: an [`crate::provider::Endpoint`]
//! adds its key when it is made, and the server adds every configured key
//! when it loads the configuration, before anything is logged.

use std::{borrow::Cow, sync::RwLock};

/// What a secret becomes.
pub const REDACTED: &str = "<redacted>";

/// Values shorter than this are not taken for keys: replacing them would
/// garble ordinary words, and no provider's key is that short.
const SHORTEST: usize = 8;

static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Adds `secret` to what [`redact`] takes out.
pub fn register(secret: &str) {
    let secret = secret.trim();
    if secret.len() < SHORTEST {
        return;
    }
    let mut secrets = SECRETS.write().unwrap_or_else(|p| p.into_inner());
    if !secrets.iter().any(|known| known == secret) {
        secrets.push(secret.to_owned());
        // Longest first, so a key that holds another is taken out whole.
        secrets.sort_by_key(|known| std::cmp::Reverse(known.len()));
    }
}

/// `text` with every registered secret replaced by [`REDACTED`].
pub fn redact(text: &str) -> Cow<'_, str> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut text = Cow::Borrowed(text);
    for secret in secrets.iter() {
        if text.contains(secret.as_str()) {
            text = Cow::Owned(text.replace(secret.as_str(), REDACTED));
        }
    }
    text
}

/// [`redact`] for bytes that may not be UTF-8 (a log line, a database
/// value): each secret's bytes replaced.
pub fn redact_bytes(bytes: &[u8]) -> Cow<'_, [u8]> {
    let secrets = SECRETS.read().unwrap_or_else(|p| p.into_inner());
    let mut bytes = Cow::Borrowed(bytes);
    for secret in secrets.iter() {
        let secret = secret.as_bytes();
        if !bytes.windows(secret.len()).any(|window| window == secret) {
            continue;
        }
        let mut out = Vec::with_capacity(bytes.len());
        let mut at = 0;
        while at < bytes.len() {
            if bytes[at..].starts_with(secret) {
                out.extend_from_slice(REDACTED.as_bytes());
                at += secret.len();
            } else {
                out.push(bytes[at]);
                at += 1;
            }
        }
        bytes = Cow::Owned(out);
    }
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registered_secrets_are_taken_out_and_short_ones_ignored() {
        register("sk-redact-unit-test-0123456789");
        register("sk-redact-unit-test-0123456789-longer");
        register("short");
        assert_eq!(
            redact(
                "a sk-redact-unit-test-0123456789 b sk-redact-unit-test-0123456789-longer c short"
            ),
            "a <redacted> b <redacted> c short"
        );
        assert!(matches!(redact("nothing here"), Cow::Borrowed(_)));
        assert_eq!(
            redact_bytes(b"\xffkey=sk-redact-unit-test-0123456789\n").as_ref(),
            b"\xffkey=<redacted>\n"
        );
    }
}
