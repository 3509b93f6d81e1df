//! What a checkpoint costs a run: keeping a 1 MB file's text before the
//! run's first change to it (and after each change) in sled, and planning
//! its undo, beside the edit's own work (applying one replacement to the
//! same text) for scale.
//!
//! `cargo bench -p meshls-agent --bench checkpoint`

use std::path::Path;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use meshls_agent::{
    checkpoint::{plan, Checkpoint, FileState, RunRecord, Step},
    session::{Store, Trees},
};

/// About 1 MB of source: 20,000 lines of 52 bytes.
fn source() -> String {
    (0..20_000)
        .map(|i| format!("export const value{i:05} = compute({i:05}, \"text\");\n"))
        .collect()
}

fn bench(c: &mut Criterion) {
    let before = source();
    // The run changed one line in the middle.
    let after = before.replacen("value10000 = compute", "value10000 = recompute", 1);
    let db = sled::Config::new().temporary(true).open().unwrap();
    let store = Store::open(Trees::of(&db).unwrap()).unwrap();
    let mut group = c.benchmark_group("checkpoint of a 1 MB file");
    group.sample_size(30);

    group.bench_function("the edit itself (one replacement, for scale)", |b| {
        b.iter(|| before.replacen("value10000 = compute", "value10000 = recompute", 1))
    });
    // Each in a database of its own (made outside the timing), as a
    // database that grew by 2 MB a try would measure sled's growth.
    group.bench_function("first change: before and after kept in sled", |b| {
        b.iter_batched(
            || {
                let db = sled::Config::new().temporary(true).open().unwrap();
                let store = Store::open(Trees::of(&db).unwrap()).unwrap();
                (db, store)
            },
            |(db, store)| {
                let record = RunRecord {
                    id: RunRecord::id_of("bench", 1),
                    session: "bench".into(),
                    ..RunRecord::default()
                };
                let checkpoint = Checkpoint::start(store.runs(), record, 20 * 1024 * 1024);
                checkpoint.record(Path::new("/w/big.ts"), Some(&before), &after);
                (db, store, checkpoint)
            },
            BatchSize::PerIteration,
        )
    });
    let record = RunRecord {
        id: RunRecord::id_of("later", 1),
        session: "later".into(),
        ..RunRecord::default()
    };
    let checkpoint = Checkpoint::start(store.runs(), record, 20 * 1024 * 1024);
    checkpoint.record(Path::new("/w/big.ts"), Some(&before), &after);
    group.bench_function("a later change to the same file", |b| {
        b.iter(|| checkpoint.record(Path::new("/w/big.ts"), Some(&after), &after))
    });
    let states = [FileState {
        path: "/w/big.ts".into(),
        before: Some(before.clone()),
        after: after.clone(),
    }];
    group.bench_function("undo planned, file untouched since", |b| {
        b.iter(|| plan(&states, |_| Some(after.clone())))
    });
    // The user added a line at the top since the run.
    let edited = format!("// mine\n{after}");
    group.bench_function("undo planned, the user edited elsewhere since", |b| {
        b.iter(|| {
            let steps = plan(&states, |_| Some(edited.clone()));
            assert!(matches!(&steps[..], [Step::Restore { .. }]));
            steps
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
