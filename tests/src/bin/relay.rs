//! The least a proxy can be: runs the command it is given and copies bytes
//! both ways, one thread per direction, without reading them. The proxy
//! bench (`tests/benches/proxy.rs`) runs a server behind it as a baseline:
//! what one more process on the path costs on this machine, before meshls
//! does anything.

use std::{
    io::{Read, Write},
    process::{Command, ExitCode, Stdio},
};

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(program) = args.next() else {
        let _ = writeln!(std::io::stderr(), "usage: relay PROGRAM [ARGS...]");
        return ExitCode::from(2);
    };
    let mut child = match Command::new(&program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
    {
        Ok(child) => child,
        Err(err) => {
            let _ = writeln!(std::io::stderr(), "relay: cannot run {program:?}: {err}");
            return ExitCode::from(2);
        }
    };
    let (Some(mut to_child), Some(mut from_child)) = (child.stdin.take(), child.stdout.take())
    else {
        return ExitCode::from(2);
    };
    std::thread::spawn(move || copy(&mut std::io::stdin().lock(), &mut to_child));
    copy(&mut from_child, &mut std::io::stdout().lock());
    let _ = child.wait();
    ExitCode::SUCCESS
}

/// Copies until either side closes, writing each read at once.
fn copy(from: &mut impl Read, to: &mut impl Write) {
    let mut buffer = vec![0; 64 * 1024];
    while let Ok(n) = from.read(&mut buffer) {
        if n == 0
            || to
                .write_all(&buffer[..n])
                .and_then(|()| to.flush())
                .is_err()
        {
            return;
        }
    }
}
