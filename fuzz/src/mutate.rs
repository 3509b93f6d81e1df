//! A short, bounded, deterministic fuzz run that works on stable Rust: the
//! corpus, then inputs mutated from it the way fuzzers mutate (bytes
//! flipped, inserted, deleted, repeated; corpus entries spliced; tokens the
//! parsers care about dropped in). It finds shallow bugs quickly and keeps
//! the corpus honest; libFuzzer (`cargo +nightly fuzz run`) goes deeper.

use std::panic::{self, AssertUnwindSafe};

use crate::Target;

/// Byte strings the parsers give meaning to.
const TOKENS: &[&[u8]] = &[
    b"Content-Length: ",
    b"Content-Type: application/vscode-jsonrpc; charset=utf-8",
    b"\r\n\r\n",
    b"\r\n",
    b"\r",
    b"\n",
    b"\xFF",
    b"data: ",
    b"data:",
    b"event: ",
    b"id: ",
    b"retry: ",
    b": comment",
    b"\xEF\xBB\xBF",
    b"{\"jsonrpc\":\"2.0\",",
    b"\"id\":",
    b"\"method\":",
    b"\"params\":",
    b"\"result\":",
    b"\"error\":{\"code\":-32601,\"message\":\"x\"}",
    b"null",
    b"[]",
    b"{}",
    b"\"\\ud800\"",
    b"4294967296",
    b"-1",
    b"1e400",
    b"0",
];

/// A failing input: the target, the input, and the panic's message.
#[derive(Debug)]
pub struct Failure {
    pub target: String,
    pub input: Vec<u8>,
    pub message: String,
}

/// xorshift64*: the same inputs on every machine, for every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next() % n as u64) as usize
        }
    }
}

fn mutate(rng: &mut Rng, input: &mut Vec<u8>, corpus: &[Vec<u8>]) {
    for _ in 0..=rng.below(4) {
        let at = rng.below(input.len() + 1);
        match rng.below(7) {
            0 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] ^= 1 << rng.below(8);
            }
            1 if !input.is_empty() => {
                let at = rng.below(input.len());
                input[at] = rng.next() as u8;
            }
            2 => input.insert(at, rng.next() as u8),
            3 if !input.is_empty() => {
                let end = (at + 1 + rng.below(16)).min(input.len());
                input.drain(at.min(end)..end);
            }
            4 if !input.is_empty() => {
                let start = rng.below(input.len());
                let end = (start + 1 + rng.below(32)).min(input.len());
                let repeated = input[start..end].to_vec();
                input.splice(at..at, repeated);
            }
            5 if !corpus.is_empty() => {
                let other = &corpus[rng.below(corpus.len())];
                let start = rng.below(other.len() + 1);
                let end = (start + rng.below(64)).min(other.len());
                input.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let token = TOKENS[rng.below(TOKENS.len())];
                input.splice(at..at, token.iter().copied());
            }
        }
    }
    // Keep inputs small, as fuzzers do by default: shallow bugs need no more.
    input.truncate(4096);
}

fn check(target: &str, run: Target, input: &[u8]) -> Result<(), Failure> {
    panic::catch_unwind(AssertUnwindSafe(|| run(input))).map_err(|panic| Failure {
        target: target.to_owned(),
        input: input.to_vec(),
        message: panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
            .unwrap_or_else(|| "a panic without a message".to_owned()),
    })
}

/// Runs `target` on every input of `corpus`, then on `rounds` inputs
/// mutated from them (from `seed`); the first failure, if any.
pub fn run_bounded(
    target: &str,
    run: Target,
    corpus: &[Vec<u8>],
    rounds: usize,
    seed: u64,
) -> Result<(), Failure> {
    for input in corpus {
        check(target, run, input)?;
    }
    let mut rng = Rng(seed | 1);
    for _ in 0..rounds {
        let mut input = match corpus.len() {
            0 => Vec::new(),
            n => corpus[rng.below(n)].clone(),
        };
        mutate(&mut rng, &mut input, corpus);
        check(target, run, &input)?;
    }
    Ok(())
}
