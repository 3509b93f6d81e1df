//! The processes the tests look for in /proc: what meshls started, what
//! it left behind, and how much memory they hold.

use std::path::{Path, PathBuf};

/// What /proc says about one process.
#[derive(Debug, Clone)]
pub struct Process {
    pub pid: u32,
    pub state: char,
    pub ppid: u32,
    pub pgrp: u32,
    pub cwd: Option<PathBuf>,
    pub cmdline: String,
}

pub fn processes() -> Vec<Process> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let Some(pid) = entry.file_name().to_str().and_then(|s| s.parse().ok()) else {
            continue;
        };
        // The process may be gone by now; then it is simply not listed.
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid pgrp ...`, where comm may hold spaces and parentheses.
        let Some((_, rest)) = stat.rsplit_once(')') else {
            continue;
        };
        let fields: Vec<&str> = rest.split_whitespace().collect();
        let (Some(state), Some(ppid), Some(pgrp)) = (
            fields.first().and_then(|s| s.chars().next()),
            fields.get(1).and_then(|s| s.parse().ok()),
            fields.get(2).and_then(|s| s.parse().ok()),
        ) else {
            continue;
        };
        let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
        found.push(Process {
            pid,
            state,
            ppid,
            pgrp,
            cwd: std::fs::read_link(entry.path().join("cwd")).ok(),
            cmdline: String::from_utf8_lossy(&cmdline).replace('\0', " "),
        });
    }
    found
}

/// Processes other than meshls itself (which the tests start there too)
/// whose working directory is `dir`: the servers meshls started and theirs.
pub fn processes_in(dir: &Path, meshls: u32) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| p.pid != meshls && p.cwd.as_deref() == Some(dir))
        .collect()
}

/// meshls's children that have exited and were not reaped.
pub fn zombie_children(meshls: u32) -> Vec<Process> {
    processes()
        .into_iter()
        .filter(|p| p.ppid == meshls && p.state == 'Z')
        .collect()
}

/// A process's resident memory in KiB (`VmRSS`), if it still runs.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
}

/// The processes `pid` started, and theirs, and so on.
pub fn descendants(pid: u32) -> Vec<Process> {
    let all = processes();
    let mut found: Vec<Process> = Vec::new();
    let mut parents = vec![pid];
    while let Some(parent) = parents.pop() {
        for process in &all {
            if process.ppid == parent && !found.iter().any(|p| p.pid == process.pid) {
                parents.push(process.pid);
                found.push(process.clone());
            }
        }
    }
    found
}
