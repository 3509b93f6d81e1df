//! stdin and stdout for the session. Editors connect through pipes (VS Code,
//! Emacs) or socket pairs (Neovim, through libuv); those become the runtime's
//! own non-blocking I/O, woken by epoll like the downstream servers' pipes.
//! tokio's `stdin()`/`stdout()` would hand every read and write to a
//! blocking thread instead: two thread hops on every message. Anything else
//! (a terminal, a file) keeps tokio's blocking-thread I/O.

use std::{
    fs::File,
    io,
    os::{
        fd::{AsFd as _, BorrowedFd, OwnedFd},
        unix::fs::FileTypeExt as _,
    },
};

use tokio::{
    io::{AsyncRead, AsyncWrite},
    net::{unix::pipe, UnixStream},
};

pub type Input = Box<dyn AsyncRead + Send + Unpin>;
pub type Output = Box<dyn AsyncWrite + Send + Unpin>;

/// The editor's end of the connection, and the guard that puts stdin and
/// stdout back in blocking mode when dropped, for whoever uses them next
/// (the file descriptions may be shared with a parent shell).
pub fn open() -> (Input, Output, Restore) {
    let input = match kind(io::stdin().as_fd()) {
        Kind::Pipe => dup(io::stdin().as_fd())
            .and_then(pipe::Receiver::from_owned_fd)
            .map(|pipe| Box::new(pipe) as Input),
        Kind::Socket => dup(io::stdin().as_fd())
            .and_then(socket)
            .map(|socket| Box::new(socket) as Input),
        Kind::Other => Ok(Box::new(tokio::io::stdin()) as Input),
    };
    let output = match kind(io::stdout().as_fd()) {
        Kind::Pipe => dup(io::stdout().as_fd())
            .and_then(pipe::Sender::from_owned_fd)
            .map(|pipe| Box::new(pipe) as Output),
        Kind::Socket => dup(io::stdout().as_fd())
            .and_then(socket)
            .map(|socket| Box::new(socket) as Output),
        Kind::Other => Ok(Box::new(tokio::io::stdout()) as Output),
    };
    let input = input.unwrap_or_else(|err| {
        tracing::debug!("stdin stays blocking: {err}");
        Box::new(tokio::io::stdin())
    });
    let output = output.unwrap_or_else(|err| {
        tracing::debug!("stdout stays blocking: {err}");
        Box::new(tokio::io::stdout())
    });
    (input, output, Restore)
}

enum Kind {
    Pipe,
    Socket,
    Other,
}

fn kind(fd: BorrowedFd<'_>) -> Kind {
    let Ok(metadata) = dup(fd).map(File::from).and_then(|file| file.metadata()) else {
        return Kind::Other;
    };
    let file_type = metadata.file_type();
    if file_type.is_fifo() {
        Kind::Pipe
    } else if file_type.is_socket() {
        Kind::Socket
    } else {
        Kind::Other
    }
}

fn dup(fd: BorrowedFd<'_>) -> io::Result<OwnedFd> {
    fd.try_clone_to_owned()
}

fn socket(fd: OwnedFd) -> io::Result<UnixStream> {
    let socket = std::os::unix::net::UnixStream::from(fd);
    socket.set_nonblocking(true)?;
    UnixStream::from_std(socket)
}

/// Puts stdin and stdout back in blocking mode when dropped.
pub struct Restore;

impl Drop for Restore {
    fn drop(&mut self) {
        for fd in [io::stdin().as_fd(), io::stdout().as_fd()] {
            if let Kind::Pipe | Kind::Socket = kind(fd) {
                use nix::fcntl::{fcntl, FcntlArg, OFlag};
                if let Ok(flags) = fcntl(fd, FcntlArg::F_GETFL) {
                    let flags = OFlag::from_bits_truncate(flags) - OFlag::O_NONBLOCK;
                    let _ = fcntl(fd, FcntlArg::F_SETFL(flags));
                }
            }
        }
    }
}
