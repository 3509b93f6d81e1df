//! Frames out to a pipe, in order, written by whoever has them. A frame
//! goes straight into the pipe when nothing is queued and the pipe has
//! room, which is nearly always; otherwise it is queued, and a drain task
//! writes the queue out as the pipe empties. Handing every frame to a
//! writer task instead costs a task wake-up per message, often on another
//! CPU.

use std::{
    collections::VecDeque,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::{BufMut as _, Bytes, BytesMut};
use tokio::{
    io::{AsyncWrite, AsyncWriteExt as _},
    sync::Notify,
};

/// The pipe is closed, or writing to it failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

pub struct Outbox<W> {
    shared: Arc<Shared<W>>,
}

impl<W> Clone for Outbox<W> {
    fn clone(&self) -> Self {
        Outbox {
            shared: Arc::clone(&self.shared),
        }
    }
}

struct Shared<W> {
    state: Mutex<State<W>>,
    /// Something was queued, or the outbox was closed.
    work: Notify,
}

struct State<W> {
    /// `None` while the drain task is writing with it.
    writer: Option<W>,
    queue: VecDeque<Bytes>,
    /// No more frames are taken; the drain task ends once the queue is out.
    closing: bool,
    /// Writing failed: nothing more is written.
    broken: bool,
}

impl<W: AsyncWrite + Unpin + Send + 'static> Outbox<W> {
    /// The outbox, and the drain task to spawn. The task ends after
    /// [`Outbox::close`] once everything queued is written, or when writing
    /// fails.
    pub fn new(writer: W) -> (Outbox<W>, impl Future<Output = ()> + Send + 'static) {
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                writer: Some(writer),
                queue: VecDeque::new(),
                closing: false,
                broken: false,
            }),
            work: Notify::new(),
        });
        let outbox = Outbox { shared };
        let drain = outbox.clone().drain();
        (outbox, drain)
    }

    /// Frames `body` and writes it, or queues it behind what is queued.
    /// It is on its way, in order, when this returns.
    pub fn send(&self, body: &[u8]) -> Result<(), Closed> {
        let mut frame = BytesMut::with_capacity(body.len() + 32);
        frame.put_slice(format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes());
        frame.put_slice(body);
        let mut frame = frame.freeze();
        let mut state = self.lock();
        if state.closing || state.broken {
            return Err(Closed);
        }
        if state.queue.is_empty() {
            if let Some(writer) = state.writer.as_mut() {
                match write_now(writer, &frame) {
                    Ok(written) if written == frame.len() => return Ok(()),
                    Ok(written) => frame = frame.slice(written..),
                    Err(err) => {
                        tracing::debug!("writing a frame failed: {err}");
                        state.broken = true;
                        drop(state);
                        self.shared.work.notify_one();
                        return Err(Closed);
                    }
                }
            }
        }
        state.queue.push_back(frame);
        drop(state);
        self.shared.work.notify_one();
        Ok(())
    }

    /// Takes no more frames; the drain task writes what is queued, flushes,
    /// and ends.
    pub fn close(&self) {
        self.lock().closing = true;
        self.shared.work.notify_one();
    }

    fn lock(&self) -> MutexGuard<'_, State<W>> {
        // Every critical section leaves the state consistent.
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    async fn drain(self) {
        loop {
            self.shared.work.notified().await;
            loop {
                match self.next_step() {
                    Step::Wait => break,
                    Step::End => return,
                    Step::Finish(mut writer) => {
                        let _ = writer.flush().await;
                        return;
                    }
                    Step::Write(mut writer, frame) => {
                        let written = writer.write_all(&frame).await;
                        let mut state = self.lock();
                        state.writer = Some(writer);
                        if let Err(err) = written {
                            tracing::debug!("writing a frame failed: {err}");
                            state.broken = true;
                            return;
                        }
                    }
                }
            }
        }
    }

    /// What the drain task does next, decided under the lock.
    fn next_step(&self) -> Step<W> {
        let mut state = self.lock();
        if state.broken {
            return Step::End;
        }
        let Some(frame) = state.queue.pop_front() else {
            if !state.closing {
                return Step::Wait;
            }
            return state.writer.take().map_or(Step::End, Step::Finish);
        };
        // Only the drain task takes the writer, and it puts it back.
        match state.writer.take() {
            Some(writer) => Step::Write(writer, frame),
            None => Step::End,
        }
    }
}

enum Step<W> {
    /// Nothing queued: wait for more.
    Wait,
    /// Write this frame, with the writer taken out meanwhile.
    Write(W, Bytes),
    /// Closing and everything is written: flush, and end.
    Finish(W),
    End,
}

/// Writes as much of `bytes` as the pipe takes without waiting.
fn write_now<W: AsyncWrite + Unpin>(writer: &mut W, bytes: &[u8]) -> std::io::Result<usize> {
    let mut context = Context::from_waker(Waker::noop());
    let mut written = 0;
    while written < bytes.len() {
        match Pin::new(&mut *writer).poll_write(&mut context, &bytes[written..]) {
            Poll::Ready(Ok(0)) => return Err(std::io::ErrorKind::WriteZero.into()),
            Poll::Ready(Ok(n)) => written += n,
            Poll::Ready(Err(err)) => return Err(err),
            Poll::Pending => break,
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::AsyncReadExt as _;

    fn frame(body: &str) -> String {
        format!("Content-Length: {}\r\n\r\n{body}", body.len())
    }

    #[tokio::test]
    async fn frames_arrive_whole_and_in_order_even_when_the_pipe_is_full() {
        // A pipe far smaller than what is sent, read only after everything
        // was sent: most frames are queued, some written in part.
        let (writer, mut reader) = tokio::io::duplex(1000);
        let (outbox, drain) = Outbox::new(writer);
        let drain = tokio::spawn(drain);
        let bodies: Vec<String> = (0..200)
            .map(|i| format!("{i}:{}", "x".repeat(i * 7)))
            .collect();
        for body in &bodies {
            outbox.send(body.as_bytes()).unwrap();
        }
        outbox.close();
        assert_eq!(outbox.send(b"late"), Err(Closed));
        let mut received = String::new();
        reader.read_to_string(&mut received).await.unwrap();
        drain.await.unwrap();
        let expected: String = bodies.iter().map(|body| frame(body)).collect();
        assert_eq!(received, expected);
    }

    #[tokio::test]
    async fn a_closed_pipe_refuses_frames_and_ends_the_drain() {
        let (writer, reader) = tokio::io::duplex(64);
        drop(reader);
        let (outbox, drain) = Outbox::new(writer);
        let drain = tokio::spawn(drain);
        assert_eq!(outbox.send(b"{}"), Err(Closed));
        drain.await.unwrap();
        assert_eq!(outbox.send(b"{}"), Err(Closed));
    }
}
