//! What meshls adds to a language server's latency, measured side by side
//! in one run: the same requests (hover, definition, documentSymbol,
//! completion) sent to a server directly, through a byte relay, and
//! through meshls, in alternating blocks so machine noise hits all alike.
//! Against `echo-lsp` (answers at once: the pure proxy overhead) and
//! against typescript-language-server (the ratio a user feels).
//!
//! The relay (`tests/src/bin/relay.rs`) copies bytes and nothing else: it
//! shows what one more process on the path costs on this machine, which no
//! proxy can go below.
//!
//! `cargo build --release -p meshls && MESHLS_BIN=$PWD/target/release/meshls \
//!  MESHLS_TEST_NODE_BIN=$PWD/tests/node_modules/.bin cargo bench -p meshls-e2e --bench proxy`
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a few
//! rounds only, to show it still works; it times nothing then.

#![allow(clippy::print_stdout)] // The report is for people, on stdout.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use meshls_e2e::{meshls_bin, node_bin, path_with_node_servers, Server, Workspace};
use serde_json::{json, Value};

/// One server reached three ways, and the requests to send it.
struct Case {
    /// Direct, through the relay, through meshls.
    paths: [Server; 3],
    requests: Vec<(&'static str, Value)>,
}

/// A server, how to set up its case for the nth pair, how many pairs, and
/// blocks of how many rounds per pair.
type Plan = (&'static str, fn(usize) -> Case, usize, usize, usize);

const PATHS: [&str; 3] = ["direct", "through a byte relay", "through meshls"];

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    println!("meshls: {}", meshls_bin().display());
    // Each pair is a fresh server started directly and a fresh meshls with
    // its own. Two TypeScript servers answer the same request at speeds
    // that differ by up to a fifth from one pair to the next (each is a
    // separate node process with its own JIT and garbage collector), so
    // TypeScript gets several pairs, started in rotating order.
    let plans: [Plan; 2] = [
        ("echo-lsp", echo_case, 1, 10, 200),
        ("typescript-language-server", typescript_case, 3, 10, 25),
    ];
    let mut by_method = Vec::new();
    let mut by_pair = Vec::new();
    println!("| server | path | requests | p50 | p99 | mean | requests/s |");
    println!("|---|---|---|---|---|---|---|");
    for (name, make, pairs, blocks, rounds) in plans {
        let (pairs, blocks, rounds) = if full {
            (pairs, blocks, rounds)
        } else {
            (1, 1, 2)
        };
        let mut times: [Vec<Duration>; 3] = Default::default();
        let mut methods = Vec::new();
        for pair in 0..pairs {
            // One case at a time: a server still loading its project would
            // take the CPU from another's measurement.
            let mut case = make(pair);
            methods = case.requests.iter().map(|(method, _)| *method).collect();
            // Servers warm up (tsserver loads the project on first use).
            let warm_up = if full { 30 } else { 1 };
            for server in &mut case.paths {
                measure(server, &case.requests, warm_up);
            }
            let mut pair_times: [Vec<Duration>; 3] = Default::default();
            for _ in 0..blocks {
                for (server, times) in case.paths.iter_mut().zip(&mut pair_times) {
                    times.extend(measure(server, &case.requests, rounds));
                }
            }
            by_pair.push((
                name,
                pair + 1,
                ratio(&pair_times[0], &pair_times[1]),
                ratio(&pair_times[0], &pair_times[2]),
            ));
            for (all, pair) in times.iter_mut().zip(pair_times) {
                all.extend(pair);
            }
            for server in case.paths {
                server.shutdown_and_exit();
            }
        }
        let stats = times.each_ref().map(|times| Stats::of(times));
        for (stats, path) in stats.iter().zip(PATHS) {
            println!("{}", stats.row(name, path));
        }
        for (i, what) in [(1, "the relay adds"), (2, "meshls adds")] {
            println!(
                "| {name} | {what} | | {} | {} | {} | ratio at p50 {:.3} |",
                signed_micros(stats[i].p50, stats[0].p50),
                signed_micros(stats[i].p99, stats[0].p99),
                signed_micros(stats[i].mean, stats[0].mean),
                ratio(&times[0], &times[i])
            );
        }
        // measure() records the requests in order, round after round.
        for (i, method) in methods.iter().enumerate() {
            let nth = times.each_ref().map(|times| -> Vec<Duration> {
                times
                    .iter()
                    .skip(i)
                    .step_by(methods.len())
                    .copied()
                    .collect()
            });
            by_method.push((name, *method, nth.each_ref().map(|t| Stats::of(t).p50)));
        }
    }
    println!();
    println!("| server | request | p50 direct | p50 through the relay | p50 through meshls | ratio, meshls |");
    println!("|---|---|---|---|---|---|");
    for (name, method, [d, r, m]) in by_method {
        println!(
            "| {name} | {method} | {} | {} | {} | {:.3} |",
            micros(d),
            micros(r),
            micros(m),
            m.as_secs_f64() / d.as_secs_f64()
        );
    }
    println!();
    println!("| server | pair | ratio at p50, relay | ratio at p50, meshls |");
    println!("|---|---|---|---|");
    for (name, pair, relay, meshls) in by_pair {
        println!("| {name} | {pair} | {relay:.3} | {meshls:.3} |");
    }
}

/// p50 of `via` over p50 of `direct`.
fn ratio(direct: &[Duration], via: &[Duration]) -> f64 {
    Stats::of(via).p50.as_secs_f64() / Stats::of(direct).p50.as_secs_f64()
}

fn measure(
    server: &mut Server,
    requests: &[(&'static str, Value)],
    rounds: usize,
) -> Vec<Duration> {
    let mut times = Vec::with_capacity(rounds * requests.len());
    for _ in 0..rounds {
        for (method, params) in requests {
            let start = Instant::now();
            let answer = server.request(method, params.clone());
            times.push(start.elapsed());
            if let Err(error) = answer {
                panic!("{method} failed: {error}");
            }
        }
    }
    times
}

struct Stats {
    count: usize,
    p50: Duration,
    p99: Duration,
    mean: Duration,
    per_second: f64,
}

impl Stats {
    fn of(times: &[Duration]) -> Stats {
        let mut sorted = times.to_vec();
        sorted.sort();
        let at = |q: f64| sorted[((sorted.len() as f64 * q) as usize).min(sorted.len() - 1)];
        let total: Duration = sorted.iter().sum();
        Stats {
            count: sorted.len(),
            p50: at(0.50),
            p99: at(0.99),
            mean: total / sorted.len() as u32,
            per_second: sorted.len() as f64 / total.as_secs_f64(),
        }
    }

    fn row(&self, name: &str, path: &str) -> String {
        format!(
            "| {name} | {path} | {} | {} | {} | {} | {:.0} |",
            self.count,
            micros(self.p50),
            micros(self.p99),
            micros(self.mean),
            self.per_second
        )
    }
}

fn micros(d: Duration) -> String {
    format!("{:.1} µs", d.as_secs_f64() * 1e6)
}

/// `a - b`, which may be negative (noise can make meshls look faster).
fn signed_micros(a: Duration, b: Duration) -> String {
    format!("{:+.1} µs", (a.as_secs_f64() - b.as_secs_f64()) * 1e6)
}

/// Requests at one position of one document.
fn requests(uri: &lsp_types::Url, line: u32, character: u32) -> Vec<(&'static str, Value)> {
    let at =
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
    vec![
        ("textDocument/hover", at.clone()),
        ("textDocument/definition", at.clone()),
        (
            "textDocument/documentSymbol",
            json!({"textDocument": {"uri": uri}}),
        ),
        ("textDocument/completion", at),
    ]
}

fn echo_case(_pair: usize) -> Case {
    let ws = Box::leak(Box::new(Workspace::new("//- /a.echo\nhello world\n")));
    let echo = PathBuf::from(env!("CARGO_BIN_EXE_echo-lsp"));
    let user_config = ws.config_home().join("meshls");
    std::fs::create_dir_all(&user_config).unwrap();
    std::fs::write(
        user_config.join("config.toml"),
        format!(
            "[servers.echo]\ncommand = {:?}\nlanguages = [\"echo\"]\n",
            echo.display().to_string()
        ),
    )
    .unwrap();
    let uri = ws.uri("a.echo");
    let start = |program: &Path, args: &[&str]| {
        let mut server = Server::builder(ws).program(program).args(args).start();
        server.initialize(ws.root_uri(), None);
        server.open(&uri, "echo", "hello world\n");
        server
    };
    let direct = start(&echo, &[]);
    let relay = start(&relay_bin(), &[echo.to_str().unwrap()]);
    // No other server may start: an empty PATH. Logging at warn, as users run it.
    let (mut meshls, _) = Server::builder(ws)
        .env("PATH", "/nonexistent")
        .env("MESHLS_LOG", "warn")
        .start_initialized();
    meshls.open(&uri, "echo", "hello world\n");
    Case {
        paths: [direct, relay, meshls],
        requests: requests(&uri, 0, 3),
    }
}

fn relay_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_relay"))
}

fn typescript_case(pair: usize) -> Case {
    let ws = Box::leak(Box::new(Workspace::new(
        "//- /tsconfig.json\n{\"compilerOptions\": {\"strict\": true}}\n//- /src/util.ts\nexport function double(n: number): number {\n  return n * 2;\n}\n//- /src/main.ts\nimport { double } from \"./util\";\nexport const a = double(21).toFixed(2);\n",
    )));
    let server = node_bin().join("typescript-language-server");
    let (main, util) = (ws.uri("src/main.ts"), ws.uri("src/util.ts"));
    let open = |server: &mut Server| {
        server.open(&util, "typescript", &ws.read("src/util.ts"));
        server.open(&main, "typescript", &ws.read("src/main.ts"));
    };
    let start = |program: &Path, args: &[&str]| {
        let mut server = Server::builder(ws)
            .program(program)
            .args(args)
            .env("PATH", path_with_node_servers())
            .start();
        server.initialize(ws.root_uri(), None);
        open(&mut server);
        server
    };
    let start_meshls = || {
        let (mut meshls, _) = Server::builder(ws)
            .env("PATH", path_with_node_servers())
            .env("MESHLS_LOG", "warn")
            .start_initialized();
        open(&mut meshls);
        meshls
    };
    // Started in rotating order, so no path is always the first (or last)
    // to load the project.
    let mut started: Vec<(usize, Server)> = Vec::new();
    for path in (0..3).map(|i| (i + pair) % 3) {
        let server = match path {
            0 => start(&server, &["--stdio"]),
            1 => start(&relay_bin(), &[server.to_str().unwrap(), "--stdio"]),
            _ => start_meshls(),
        };
        started.push((path, server));
    }
    started.sort_by_key(|(path, _)| *path);
    let [direct, relay, meshls] = <[_; 3]>::try_from(started)
        .ok()
        .unwrap()
        .map(|(_, server)| server);
    Case {
        paths: [direct, relay, meshls],
        requests: requests(&main, 1, 18),
    }
}
