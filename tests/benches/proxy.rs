//! What meshls adds to a language server's latency, measured side by side
//! in one run: the same requests (hover, definition, completion) sent to a
//! server directly and through meshls, in alternating blocks so machine
//! noise hits both alike. Against `echo-lsp` (answers at once: the pure
//! proxy overhead) and against typescript-language-server (the ratio a user
//! feels).
//!
//! `cargo build --release -p meshls && MESHLS_BIN=$PWD/target/release/meshls \
//!  MESHLS_TEST_NODE_BIN=$PWD/tests/node_modules/.bin cargo bench -p meshls-e2e --bench proxy`
//!
//! Without `--bench` (as `cargo test --all-targets` runs it) it does a few
//! rounds only, to show it still works; it times nothing then.

#![allow(clippy::print_stdout)] // The report is for people, on stdout.

use std::{
    path::PathBuf,
    time::{Duration, Instant},
};

use meshls_e2e::{meshls_bin, node_bin, Server, Workspace};
use serde_json::{json, Value};

struct Case {
    name: &'static str,
    direct: Server,
    meshls: Server,
    requests: Vec<(&'static str, Value)>,
}

fn main() {
    let full = std::env::args().any(|arg| arg == "--bench");
    let (blocks, rounds) = if full { (10, 200) } else { (1, 3) };
    println!("meshls: {}", meshls_bin().display());
    println!("| server | path | requests | p50 | p99 | mean | requests/s |");
    println!("|---|---|---|---|---|---|---|");
    let mut cases = vec![echo_case(), typescript_case()];
    for case in &mut cases {
        // Servers warm up (tsserver loads the project on first use).
        measure(&mut case.direct, &case.requests, 5);
        measure(&mut case.meshls, &case.requests, 5);
        let (mut direct, mut via) = (Vec::new(), Vec::new());
        for _ in 0..blocks {
            direct.extend(measure(&mut case.direct, &case.requests, rounds));
            via.extend(measure(&mut case.meshls, &case.requests, rounds));
        }
        let (d, v) = (Stats::of(&direct), Stats::of(&via));
        println!("{}", d.row(case.name, "direct"));
        println!("{}", v.row(case.name, "through meshls"));
        println!(
            "| {} | meshls adds | | {} | {} | {} | ratio at p50 {:.3} |",
            case.name,
            micros(v.p50.saturating_sub(d.p50)),
            micros(v.p99.saturating_sub(d.p99)),
            micros(v.mean.saturating_sub(d.mean)),
            v.p50.as_secs_f64() / d.p50.as_secs_f64()
        );
    }
    for case in cases {
        case.direct.shutdown_and_exit();
        case.meshls.shutdown_and_exit();
    }
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

/// Requests at one position of one document.
fn requests(uri: &lsp_types::Url, line: u32, character: u32) -> Vec<(&'static str, Value)> {
    let at =
        json!({"textDocument": {"uri": uri}, "position": {"line": line, "character": character}});
    vec![
        ("textDocument/hover", at.clone()),
        ("textDocument/definition", at.clone()),
        ("textDocument/completion", at),
    ]
}

fn echo_case() -> Case {
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
    let mut direct = Server::builder(ws).program(&echo).start();
    direct.initialize(ws.root_uri(), None);
    direct.open(&uri, "echo", "hello world\n");
    // No other server may start: an empty PATH. Logging at warn, as users run it.
    let (mut meshls, _) = Server::builder(ws)
        .env("PATH", "/nonexistent")
        .env("MESHLS_LOG", "warn")
        .start_initialized();
    meshls.open(&uri, "echo", "hello world\n");
    Case {
        name: "echo-lsp",
        direct,
        meshls,
        requests: requests(&uri, 0, 3),
    }
}

fn typescript_case() -> Case {
    let ws = Box::leak(Box::new(Workspace::new(
        "//- /tsconfig.json\n{\"compilerOptions\": {\"strict\": true}}\n//- /src/util.ts\nexport function double(n: number): number {\n  return n * 2;\n}\n//- /src/main.ts\nimport { double } from \"./util\";\nexport const a = double(21).toFixed(2);\n",
    )));
    let bin = node_bin();
    let server = bin.join("typescript-language-server");
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let (main, util) = (ws.uri("src/main.ts"), ws.uri("src/util.ts"));
    let open = |server: &mut Server| {
        server.open(&util, "typescript", &ws.read("src/util.ts"));
        server.open(&main, "typescript", &ws.read("src/main.ts"));
    };
    let mut direct = Server::builder(ws)
        .program(&server)
        .args(&["--stdio"])
        .env("PATH", &path)
        .start();
    direct.initialize(ws.root_uri(), None);
    open(&mut direct);
    let (mut meshls, _) = Server::builder(ws)
        .env("PATH", &path)
        .env("MESHLS_LOG", "warn")
        .start_initialized();
    open(&mut meshls);
    Case {
        name: "typescript-language-server",
        direct,
        meshls,
        requests: requests(&main, 1, 18),
    }
}
