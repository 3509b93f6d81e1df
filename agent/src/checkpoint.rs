//! Checkpoints: what each file was before a run first changed it, and
//! what the run left, so that `meshls.undoRun` can take a whole run back.
//!
//! Each run has a record in the `agent.runs` tree (its instruction, how it
//! ended, the files it changed, whether it was undone), and each file it
//! changed an entry in `agent.checkpoints`, written as the run goes, so a
//! run cut short by a crash can still be undone. A run keeps at most
//! `agent.checkpoint_bytes` of texts: past that, its oldest files' entries
//! are dropped first, and the record names them. Only the latest
//! [`RUNS_KEPT`] runs of the workspace keep theirs.
//!
//! Undoing is planned here, on plain text ([`plan`]): a file the user has
//! not touched since goes back whole; one the user edited since loses only
//! the run's own hunks, when they still apply cleanly ([`rebase`]); any
//! other is left alone and named.

use std::{
    ops::Range,
    path::{Path, PathBuf},
    sync::Mutex,
};

use serde::{Deserialize, Serialize};

use crate::host::rebase;

/// A run, as `meshls.undoRun` finds it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunRecord {
    /// `<session>-<n>`, the session's `n`th run.
    pub id: String,
    pub session: String,
    pub instruction: String,
    /// Unix time in seconds.
    pub started: u64,
    /// How it ended, once it has.
    pub ended: Option<String>,
    /// The files it changed, in the order it first changed them.
    #[serde(default)]
    pub files: Vec<PathBuf>,
    /// Changed files whose checkpoint was dropped to keep within
    /// `agent.checkpoint_bytes`.
    #[serde(default)]
    pub dropped: Vec<PathBuf>,
    #[serde(default)]
    pub undone: bool,
}

impl RunRecord {
    /// The key of a session's `n`th run: ordered by session, then run.
    pub fn id_of(session: &str, n: u32) -> String {
        format!("{session}-{n:06}")
    }
}

/// One file a run changed: its text before the run (`None`: the run
/// created it) and after the run's last change to it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileState {
    pub path: PathBuf,
    pub before: Option<String>,
    pub after: String,
}

impl FileState {
    fn size(&self) -> u64 {
        (self.before.as_ref().map_or(0, String::len) + self.after.len()) as u64
    }
}

fn checkpoint_key(run: &str, index: usize) -> String {
    format!("{run}/{index:06}")
}

/// Reads and writes runs and their checkpoints in the agent's trees.
#[derive(Clone)]
pub struct Runs {
    trees: RunTrees,
    /// Nothing is written (a newer meshls's database).
    read_only: bool,
}

/// The two trees of the workspace's database that runs are kept in.
#[derive(Clone)]
pub struct RunTrees {
    pub runs: sled::Tree,
    pub checkpoints: sled::Tree,
}

impl Runs {
    pub fn new(trees: RunTrees, read_only: bool) -> Runs {
        Runs { trees, read_only }
    }

    pub fn get(&self, id: &str) -> Option<RunRecord> {
        let bytes = self.trees.runs.get(id).ok()??;
        serde_json::from_slice(&bytes).ok()
    }

    pub fn save(&self, record: &RunRecord) {
        if self.read_only {
            return;
        }
        let written = serde_json::to_vec(record)
            .map_err(|err| err.to_string())
            .and_then(|json| {
                let json = crate::redact::redact_bytes(&json).into_owned();
                self.trees
                    .runs
                    .insert(record.id.as_bytes(), json)
                    .map_err(|err| err.to_string())
            });
        if let Err(err) = written {
            tracing::warn!(run = record.id, "saving the run's record failed: {err}");
        }
    }

    /// A session's runs, oldest first.
    pub fn of_session(&self, session: &str) -> Vec<RunRecord> {
        self.trees
            .runs
            .scan_prefix(format!("{session}-"))
            .values()
            .flatten()
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    /// The session's latest run that changed files and is not undone.
    pub fn latest_undoable(&self, session: &str) -> Option<RunRecord> {
        self.of_session(session)
            .into_iter()
            .rev()
            .find(|run| run.files.len() > run.dropped.len() && !run.undone)
    }

    /// The files a run changed, as its checkpoint holds them.
    pub fn states(&self, run: &str) -> Vec<FileState> {
        self.trees
            .checkpoints
            .scan_prefix(format!("{run}/"))
            .values()
            .flatten()
            .filter_map(|bytes| serde_json::from_slice(&bytes).ok())
            .collect()
    }

    fn save_state(&self, run: &str, index: usize, state: &FileState) -> Result<(), String> {
        if self.read_only {
            return Ok(());
        }
        // Not redacted: a checkpoint is the file's bytes, which undo puts
        // back exactly; it is in the user's data directory, as the file is
        // in theirs.
        let json = serde_json::to_vec(state).map_err(|err| err.to_string())?;
        self.trees
            .checkpoints
            .insert(checkpoint_key(run, index), json)
            .map(drop)
            .map_err(|err| err.to_string())
    }

    fn drop_state(&self, run: &str, index: usize) {
        if !self.read_only {
            let _ = self.trees.checkpoints.remove(checkpoint_key(run, index));
        }
    }

    /// Drops the checkpoints of all but the latest `keep` runs that have
    /// one (runs sort by session, then number: by age), each run's record
    /// naming the files it can no longer undo; how many runs lost theirs.
    pub fn keep_latest(&self, keep: usize) -> usize {
        if self.read_only {
            return 0;
        }
        let with_states: Vec<RunRecord> = self
            .trees
            .runs
            .iter()
            .values()
            .flatten()
            .filter_map(|bytes| serde_json::from_slice::<RunRecord>(&bytes).ok())
            .filter(|run| run.files.len() > run.dropped.len())
            .collect();
        let old = with_states.len().saturating_sub(keep);
        for mut run in with_states.into_iter().take(old) {
            for key in self
                .trees
                .checkpoints
                .scan_prefix(format!("{}/", run.id))
                .keys()
                .flatten()
            {
                let _ = self.trees.checkpoints.remove(key);
            }
            for file in &run.files {
                if !run.dropped.contains(file) {
                    run.dropped.push(file.clone());
                }
            }
            self.save(&run);
        }
        old
    }

    /// Removes a run's record and checkpoint.
    pub fn remove(&self, run: &str) {
        if self.read_only {
            return;
        }
        let _ = self.trees.runs.remove(run);
        for key in self
            .trees
            .checkpoints
            .scan_prefix(format!("{run}/"))
            .keys()
            .flatten()
        {
            let _ = self.trees.checkpoints.remove(key);
        }
    }
}

/// How many runs keep their checkpoints, in the whole workspace: at most
/// this many times `agent.checkpoint_bytes` on disk. Older runs cannot be
/// undone; their records say so.
pub const RUNS_KEPT: usize = 10;

/// The checkpoint of one run as it goes: the host tells it each change.
pub struct Checkpoint {
    runs: Runs,
    limit: u64,
    kept: Mutex<Kept>,
}

struct Kept {
    record: RunRecord,
    /// Each changed file's state, `None` once dropped; by first change.
    states: Vec<Option<FileState>>,
    used: u64,
}

impl Checkpoint {
    /// Starts the record of run `record` (saved at once), keeping at most
    /// `limit` bytes of texts; the checkpoints of all but the latest
    /// [`RUNS_KEPT`] runs before it go.
    pub fn start(runs: Runs, record: RunRecord, limit: u64) -> Checkpoint {
        let dropped = runs.keep_latest(RUNS_KEPT - 1);
        if dropped > 0 {
            tracing::info!("the checkpoints of {dropped} older run(s) were dropped");
        }
        runs.save(&record);
        Checkpoint {
            runs,
            limit,
            kept: Mutex::new(Kept {
                record,
                states: Vec::new(),
                used: 0,
            }),
        }
    }

    fn kept(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn run(&self) -> String {
        self.kept().record.id.clone()
    }

    /// The run changed `path` from `before` (`None`: created it) to
    /// `after`. Only the first change's `before` is kept.
    pub fn record(&self, path: &Path, before: Option<&str>, after: &str) {
        let mut kept = self.kept();
        let Kept {
            record,
            states,
            used,
        } = &mut *kept;
        let index = match record.files.iter().position(|file| file == path) {
            Some(index) => {
                let Some(state) = states[index].as_mut() else {
                    // Dropped before: undo cannot take this file back.
                    return;
                };
                *used -= state.size();
                state.after = after.to_owned();
                *used += state.size();
                index
            }
            None => {
                let state = FileState {
                    path: path.to_owned(),
                    before: before.map(str::to_owned),
                    after: after.to_owned(),
                };
                *used += state.size();
                record.files.push(path.to_owned());
                states.push(Some(state));
                states.len() - 1
            }
        };
        // Over the bound: the oldest files go first, this one last.
        let mut oldest = 0;
        while *used > self.limit && oldest < states.len() {
            if let Some(state) = states[oldest].take() {
                *used -= state.size();
                self.runs.drop_state(&record.id, oldest);
                record.dropped.push(state.path);
                tracing::info!(
                    run = record.id,
                    "a file's checkpoint was dropped to keep within agent.checkpoint_bytes"
                );
            }
            oldest += 1;
        }
        if let Some(state) = &states[index] {
            if let Err(err) = self.runs.save_state(&record.id, index, state) {
                tracing::warn!(run = record.id, "saving a checkpoint failed: {err}");
            }
        }
        self.runs.save(record);
    }

    /// The run ended: how, in a few words.
    pub fn end(&self, outcome: &str) -> RunRecord {
        let mut kept = self.kept();
        kept.record.ended = Some(outcome.to_owned());
        self.runs.save(&kept.record);
        kept.record.clone()
    }
}

/// What undo does to one file.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Replace these byte ranges of the file's current text.
    Restore {
        path: PathBuf,
        current: String,
        replacements: Vec<(Range<usize>, String)>,
    },
    /// The run created it: delete it.
    Delete { path: PathBuf },
    /// Leave it as it is, for this reason.
    Leave { path: PathBuf, why: String },
}

/// What undoing a run does to each file it changed, given each file's
/// current text (`None`: it does not exist). Files already as they were
/// before the run need nothing and have no step.
pub fn plan(states: &[FileState], current: impl Fn(&Path) -> Option<String>) -> Vec<Step> {
    let mut steps = Vec::new();
    for state in states {
        let path = state.path.clone();
        let now = current(&state.path);
        match (&state.before, now) {
            (None, None) => {}
            (None, Some(now)) if now == state.after => steps.push(Step::Delete { path }),
            (None, Some(_)) => steps.push(Step::Leave {
                path,
                why: "the run created it and it was edited since".to_owned(),
            }),
            (Some(_), None) => steps.push(Step::Leave {
                path,
                why: "it was deleted since the run".to_owned(),
            }),
            (Some(before), Some(now)) if now == *before => {}
            (Some(before), Some(now)) => {
                let hunks = hunks(&state.after, before);
                match rebase(&state.after, &now, &hunks) {
                    Some(replacements) => steps.push(Step::Restore {
                        path,
                        current: now,
                        replacements,
                    }),
                    None => steps.push(Step::Leave {
                        path,
                        why: "it was edited since the run where the run changed it".to_owned(),
                    }),
                }
            }
        }
    }
    steps
}

/// The line hunks that turn `from` into `to`, as replacements of byte
/// ranges of `from`, in order.
pub fn hunks(from: &str, to: &str) -> Vec<(Range<usize>, String)> {
    let starts = |text: &str| -> Vec<usize> {
        let mut starts = vec![0];
        starts.extend(text.match_indices('\n').map(|(at, _)| at + 1));
        if starts.last() != Some(&text.len()) {
            starts.push(text.len());
        }
        starts
    };
    let (from_lines, to_lines) = (starts(from), starts(to));
    let diff = similar::TextDiff::configure()
        .algorithm(similar::Algorithm::Myers)
        .diff_lines(from, to);
    diff.ops()
        .iter()
        .filter(|op| !matches!(op, similar::DiffOp::Equal { .. }))
        .map(|op| {
            let (old, new) = (op.old_range(), op.new_range());
            (
                from_lines[old.start]..from_lines[old.end],
                to[to_lines[new.start]..to_lines[new.end]].to_owned(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(text: &str, replacements: &[(Range<usize>, String)]) -> String {
        let mut out = text.to_owned();
        for (range, new) in replacements.iter().rev() {
            out.replace_range(range.clone(), new);
        }
        out
    }

    #[test]
    fn hunks_turn_one_text_into_the_other() {
        for (from, to) in [
            ("a\nb\nc\n", "a\nB\nc\n"),
            ("a\nb\nc\n", "a\nc\n"),
            ("a\nc\n", "a\nb\nc\n"),
            ("", "new\nfile"),
            ("no newline", "no newline\nat end"),
            ("x\ny\nz", ""),
        ] {
            let hunks = hunks(from, to);
            assert_eq!(apply(from, &hunks), to, "{from:?} -> {to:?}: {hunks:?}");
        }
    }

    fn state(before: Option<&str>, after: &str) -> FileState {
        FileState {
            path: PathBuf::from("/w/a.ts"),
            before: before.map(str::to_owned),
            after: after.to_owned(),
        }
    }

    #[test]
    fn undo_keeps_the_users_later_edits_and_leaves_what_it_cannot_take_back() {
        let before = "one\ntwo\nthree\nfour\nfive\n";
        let after = "one\nTWO\nthree\nfour\nfive\n";
        let restored =
            |now: &str| match &plan(&[state(Some(before), after)], |_| Some(now.to_owned()))[..] {
                [Step::Restore {
                    current,
                    replacements,
                    ..
                }] => Some(apply(current, replacements)),
                [] => Some(now.to_owned()),
                _ => None,
            };
        // Untouched since: back whole.
        assert_eq!(restored(after).unwrap(), before);
        // The user edited another line: the run's hunk goes, theirs stays.
        assert_eq!(
            restored("one\nTWO\nthree\nfour\nFIVE!\n").unwrap(),
            "one\ntwo\nthree\nfour\nFIVE!\n"
        );
        // The user changed the run's own line: left alone, and named.
        assert_eq!(restored("one\nTWO and more\nthree\nfour\nfive\n"), None);
        // Already as before: nothing to do.
        assert!(plan(&[state(Some(before), after)], |_| Some(before.to_owned())).is_empty());
        // A created file goes, unless edited since; a deleted one is left.
        assert!(matches!(
            &plan(&[state(None, "new\n")], |_| Some("new\n".to_owned()))[..],
            [Step::Delete { .. }]
        ));
        assert!(matches!(
            &plan(&[state(None, "new\n")], |_| Some("newer\n".to_owned()))[..],
            [Step::Leave { .. }]
        ));
        assert!(plan(&[state(None, "new\n")], |_| None).is_empty());
        assert!(matches!(
            &plan(&[state(Some(before), after)], |_| None)[..],
            [Step::Leave { .. }]
        ));
    }

    fn trees() -> RunTrees {
        let db = sled::Config::new().temporary(true).open().unwrap();
        RunTrees {
            runs: db.open_tree("runs").unwrap(),
            checkpoints: db.open_tree("checkpoints").unwrap(),
        }
    }

    #[test]
    fn a_checkpoint_keeps_the_first_before_and_the_last_after_within_its_bound() {
        let runs = Runs::new(trees(), false);
        let record = RunRecord {
            id: RunRecord::id_of("s1", 1),
            session: "s1".into(),
            instruction: "do it".into(),
            ..RunRecord::default()
        };
        let checkpoint = Checkpoint::start(runs.clone(), record, 35);
        checkpoint.record(Path::new("/w/a"), Some("aaaa"), "bbbb");
        checkpoint.record(Path::new("/w/a"), Some("bbbb"), "cccc");
        checkpoint.record(Path::new("/w/new"), None, "n");
        assert_eq!(
            runs.states("s1-000001"),
            vec![
                FileState {
                    path: "/w/a".into(),
                    before: Some("aaaa".into()),
                    after: "cccc".into()
                },
                FileState {
                    path: "/w/new".into(),
                    before: None,
                    after: "n".into()
                },
            ]
        );
        // 30 bytes more (39 in all): the oldest file's checkpoint goes first.
        checkpoint.record(Path::new("/w/big"), Some(&"x".repeat(15)), &"y".repeat(15));
        let record = checkpoint.end("done");
        assert_eq!(record.dropped, vec![PathBuf::from("/w/a")]);
        assert_eq!(record.files.len(), 3);
        assert_eq!(runs.states("s1-000001").len(), 2);
        assert_eq!(
            runs.latest_undoable("s1").unwrap().ended.as_deref(),
            Some("done")
        );
        assert_eq!(runs.latest_undoable("s2"), None);
    }

    #[test]
    fn only_the_latest_runs_keep_their_checkpoints() {
        let runs = Runs::new(trees(), false);
        for n in 1..=(RUNS_KEPT as u32 + 2) {
            let record = RunRecord {
                id: RunRecord::id_of("s", n),
                session: "s".into(),
                ..RunRecord::default()
            };
            let checkpoint = Checkpoint::start(runs.clone(), record, 1000);
            checkpoint.record(Path::new("/w/a"), Some("old"), "new");
            checkpoint.end("done");
        }
        let kept: Vec<bool> = runs
            .of_session("s")
            .iter()
            .map(|run| !runs.states(&run.id).is_empty())
            .collect();
        assert_eq!(kept.iter().filter(|k| **k).count(), RUNS_KEPT);
        assert!(!kept[0] && !kept[1] && kept[2], "{kept:?}");
        assert_eq!(runs.of_session("s")[0].dropped, vec![PathBuf::from("/w/a")]);
    }
}
