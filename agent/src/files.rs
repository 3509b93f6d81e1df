//! Reading a workspace file so that what is read is what was checked: a
//! path that [`crate::paths::resolve`] let through can still be swapped
//! for a symlink out of the workspace before it is opened. So the file is
//! opened beneath the workspace root (`openat2` with `RESOLVE_BENEATH`
//! where the kernel has it), then the opened file itself is checked: a
//! regular file, inside the real root, not in `.git`. A FIFO, socket or
//! device is refused (opening does not block on a FIFO: `O_NONBLOCK`).
//! These are blocking calls: tools run them on the blocking pool.

use std::{
    fs::File,
    io::Read as _,
    os::unix::fs::{FileTypeExt as _, OpenOptionsExt as _},
    path::{Component, Path, PathBuf},
};

/// The largest file a tool reads whole.
pub const MAX_READ: u64 = 16 * 1024 * 1024;

/// The text of `path` (a path under `root` that `paths::resolve` gave),
/// or a sentence for the model saying why not.
pub fn read_text(root: &Path, path: &Path, max: u64) -> Result<String, String> {
    let name = crate::paths::relative(root, path);
    let file = open_beneath(root, path).map_err(|why| why.describe(&name))?;
    read_open(file, &name, max)
}

/// The text of a file outside the workspace that a tool may quote (a
/// dependency's source): a regular file, read without blocking on a FIFO.
pub fn read_regular(path: &Path, max: u64) -> Result<String, String> {
    let name = path.display().to_string();
    let file = open_nonblocking(path).map_err(|err| format!("cannot read {name}: {err}"))?;
    regular(&file).map_err(|why| why.describe(&name))?;
    read_open(file, &name, max)
}

fn read_open(file: File, name: &str, max: u64) -> Result<String, String> {
    let len = file.metadata().map(|meta| meta.len()).unwrap_or(0);
    if len > max {
        return Err(format!(
            "{name} is {len} bytes; the agent reads files of up to {max} bytes"
        ));
    }
    let mut bytes = Vec::new();
    file.take(max + 1)
        .read_to_end(&mut bytes)
        .map_err(|err| format!("cannot read {name}: {err}"))?;
    if bytes.len() as u64 > max {
        return Err(format!(
            "{name} grew past {max} bytes while it was read; the agent reads files of up to {max} bytes"
        ));
    }
    String::from_utf8(bytes).map_err(|_| format!("{name} is not a text file (not UTF-8)"))
}

/// Why a file was not opened.
#[derive(Debug)]
pub enum Refused {
    Io(std::io::Error),
    NotRegular(&'static str),
    Outside,
    InGit,
}

impl Refused {
    fn describe(&self, name: &str) -> String {
        match self {
            Refused::Io(err) => format!("cannot read {name}: {err}"),
            Refused::NotRegular(kind) => format!(
                "{name} is {kind}, not a regular file; the agent reads regular files only"
            ),
            Refused::Outside => format!(
                "{name} leads outside the workspace (a symlink changed while it was opened); tools only reach files under the workspace"
            ),
            Refused::InGit => format!(
                "{name} leads into .git; the agent's tools neither read nor change git's files"
            ),
        }
    }
}

/// Opens `path` (under `root`) for reading, and checks what was opened.
pub fn open_beneath(root: &Path, path: &Path) -> Result<File, Refused> {
    let real_root = root.canonicalize().map_err(Refused::Io)?;
    let relative = path.strip_prefix(root).map_err(|_| Refused::Outside)?;
    let file = match beneath(&real_root, relative) {
        Some(Ok(file)) => file,
        // An absolute symlink inside the workspace, a kernel without
        // openat2, a sandbox that forbids it: open as usual, and let the
        // check below decide.
        None | Some(Err(_)) => open_nonblocking(path).map_err(Refused::Io)?,
    };
    regular(&file)?;
    let real = real_path_of(&file, path).map_err(Refused::Io)?;
    let inside = real
        .strip_prefix(&real_root)
        .map_err(|_| Refused::Outside)?;
    let in_git = inside.components().any(|part| match part {
        Component::Normal(name) => name
            .to_str()
            .is_some_and(|name| name.eq_ignore_ascii_case(".git")),
        _ => false,
    });
    if in_git {
        return Err(Refused::InGit);
    }
    Ok(file)
}

fn open_nonblocking(path: &Path) -> std::io::Result<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nix::libc::O_NONBLOCK | nix::libc::O_NOCTTY)
        .open(path)
}

/// `openat2(root, relative, RESOLVE_BENEATH)`; `None` where there is none.
#[cfg(target_os = "linux")]
fn beneath(real_root: &Path, relative: &Path) -> Option<std::io::Result<File>> {
    use nix::fcntl::{openat2, OFlag, OpenHow, ResolveFlag};
    let dir = match File::open(real_root) {
        Ok(dir) => dir,
        Err(err) => return Some(Err(err)),
    };
    let relative = if relative.as_os_str().is_empty() {
        Path::new(".")
    } else {
        relative
    };
    let how = OpenHow::new()
        .flags(OFlag::O_RDONLY | OFlag::O_NONBLOCK | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_MAGICLINKS);
    Some(
        openat2(&dir, relative, how)
            .map(File::from)
            .map_err(std::io::Error::from),
    )
}

#[cfg(not(target_os = "linux"))]
fn beneath(_: &Path, _: &Path) -> Option<std::io::Result<File>> {
    None
}

fn regular(file: &File) -> Result<(), Refused> {
    let kind = file.metadata().map_err(Refused::Io)?.file_type();
    if kind.is_file() {
        Ok(())
    } else if kind.is_fifo() {
        Err(Refused::NotRegular("a FIFO (named pipe)"))
    } else if kind.is_socket() {
        Err(Refused::NotRegular("a socket"))
    } else if kind.is_char_device() || kind.is_block_device() {
        Err(Refused::NotRegular("a device"))
    } else if kind.is_dir() {
        Err(Refused::NotRegular("a directory"))
    } else {
        Err(Refused::NotRegular("not a plain file"))
    }
}

/// Where the open file really is: what the kernel says of the descriptor
/// on Linux; elsewhere, the path resolved now, if it is the same file.
fn real_path_of(file: &File, path: &Path) -> std::io::Result<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd as _;
        let _ = path;
        std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        use std::os::unix::fs::MetadataExt as _;
        let real = path.canonicalize()?;
        let (opened, now) = (file.metadata()?, std::fs::metadata(&real)?);
        if (opened.dev(), opened.ino()) == (now.dev(), now.ino()) {
            Ok(real)
        } else {
            Err(std::io::Error::other(
                "the file changed while it was opened",
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_files_inside_are_read_and_the_rest_refused() {
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(outside.path().join("secret"), "outside").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("ws");
        std::fs::create_dir_all(root.join("src")).unwrap();
        std::fs::create_dir_all(root.join(".git")).unwrap();
        std::fs::write(root.join("src/a.rs"), "inside").unwrap();
        std::fs::write(root.join(".git/config"), "[core]").unwrap();
        // Absolute links that stay inside are fine (openat2 refuses them,
        // the fallback takes them).
        std::os::unix::fs::symlink(root.join("src/a.rs"), root.join("abs")).unwrap();
        std::os::unix::fs::symlink("src/a.rs", root.join("rel")).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.join("out")).unwrap();
        std::os::unix::fs::symlink(root.join(".git/config"), root.join("git")).unwrap();
        nix::unistd::mkfifo(&root.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        let read = |name: &str| read_text(&root, &root.join(name), MAX_READ);
        assert_eq!(read("src/a.rs"), Ok("inside".to_owned()));
        assert_eq!(read("abs"), Ok("inside".to_owned()));
        assert_eq!(read("rel"), Ok("inside".to_owned()));
        assert!(read("out").unwrap_err().contains("outside the workspace"));
        assert!(read("git").unwrap_err().contains(".git"));
        assert!(
            read("fifo").unwrap_err().contains("a FIFO"),
            "{:?}",
            read("fifo")
        );
        assert!(read("src").unwrap_err().contains("a directory"));
        assert!(read("missing")
            .unwrap_err()
            .starts_with("cannot read missing"));
        assert!(read_text(&root, &root.join("src/a.rs"), 3)
            .unwrap_err()
            .contains("up to 3 bytes"));
        assert_eq!(
            read_regular(&outside.path().join("secret"), MAX_READ),
            Ok("outside".to_owned())
        );
    }
}
