//! Accepting connections, hardened: TCP_NODELAY on every socket (as tonic's
//! own listener would set it: without it, Nagle's algorithm holds each small
//! write, a token delta or the trailers of a deadline, until the previous one
//! is acknowledged, which a client's delayed ACK can put off by 40 ms), a pause
//! (never a spin) when the process runs out of descriptors or memory, and a
//! deadline for a new connection's handshake (TLS, then the HTTP/2 preface
//! or an HTTP/1.1 request line), so idle sockets cannot hold descriptors
//! forever.

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

/// The HTTP/2 client connection preface.
const PREFACE: &[u8; 24] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

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
/// A connection that has not finished its handshake (TLS, when `tls`, then
/// the HTTP/2 preface or an HTTP/1.1 request line) within
/// `handshake_timeout` is closed.
pub(super) fn incoming(
    listener: TcpListener,
    handshake_timeout: Duration,
    tls: bool,
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
                    return Some((
                        Ok(Handshaking::new(stream, Some(handshake_timeout), tls)),
                        st,
                    ));
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

/// A new connection that must finish its handshake before its deadline:
/// until it has, a read that would wait past the deadline fails with
/// `TimedOut` instead, and hyper closes the connection. After that it is the
/// plain socket.
///
/// In plaintext the handshake is the 24-byte HTTP/2 preface or, for
/// HTTP/1.1 callers (gRPC-Web, Connect, the JSON routes), a whole request
/// line: the first byte that differs from the preface makes the connection
/// HTTP/1.1, and its first line feed ends the handshake (the line is what
/// this layer can check without parsing HTTP; hyper's own 30 s header-read
/// timeout, which tonic arms, bounds the rest of each request's headers).
/// With TLS the
/// preface is encrypted, so the client's TLS records are counted instead:
/// a client that has sent two application-data records has sent its
/// preface. (TLS 1.3: Finished, then the preface and SETTINGS, then the
/// SETTINGS ACK; TLS 1.2: the preface and SETTINGS, then the ACK. A client
/// that stops after the TLS handshake has sent at most one.)
#[derive(Debug)]
pub(super) struct Handshaking {
    stream: TcpStream,
    deadline: Option<Pin<Box<tokio::time::Sleep>>>,
    expect: Expect,
}

/// What the handshake still needs from the client.
#[derive(Debug)]
enum Expect {
    /// Plaintext: this many bytes of the HTTP/2 preface seen so far, all
    /// matching it.
    Preface(usize),
    /// Plaintext HTTP/1.1: the request line's end (a line feed) is awaited.
    RequestLine,
    /// TLS: this many more application-data records, and where the reader
    /// is in the record framing.
    TlsRecords {
        app_records: u8,
        header: [u8; 5],
        header_len: usize,
        body_left: usize,
    },
}

/// TLS's record content type for application data (and, in TLS 1.3, for
/// every encrypted record).
const TLS_APPLICATION_DATA: u8 = 23;

impl Expect {
    fn new(tls: bool) -> Self {
        if tls {
            Expect::TlsRecords {
                app_records: 2,
                header: [0; 5],
                header_len: 0,
                body_left: 0,
            }
        } else {
            Expect::Preface(0)
        }
    }

    /// Takes note of bytes the client sent; true once the handshake is done.
    fn saw(&mut self, mut bytes: &[u8]) -> bool {
        match self {
            Expect::Preface(seen) => {
                for (i, &b) in bytes.iter().enumerate() {
                    if b != PREFACE[*seen] {
                        // Not HTTP/2: the rest of these bytes may already
                        // hold the request line's end.
                        *self = Expect::RequestLine;
                        return self.saw(&bytes[i..]);
                    }
                    *seen += 1;
                    if *seen == PREFACE.len() {
                        return true;
                    }
                }
                false
            }
            Expect::RequestLine => bytes.contains(&b'\n'),
            Expect::TlsRecords {
                app_records,
                header,
                header_len,
                body_left,
            } => {
                while !bytes.is_empty() && *app_records > 0 {
                    if *body_left > 0 {
                        let skip = (*body_left).min(bytes.len());
                        *body_left -= skip;
                        bytes = &bytes[skip..];
                        continue;
                    }
                    header[*header_len] = bytes[0];
                    *header_len += 1;
                    bytes = &bytes[1..];
                    if *header_len == header.len() {
                        *header_len = 0;
                        *body_left = usize::from(u16::from_be_bytes([header[3], header[4]]));
                        if header[0] == TLS_APPLICATION_DATA {
                            *app_records -= 1;
                        }
                    }
                }
                *app_records == 0
            }
        }
    }
}

impl Handshaking {
    fn new(stream: TcpStream, deadline: Option<Duration>, tls: bool) -> Self {
        Handshaking {
            stream,
            deadline: deadline.map(|d| Box::pin(tokio::time::sleep(d))),
            expect: Expect::new(tls),
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
                if this.deadline.is_some() && this.expect.saw(&buf.filled()[before..]) {
                    this.deadline = None;
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
                        "no HTTP/2 connection preface or HTTP/1.1 request line within --handshake-timeout",
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plaintext_handshake_is_the_24_byte_preface_in_any_pieces() {
        let mut e = Expect::new(false);
        assert!(!e.saw(b"PRI * HTTP/2.0\r\n"));
        assert!(!e.saw(b"\r\nSM\r"));
        assert!(e.saw(b"\n\r\n and then frames"));
    }

    #[test]
    fn an_http1_request_line_also_finishes_the_plaintext_handshake() {
        let mut e = Expect::new(false);
        assert!(!e.saw(b"POST /v1/gen"));
        assert!(!e.saw(b"erate HTTP/1.1\r"));
        assert!(e.saw(b"\nhost: x\r\n"));
        // A line that starts like the preface, then is not.
        let mut e = Expect::new(false);
        assert!(!e.saw(b"PRI * HTTP/1"));
        assert!(e.saw(b".1\r\n"));
        // Bytes that are neither hold the deadline until a line ends.
        let mut e = Expect::new(false);
        assert!(!e.saw(b"\x16\x03\x01 junk without a line end"));
        // The preface's own line feeds do not end it early.
        let mut e = Expect::new(false);
        assert!(!e.saw(&PREFACE[..23]));
        assert!(e.saw(&PREFACE[23..]));
    }

    fn record(kind: u8, body: &[u8]) -> Vec<u8> {
        let mut r = vec![kind, 3, 3];
        r.extend_from_slice(&(body.len() as u16).to_be_bytes());
        r.extend_from_slice(body);
        r
    }

    #[test]
    fn with_tls_two_application_data_records_finish_the_handshake() {
        // ClientHello, then (TLS 1.3) change-cipher-spec and the encrypted
        // Finished: one application-data record, not yet done.
        let mut flight = record(22, &[1; 300]);
        flight.extend(record(20, &[1]));
        flight.extend(record(TLS_APPLICATION_DATA, &[0x17; 53]));
        let mut e = Expect::new(true);
        // Byte by byte: framing survives any split.
        for b in &flight {
            assert!(!e.saw(std::slice::from_ref(b)));
        }
        // A record body that looks like a record header does not count.
        let lookalike = record(22, &[TLS_APPLICATION_DATA, 3, 3, 0, 0]);
        assert!(!e.saw(&lookalike[..7]));
        assert!(!e.saw(&lookalike[7..]));
        assert!(
            e.saw(&record(TLS_APPLICATION_DATA, &[9; 40])),
            "the preface's record"
        );
    }
}
