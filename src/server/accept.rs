//! Accepting connections, hardened: TCP_NODELAY on every socket (as tonic's
//! own listener would set it: without it, Nagle's algorithm holds each small
//! write, a token delta or the trailers of a deadline, until the previous one
//! is acknowledged, which a client's delayed ACK can put off by 40 ms), a pause
//! (never a spin) when the process runs out of descriptors or memory, and a
//! deadline for a new connection's HTTP/2 preface, so idle sockets cannot
//! hold descriptors forever.

use futures::Stream;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tonic::transport::server::{Connected, TcpConnectInfo};

/// How long the accept loop pauses after an error that retrying at once
/// cannot fix (out of descriptors or memory). Short enough that service
/// resumes promptly when descriptors free up; long enough that a full
/// descriptor table costs about 20 system calls a second, not 50,000.
pub const ACCEPT_PAUSE: Duration = Duration::from_millis(50);

/// The HTTP/2 client connection preface: `PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n`.
const PREFACE_LEN: usize = 24;

/// Whether an accept error means the process (or the system) is out of a
/// resource: retrying at once would spin.
fn resource_exhausted(e: &io::Error) -> bool {
    matches!(
        e.raw_os_error(),
        Some(libc::EMFILE | libc::ENFILE | libc::ENOMEM | libc::ENOBUFS)
    )
}

/// Accepted connections, as tonic's `serve_with_incoming` takes them. Errors
/// are handled here and never yielded: a connection the peer gave up on is
/// skipped, and exhaustion pauses the loop (logged at most once a second).
/// With `preface_deadline`, a plaintext connection that has not sent the
/// HTTP/2 preface within it is closed.
pub(super) fn incoming(
    listener: TcpListener,
    preface_deadline: Option<Duration>,
) -> impl Stream<Item = io::Result<Handshaking>> {
    struct State {
        listener: TcpListener,
        last_warning: Option<Instant>,
        suppressed: u64,
    }
    let state = State {
        listener,
        last_warning: None,
        suppressed: 0,
    };
    futures::stream::unfold(state, move |mut st| async move {
        loop {
            match st.listener.accept().await {
                Ok((stream, _)) => {
                    if let Err(e) = stream.set_nodelay(true) {
                        tracing::debug!(error = %e, "could not set TCP_NODELAY");
                    }
                    return Some((Ok(Handshaking::new(stream, preface_deadline)), st));
                }
                Err(e) if resource_exhausted(&e) => {
                    if st
                        .last_warning
                        .is_none_or(|t| t.elapsed() >= Duration::from_secs(1))
                    {
                        tracing::warn!(
                            error = %e,
                            suppressed = st.suppressed,
                            pause_ms = ACCEPT_PAUSE.as_millis() as u64,
                            "cannot accept connections: out of file descriptors or memory; \
                             pausing (raise the open-file limit, or lower the number of clients)"
                        );
                        st.last_warning = Some(Instant::now());
                        st.suppressed = 0;
                    } else {
                        st.suppressed += 1;
                    }
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
                // The peer went away between SYN and accept, or a signal:
                // nothing to wait for.
                Err(e)
                    if matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                            | io::ErrorKind::Interrupted
                            | io::ErrorKind::WouldBlock
                    ) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; pausing");
                    tokio::time::sleep(ACCEPT_PAUSE).await;
                }
            }
        }
    })
}

/// A new connection that must send the HTTP/2 preface before its deadline:
/// until it has sent 24 bytes, a read that would wait past the deadline
/// fails with `TimedOut` instead, and hyper closes the connection. After
/// that it is the plain socket.
#[derive(Debug)]
pub(super) struct Handshaking {
    stream: TcpStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    preface_left: usize,
}

impl Handshaking {
    fn new(stream: TcpStream, deadline: Option<Duration>) -> Self {
        Handshaking {
            stream,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep(d))),
            preface_left: PREFACE_LEN,
        }
    }
}

impl Connected for Handshaking {
    type ConnectInfo = TcpConnectInfo;

    fn connect_info(&self) -> Self::ConnectInfo {
        self.stream.connect_info()
    }
}

impl AsyncRead for Handshaking {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.stream).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if this.deadline.is_some() {
                    this.preface_left = this
                        .preface_left
                        .saturating_sub(buf.filled().len() - before);
                    if this.preface_left == 0 {
                        this.deadline = None;
                    }
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .deadline
                    .as_mut()
                    .is_some_and(|sleep| sleep.as_mut().poll(cx).is_ready());
                if expired {
                    Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no HTTP/2 connection preface within --handshake-timeout",
                    )))
                } else {
                    Poll::Pending
                }
            }
            other => other,
        }
    }
}

impl AsyncWrite for Handshaking {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.stream).poll_shutdown(cx)
    }
}

/// Raises the soft open-file limit to the hard limit, so a busy gateway is
/// not capped by a low default (often 1024), and logs both.
pub fn raise_open_file_limit() {
    match rlimit::getrlimit(rlimit::Resource::NOFILE) {
        Ok((soft, hard)) => match rlimit::increase_nofile_limit(hard) {
            Ok(now) => tracing::info!(soft_before = soft, soft = now, hard, "open-file limit"),
            Err(e) => tracing::warn!(soft, hard, error = %e, "could not raise the open-file limit"),
        },
        Err(e) => tracing::warn!(error = %e, "could not read the open-file limit"),
    }
}
