//! What streaming a run to the editor costs meshls: the same 2,000-chunk
//! answer from the scripted model, asked RUNS times of the real meshls
//! binary by an editor that shows progress and asked for run events, and
//! by one that has neither, taking turns. It prints meshls's own CPU time
//! (the time its threads were on a CPU, from /proc) per run for each, and, for the first, the
//! longest wait between two progress reports while the model writes (the
//! throttle allows ten a second) and how many reports and events came.
//!
//! ```sh
//! cargo build --release -p meshls
//! MESHLS_BIN=$PWD/target/release/meshls cargo bench -p meshls-e2e --bench stream_events
//! ```
//!
//! With `MESHLS_BIN_BEFORE` naming another build, that one's sessions
//! take turns with these, and both are printed: before and after, side by
//! side in one run.

// A bench binary: its report is what it prints.
#![allow(clippy::print_stdout)]

use std::time::{Duration, Instant};

use meshls_e2e::{
    model_server::{openai_sse, ModelServer, Reply},
    Server, Workspace,
};
use serde_json::json;

/// Runs per session, and sessions per editor (taking turns).
const RUNS: usize = 8;
const SESSIONS: usize = 6;
/// Pieces of the answer (`openai_sse` cuts it into 7-character chunks).
const CHUNKS: usize = 2000;

/// meshls's CPU time so far, in nanoseconds: the sum over its threads
/// of the time each spent on a CPU (/proc/PID/task/*/schedstat; meshls's
/// threads live as long as it does).
fn cpu_ns(pid: u32) -> u64 {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
        return 0;
    };
    tasks
        .flatten()
        .filter_map(|task| std::fs::read_to_string(task.path().join("schedstat")).ok())
        .filter_map(|stat| stat.split_whitespace().next()?.parse::<u64>().ok())
        .sum()
}

struct Measured {
    cpu: u64,
    longest_gap: Duration,
    reports: usize,
    events: usize,
}

fn session(program: &std::path::Path, streaming: bool) -> Measured {
    let ws = Workspace::new("//- /notes.md\n# Notes\n");
    let words = "word42 ".repeat(CHUNKS);
    let mut reply = Reply::sse(&openai_sse(&words, &[], (100, 2000)), 512);
    // About 3 KB every 2 ms, a fast model's pace over a fast link.
    reply.pause = Duration::from_millis(2);
    let model = ModelServer::cycling(vec![reply]);
    ws.use_model(&format!("{}/v1", model.url()), "");
    let capabilities = if streaming {
        json!({"experimental": {"meshlsRunEvents": true}})
    } else {
        json!({"window": {"workDoneProgress": false}})
    };
    let (mut server, _) = Server::builder(&ws)
        .program(program)
        .capabilities(capabilities)
        .start_initialized();
    let notes = ws.uri("notes.md");
    server.open(&notes, "markdown", "# Notes\n");
    let before = cpu_ns(server.pid());
    let mut longest_gap = Duration::ZERO;
    let mut reports = 0;
    for _ in 0..RUNS {
        let started = server
            .request(
                "workspace/executeCommand",
                json!({"command": "meshls.ask", "arguments": ["Say it.", notes.as_str()]}),
            )
            .expect("meshls.ask");
        let token = started["token"].clone();
        if streaming {
            let mut last: Option<Instant> = None;
            loop {
                let progress = server.wait_notification("$/progress", |p| p["token"] == token);
                let now = Instant::now();
                let message = progress["value"]["message"].as_str().unwrap_or("");
                if progress["value"]["kind"] == "end" {
                    break;
                }
                if message.starts_with("step 1: ") && message.contains("word42") {
                    reports += 1;
                    if let Some(last) = last {
                        longest_gap = longest_gap.max(now - last);
                    }
                    last = Some(now);
                }
            }
        }
        server.wait_notification("window/showMessage", |p| {
            p["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("meshls agent"))
        });
    }
    let cpu = cpu_ns(server.pid()) - before;
    let events = server
        .messages()
        .iter()
        .filter(|m| m["method"] == "meshls/runEvent")
        .count();
    assert!(server.shutdown_and_exit().success());
    Measured {
        cpu,
        longest_gap,
        reports,
        events,
    }
}

/// What one build measured: its sessions without and with streaming.
#[derive(Default)]
struct Build {
    off: Vec<Measured>,
    on: Vec<Measured>,
}

fn print(name: &str, build: &Build) {
    let per_run = |all: &[Measured]| {
        let cpu: u64 = all.iter().map(|m| m.cpu).sum();
        cpu as f64 / 1e6 / (all.len() * RUNS) as f64
    };
    let (cpu_on, cpu_off) = (per_run(&build.on), per_run(&build.off));
    println!("{name}:");
    println!("  meshls CPU per run, no progress, no events:   {cpu_off:.1} ms");
    println!("  meshls CPU per run, progress and run events:  {cpu_on:.1} ms");
    println!(
        "  difference: {:+.1} ms ({:+.1} %)",
        cpu_on - cpu_off,
        (cpu_on - cpu_off) / cpu_off * 100.0
    );
    let gap = build
        .on
        .iter()
        .map(|m| m.longest_gap)
        .max()
        .unwrap_or_default();
    let reports: usize = build.on.iter().map(|m| m.reports).sum();
    let events: usize = build.on.iter().map(|m| m.events).sum();
    println!(
        "  progress reports of the words: {:.1} per run; longest gap between two: {} ms",
        reports as f64 / (build.on.len() * RUNS) as f64,
        gap.as_millis()
    );
    println!(
        "  run events: {:.0} per run",
        events as f64 / (build.on.len() * RUNS) as f64
    );
}

fn main() {
    let after = meshls_e2e::meshls_bin();
    // `cargo test --benches` runs this too: once, quickly, as a check.
    if std::env::args().any(|arg| arg == "--bench") {
        let before = std::env::var_os("MESHLS_BIN_BEFORE").map(std::path::PathBuf::from);
        let (mut measured_before, mut measured_after) = (Build::default(), Build::default());
        for _ in 0..SESSIONS {
            if let Some(before) = &before {
                measured_before.off.push(session(before, false));
                measured_before.on.push(session(before, true));
            }
            measured_after.off.push(session(&after, false));
            measured_after.on.push(session(&after, true));
        }
        println!("{RUNS} runs x {SESSIONS} sessions each, a {CHUNKS}-chunk answer per run");
        if let Some(before) = &before {
            print(&format!("before ({})", before.display()), &measured_before);
        }
        print(
            &format!("this build ({})", after.display()),
            &measured_after,
        );
    } else {
        let measured = session(&after, true);
        assert!(measured.events > 0 && measured.reports > 0);
        println!("stream_events: works (run with --bench to measure)");
    }
}
