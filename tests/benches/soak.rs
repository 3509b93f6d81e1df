//! The soak: a long scripted editing session through the real meshls
//! binary, with typescript-language-server, pyright and clangd behind it,
//! and an agent run against the scripted model every minute. The editor
//! types and deletes lines in a TypeScript, a Python and a C++ file and
//! asks hover, definition, completion, symbols and folding after each
//! change; every minute it checks that meshls holds exactly its text and
//! that each server's error comes back at the line the editor has it on.
//!
//! It prints meshls's memory (RSS) and its servers' over time, each
//! method's latency (p50, p99, max) and the servers' restarts, and fails
//! when a request goes unanswered, a text differs, an agent run fails, a
//! server restarts, something is left running after exit, or meshls's
//! memory grows by more than [`GROWTH_BOUND_MIB`] after the first minute.
//!
//! `cargo bench` runs it for 30 minutes (`MESHLS_SOAK_MINUTES` sets
//! another length); the test run (`cargo test`) for one minute, a check
//! that it still works. Needs `MESHLS_BIN` (say, a release build), and
//! `MESHLS_TEST_NODE_BIN` (tests/node_modules/.bin) and clangd on PATH:
//!
//! ```sh
//! cargo build --release -p meshls
//! MESHLS_BIN=$PWD/target/release/meshls MESHLS_TEST_NODE_BIN=$PWD/tests/node_modules/.bin \
//!     cargo bench -p meshls-e2e --bench soak
//! ```

// A bench binary: its report is what it prints.
#![allow(clippy::print_stdout)]

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use lsp_types::{Position, Range, Url};
use meshls_e2e::{
    clangd_path,
    model_server::{text_answer, tool_call, ModelServer},
    path_with_first,
    processes::{descendants, processes, rss_kib},
    pyright_path, Rng, Server, TextModel, Workspace,
};
use serde_json::{json, Value};

/// How much meshls's RSS may grow from the end of the first minute to the
/// end of the session.
const GROWTH_BOUND_MIB: u64 = 32;

/// One edit and one request per tick: ten a second, a fast typist's pace.
/// (At full speed, about 35 a second, tsserver failed after some 17,000
/// edits of one file: "Maximum call stack size exceeded" in its line index,
/// TypeScript issue 20477. No person types that much into one file
/// without closing it.)
const TICK: Duration = Duration::from_millis(100);

const PROJECT: &str = r#"
//- /tsconfig.json
{"compilerOptions": {"strict": true, "target": "es2022", "module": "es2022", "moduleResolution": "bundler", "noEmit": true}, "include": ["src"]}
//- /src/util.ts
/** Twice `n`. */
export function double(n: number): number {
  return n * 2;
}
//- /src/main.ts
import { double } from "./util";

export interface Reading { station: number; values: number[] }

export function total(reading: Reading): number {
  return reading.values.reduce((a, b) => a + double(b), 0);
}

const wrong: string = total({ station: 1, values: [1, 2] });
export const label = wrong.toUpperCase();
//- /src/agent.ts
export const mode: number = 1;
//- /pyrightconfig.json
{"include": ["app"]}
//- /app/__init__.py
//- /app/geometry.py
def area(width: float, height: float) -> float:
    """The area of a width by height rectangle."""
    return width * height
//- /app/main.py
from app.geometry import area


def report(width: float) -> str:
    size = area(width, 2.0)
    return f"{size:.1f}"


wrong: str = area(1.0, 2.0)
//- /.clangd
CompileFlags:
  Add: [-std=c++17]
//- /geometry.h
#pragma once

/// Sum of the coordinates.
int manhattan(int x, int y);
//- /main.cpp
#include "geometry.h"

int main() {
  int here = manhattan(3, 4);
  const char *label = manhattan(1, 2);
  return here;
}
"#;

/// One open document, as the editor holds it.
struct Doc {
    uri: Url,
    language: &'static str,
    model: TextModel,
    version: i32,
    comment: &'static str,
    /// Text a request points into: hover and definition ask there.
    probe: &'static str,
    /// The start of the line the server's error is on, and what the error
    /// says in part.
    error: (&'static str, &'static str),
    /// The numbers of the comment lines the editor typed and has not
    /// deleted.
    typed: Vec<usize>,
}

impl Doc {
    fn change(&mut self, server: &mut Server, range: Range, text: &str) {
        self.model.apply(range, text);
        self.version += 1;
        server.notify(
            "textDocument/didChange",
            json!({"textDocument": {"uri": self.uri, "version": self.version}, "contentChanges": [{"range": range, "text": text}]}),
        );
    }

    fn line_of(&self, needle: &str) -> u32 {
        let byte = self.model.text().find(needle).expect("in the document");
        self.model.text()[..byte].matches('\n').count() as u32
    }

    /// Types a comment line above a random line, or deletes one typed
    /// before, so the text moves but stays valid and bounded.
    fn edit(&mut self, server: &mut Server, rng: &mut Rng, serial: usize) {
        if self.typed.len() >= 12 || (!self.typed.is_empty() && rng.chance(1, 2)) {
            let number = self.typed.swap_remove(rng.below(self.typed.len()));
            let line = self.line_of(&format!("{} soak {number}\n", self.comment));
            let range = Range::new(Position::new(line, 0), Position::new(line + 1, 0));
            self.change(server, range, "");
        } else {
            let lines = self.model.text().matches('\n').count();
            let at = Position::new(rng.below(lines + 1) as u32, 0);
            self.change(
                server,
                Range::new(at, at),
                &format!("{} soak {serial}\n", self.comment),
            );
            self.typed.push(serial);
        }
    }

    fn probe_position(&self) -> Position {
        let byte = self
            .model
            .text()
            .find(self.probe)
            .expect("the probe is there");
        self.model
            .position_of(self.model.text()[..byte].chars().count() + 2)
    }
}

/// Latencies by method, in milliseconds.
#[derive(Default)]
struct Latencies(BTreeMap<String, Vec<f64>>);

impl Latencies {
    fn time<T>(&mut self, what: &str, call: impl FnOnce() -> T) -> T {
        let started = Instant::now();
        let result = call();
        self.0
            .entry(what.to_owned())
            .or_default()
            .push(started.elapsed().as_secs_f64() * 1000.0);
        result
    }

    fn print(&mut self) {
        println!("| request | count | p50 | p99 | max |");
        println!("|---|---|---|---|---|");
        for (what, times) in &mut self.0 {
            times.sort_by(f64::total_cmp);
            let at = |q: f64| times[((times.len() - 1) as f64 * q).round() as usize];
            println!(
                "| {what} | {} | {:.1} ms | {:.1} ms | {:.1} ms |",
                times.len(),
                at(0.5),
                at(0.99),
                at(1.0)
            );
        }
    }
}

fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// The servers, as their processes' command lines name them.
const SERVERS: [&str; 3] = ["typescript", "pyright", "clangd"];

/// The RSS of meshls, and of each of [`SERVERS`] with its children
/// (tsserver, for one).
fn memory(meshls: u32) -> (u64, [u64; 3]) {
    let own = rss_kib(meshls).expect("meshls is running");
    let mut servers = [0; 3];
    for process in descendants(meshls) {
        if let Some(at) = SERVERS
            .iter()
            .position(|name| process.cmdline.contains(name))
        {
            servers[at] += rss_kib(process.pid).unwrap_or(0);
        }
    }
    (own, servers)
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let minutes: f64 = std::env::var("MESHLS_SOAK_MINUTES")
        .ok()
        .and_then(|m| m.parse().ok())
        .unwrap_or(if full { 30.0 } else { 1.0 });
    let length = Duration::from_secs_f64(minutes * 60.0);
    let agent_every = Duration::from_secs(60).min(length / 3);
    let check_every = Duration::from_secs(60).min(length / 4);

    let ws = Workspace::new(PROJECT);
    let model = ModelServer::cycling(vec![
        tool_call(
            "c1",
            "edit_file",
            json!({"path": "src/agent.ts", "old_string": "= 1;", "new_string": "= 2;"}),
        ),
        text_answer("Set to 2."),
        tool_call(
            "c2",
            "edit_file",
            json!({"path": "src/agent.ts", "old_string": "= 2;", "new_string": "= 1;"}),
        ),
        text_answer("Set to 1."),
    ]);
    ws.use_model(&format!("{}/v1", model.url()), "verify_rounds = 0\n");
    // pyright's PATH is the npm servers' one; clangd comes from Debian.
    let path = {
        let npm = pyright_path();
        let _checked = clangd_path();
        path_with_first(std::path::Path::new(npm.split(':').next().unwrap()))
    };
    let (mut server, _) = Server::builder(&ws).env("PATH", path).start_initialized();
    server.apply_edits();
    let meshls = server.pid();
    println!(
        "meshls: {} (pid {meshls}), {minutes} minutes",
        meshls_e2e::meshls_bin().display()
    );

    let mut docs: Vec<Doc> = [
        (
            "src/main.ts",
            "typescript",
            "//",
            "double(b)",
            ("const wrong", "not assignable"),
        ),
        (
            "app/main.py",
            "python",
            "#",
            "area(width",
            ("wrong: str", "not assignable"),
        ),
        (
            "main.cpp",
            "cpp",
            "//",
            "manhattan(3",
            ("  const char", "int"),
        ),
    ]
    .into_iter()
    .map(|(path, language, comment, probe, error)| Doc {
        uri: ws.uri(path),
        language,
        model: TextModel::new(ws.read(path)),
        version: 1,
        comment,
        probe,
        error,
        typed: Vec::new(),
    })
    .collect();
    for doc in &docs {
        server.open(&doc.uri, doc.language, doc.model.text());
    }
    let agent_file = ws.uri("src/agent.ts");
    server.open(&agent_file, "typescript", &ws.read("src/agent.ts"));

    let mut rng = Rng::new(0x50A4_2026);
    let mut latencies = Latencies::default();
    let mut memory_log: Vec<(Duration, u64, [u64; 3])> = Vec::new();
    let mut agent_runs = 0;
    let (mut requests, mut errors, mut serial) = (0usize, 0usize, 0usize);
    let started = Instant::now();
    let mut next_agent = agent_every / 2;
    let mut next_check = Duration::ZERO;
    let methods = [
        "textDocument/hover",
        "textDocument/definition",
        "textDocument/completion",
        "textDocument/documentSymbol",
        "textDocument/foldingRange",
    ];
    while started.elapsed() < length {
        let now = started.elapsed();
        let next_tick = Instant::now() + TICK;
        if now >= next_check {
            check(&mut server, &mut docs, &mut rng, &mut serial);
            let (own, servers) = memory(meshls);
            memory_log.push((now, own, servers));
            println!(
                "{:>6.1} min: meshls {:.1} MiB, servers {:.1} MiB, {requests} requests, {agent_runs} agent runs",
                now.as_secs_f64() / 60.0,
                mib(own),
                mib(servers.iter().sum())
            );
            next_check += check_every;
        }
        if now >= next_agent {
            agent_run(&mut server, &agent_file, &mut latencies, agent_runs);
            agent_runs += 1;
            next_agent += agent_every;
        }
        // The test editor keeps every message it gets; a completion list
        // is tens of kilobytes.
        if serial % 100 == 0 {
            server.forget_received();
        }
        let doc = serial % docs.len();
        serial += 1;
        docs[doc].edit(&mut server, &mut rng, serial);
        let method = methods[rng.below(methods.len())];
        let params = match method {
            "textDocument/documentSymbol" | "textDocument/foldingRange" => {
                json!({"textDocument": {"uri": docs[doc].uri}})
            }
            _ => {
                json!({"textDocument": {"uri": docs[doc].uri}, "position": docs[doc].probe_position()})
            }
        };
        let what = format!(
            "{} {}",
            docs[doc].language,
            method.trim_start_matches("textDocument/")
        );
        match latencies.time(&what, || server.request(method, params)) {
            Ok(_) => requests += 1,
            Err(error) => {
                // Content modified and cancelled are answers; anything
                // else is not.
                let code = error["code"].as_i64().unwrap_or(0);
                assert!(code == -32801 || code == -32800, "{what}: {error}");
                errors += 1;
            }
        }
        std::thread::sleep(next_tick.saturating_duration_since(Instant::now()));
    }
    check(&mut server, &mut docs, &mut rng, &mut serial);
    let (own, servers) = memory(meshls);
    memory_log.push((started.elapsed(), own, servers));

    let status = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.status", "arguments": [{"quiet": true}]}),
        )
        .expect("meshls.status answers");
    let mut restarts = 0;
    for entry in status["servers"].as_array().expect("servers listed") {
        println!(
            "server {}: {}, {} restarts",
            entry["name"], entry["state"], entry["restarts"]
        );
        restarts += entry["restarts"].as_u64().unwrap_or(0);
        assert_eq!(entry["state"], "running", "{entry}");
    }
    // By what meshls started, not by working directory: pyright moves to
    // its own.
    let started_by_meshls: Vec<u32> = descendants(meshls).iter().map(|p| p.pid).collect();
    assert!(server.shutdown_and_exit().success(), "meshls exits cleanly");
    let left = || -> Vec<_> {
        processes()
            .into_iter()
            .filter(|p| p.pid == meshls || started_by_meshls.contains(&p.pid))
            .collect()
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    while !left().is_empty() {
        assert!(
            Instant::now() < deadline,
            "left running after exit: {:?}",
            left()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    println!();
    println!(
        "{:.1} minutes: {requests} requests answered, {errors} answered content-modified or cancelled, {agent_runs} agent runs, {restarts} restarts",
        started.elapsed().as_secs_f64() / 60.0
    );
    println!();
    println!("| minute | meshls RSS | {} |", SERVERS.join(" | "));
    println!("|---|---|---|---|---|");
    for (at, own, servers) in &memory_log {
        println!(
            "| {:.1} | {:.1} MiB | {} |",
            at.as_secs_f64() / 60.0,
            mib(*own),
            servers
                .map(|kib| format!("{:.1} MiB", mib(kib)))
                .join(" | ")
        );
    }
    println!();
    latencies.print();

    assert_eq!(restarts, 0, "no server restarted");
    // Growth after the first minute (or the first sample after a quarter
    // of a shorter session), to the highest sample after it.
    let warm = memory_log
        .iter()
        .find(|(at, ..)| *at >= Duration::from_secs(60).min(length / 4))
        .map_or(memory_log[0].1, |(_, own, _)| *own);
    let peak = memory_log
        .iter()
        .map(|(_, own, _)| *own)
        .max()
        .unwrap_or(warm);
    let growth = peak.saturating_sub(warm);
    println!();
    println!(
        "meshls grew {:.1} MiB after warming up ({:.1} MiB to a peak of {:.1} MiB); bound {GROWTH_BOUND_MIB} MiB",
        mib(growth),
        mib(warm),
        mib(peak)
    );
    assert!(
        growth <= GROWTH_BOUND_MIB * 1024,
        "meshls's memory grew {:.1} MiB, more than {GROWTH_BOUND_MIB} MiB",
        mib(growth)
    );
}

/// meshls holds exactly the editor's text in every document, and each
/// server, after one more edit, reports its error on the line the editor
/// has it on.
fn check(server: &mut Server, docs: &mut [Doc], rng: &mut Rng, serial: &mut usize) {
    server.skip_notifications("textDocument/publishDiagnostics");
    for doc in docs.iter_mut() {
        *serial += 1;
        doc.edit(server, rng, *serial);
    }
    for doc in docs.iter() {
        let view = server
            .view_document(&doc.uri)
            .expect("meshls/viewDocument answers");
        assert_eq!(view["version"], doc.version, "{}", doc.uri);
        assert_eq!(
            view["text"].as_str(),
            Some(doc.model.text()),
            "meshls's text of {} differs from the editor's",
            doc.uri
        );
        let line = doc.line_of(doc.error.0);
        server.wait_notification("textDocument/publishDiagnostics", |p| {
            p["uri"] == doc.uri.as_str()
                && p["diagnostics"].as_array().is_some_and(|all| {
                    all.iter().any(|d: &Value| {
                        d["range"]["start"]["line"] == line
                            && d["message"].as_str().unwrap_or("").contains(doc.error.1)
                    })
                })
        });
    }
}

/// One agent run on src/agent.ts, which flips its constant between 1 and
/// 2; the edit lands in the editor's copy.
fn agent_run(server: &mut Server, uri: &Url, latencies: &mut Latencies, run: usize) {
    let (before, _) = server.document(uri).expect("agent.ts is open");
    let started = server
        .request(
            "workspace/executeCommand",
            json!({"command": "meshls.ask", "arguments": ["Flip the mode.", {"uri": uri, "range": {"start": {"line": 0, "character": 0}, "end": {"line": 0, "character": 0}}}]}),
        )
        .expect("meshls.ask starts a run");
    let token = started["token"]
        .as_str()
        .expect("a progress token")
        .to_owned();
    let end = latencies.time("agent run", || {
        server.wait_notification("$/progress", |p| {
            p["token"] == token.as_str() && p["value"]["kind"] == "end"
        })
    });
    let message = end["value"]["message"].as_str().unwrap_or("");
    assert!(message.starts_with("done"), "agent run {run}: {message}");
    let (after, _) = server.document(uri).expect("agent.ts is open");
    let flipped = if before.contains("= 1;") {
        before.replace("= 1;", "= 2;")
    } else {
        before.replace("= 2;", "= 1;")
    };
    assert_eq!(after, flipped, "agent run {run}");
}
