//! The connection layer in front of hyper: request heads as identity providers really send them.
//!
//! hyper (through the `http` crate's URI parser) refuses some bytes that real clients put raw
//! into a request target — Entra's filters carry raw `"` — and answers an empty 400 before any
//! of our code runs. This layer rewrites each request line to RFC 3986 form first: every byte
//! that may not stand raw in a path or query is percent-encoded, so the router decodes it
//! exactly as it decodes the percent-encoded twin. A head that is truly malformed (a control
//! character or a space inside the target, a request line or head over the limit, too many
//! header fields, a broken or conflicting framing header) is replaced by a request for
//! [`REJECTED_PATH`], whose handler answers the SCIM error; the connection closes after it.
//!
//! To find every request line of a keep-alive connection the layer follows the framing of each
//! message (RFC 9112 §6.3: `Content-Length` or chunked); bodies pass through untouched. After
//! framing it cannot follow (a broken chunked body, CONNECT) it passes everything through and
//! leaves the connection to hyper, which closes it.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Where a rejected head is sent instead, followed by the rejection's [`Rejection::slug`].
pub const REJECTED_PATH: &str = "/_seatflow/rejected-request";

/// hyper's own limit on header fields, kept: more is refused (431).
pub const MAX_HEADERS: usize = 100;

const READ_CHUNK: usize = 8 * 1024;

/// Why a request head was refused before it reached the router.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    SpaceInTarget,
    ControlCharacter,
    MalformedRequestLine,
    RequestLineTooLong,
    HeadTooLarge,
    TooManyHeaders,
    MalformedHeader,
    InvalidFraming,
}

impl Rejection {
    const ALL: [Rejection; 8] = [
        Rejection::SpaceInTarget,
        Rejection::ControlCharacter,
        Rejection::MalformedRequestLine,
        Rejection::RequestLineTooLong,
        Rejection::HeadTooLarge,
        Rejection::TooManyHeaders,
        Rejection::MalformedHeader,
        Rejection::InvalidFraming,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Rejection::SpaceInTarget => "space-in-target",
            Rejection::ControlCharacter => "control-character",
            Rejection::MalformedRequestLine => "malformed-request-line",
            Rejection::RequestLineTooLong => "request-line-too-long",
            Rejection::HeadTooLarge => "head-too-large",
            Rejection::TooManyHeaders => "too-many-headers",
            Rejection::MalformedHeader => "malformed-header",
            Rejection::InvalidFraming => "invalid-framing",
        }
    }

    pub fn from_slug(slug: &str) -> Option<Rejection> {
        Rejection::ALL.into_iter().find(|r| r.slug() == slug)
    }

    /// The HTTP status it is answered with.
    pub fn status(self) -> u16 {
        match self {
            Rejection::RequestLineTooLong => 414,
            Rejection::HeadTooLarge | Rejection::TooManyHeaders => 431,
            _ => 400,
        }
    }

    pub fn detail(self, max_head_bytes: usize) -> String {
        match self {
            Rejection::SpaceInTarget => {
                "the request target contains a space; encode it as %20 or +".into()
            }
            Rejection::ControlCharacter => "the request line contains a control character".into(),
            Rejection::MalformedRequestLine => {
                "the request line is not `METHOD target HTTP/1.1`".into()
            }
            Rejection::RequestLineTooLong => {
                format!("the request line is longer than the limit of {max_head_bytes} bytes")
            }
            Rejection::HeadTooLarge => format!(
                "the request line and headers are larger than the limit of {max_head_bytes} bytes"
            ),
            Rejection::TooManyHeaders => {
                format!("the request has more than {MAX_HEADERS} header fields")
            }
            Rejection::MalformedHeader => "a header field of the request is malformed".into(),
            Rejection::InvalidFraming => "the request's Content-Length or Transfer-Encoding \
                 is invalid or conflicting"
                .into(),
        }
    }
}

/// Where the inbound byte stream stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Collecting a request head.
    Head,
    /// This many body bytes still to pass on.
    Body(u64),
    Chunked(Chunk),
    /// Framing this layer does not follow: everything goes through as it is.
    Passthrough,
    /// A rejection was handed on: what the peer sends after it is read and dropped, so hyper
    /// answers the rejection and closes (an end of stream now would make it drop the answer).
    Draining,
}

impl State {
    /// Where a body with `left` bytes to go stands once `n` more of them passed: still in it,
    /// or at the next head.
    fn body_after(left: u64, n: usize) -> State {
        match left - n as u64 {
            0 => State::Head,
            left => State::Body(left),
        }
    }
}

/// Position inside a chunked body (RFC 9112 §7.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Chunk {
    /// In a chunk-size line: the size so far, whether a digit was seen, whether the extension
    /// (anything after the digits) started.
    Size {
        size: u64,
        digits: bool,
        ext: bool,
    },
    Data(u64),
    /// After a chunk's data: the CRLF (a bare LF is tolerated).
    DataEnd {
        cr: bool,
    },
    /// In the trailer section: the length of the current line.
    Trailer {
        line: usize,
    },
}

/// A connection whose request heads are normalised before hyper reads them.
pub struct NormalizedIo<T> {
    inner: T,
    max_head_bytes: usize,
    state: State,
    /// Bytes read from the connection, not handed on yet.
    input: BytesMut,
    /// In `Head`: how far `input` has been searched for the end of the head.
    scanned: usize,
    /// Bytes ready for the reader, in order.
    ready: BytesMut,
}

impl<T> NormalizedIo<T> {
    /// `max_head_bytes` bounds the request line and the whole head as received.
    pub fn new(inner: T, max_head_bytes: usize) -> Self {
        NormalizedIo {
            inner,
            max_head_bytes,
            state: State::Head,
            input: BytesMut::new(),
            scanned: 0,
            ready: BytesMut::new(),
        }
    }

    /// Moves what can be decided from `input` to `ready`.
    fn process(&mut self) {
        while !self.input.is_empty() {
            match self.state {
                State::Head => {
                    if !self.process_head() {
                        return;
                    }
                }
                State::Body(left) => {
                    let n = usize::try_from(left)
                        .unwrap_or(usize::MAX)
                        .min(self.input.len());
                    self.forward(n);
                    self.state = State::body_after(left, n);
                }
                State::Chunked(chunk) => self.process_chunked(chunk),
                State::Passthrough => {
                    let n = self.input.len();
                    self.forward(n);
                }
                State::Draining => {
                    self.input.clear();
                    return;
                }
            }
        }
    }

    fn forward(&mut self, n: usize) {
        self.ready.extend_from_slice(&self.input[..n]);
        self.input.advance(n);
    }

    /// Handles a request head once it is complete; false when more bytes are needed.
    fn process_head(&mut self) -> bool {
        // RFC 9112 §2.2: empty lines before a request line are ignored.
        while let Some(skip) = leading_empty_line(&self.input) {
            self.input.advance(skip);
            self.scanned = 0;
        }
        if self.input.is_empty() {
            self.scanned = 0;
            return false;
        }
        let Some(end) = head_end(&self.input, &mut self.scanned) else {
            if self.input.len() > self.max_head_bytes {
                self.reject(self.too_large());
                return true;
            }
            return false;
        };
        self.scanned = 0;
        if end > self.max_head_bytes {
            self.reject(self.too_large());
            return true;
        }
        let head = self.input.split_to(end);
        match normalize_head(&head) {
            Ok((normalized, next)) => {
                self.ready.extend_from_slice(&normalized);
                self.state = next;
            }
            Err(rejection) => self.reject(rejection),
        }
        true
    }

    /// Which limit a head over `max_head_bytes` broke: its request line's, or the whole head's.
    fn too_large(&self) -> Rejection {
        match memchr::memchr(b'\n', &self.input) {
            Some(lf) if lf <= self.max_head_bytes => Rejection::HeadTooLarge,
            _ => Rejection::RequestLineTooLong,
        }
    }

    fn process_chunked(&mut self, mut chunk: Chunk) {
        let mut i = 0;
        let bytes = &self.input[..];
        let next = loop {
            if let Chunk::Data(left) = chunk {
                let n = usize::try_from(left)
                    .unwrap_or(usize::MAX)
                    .min(bytes.len() - i);
                i += n;
                let left = left - n as u64;
                chunk = if left == 0 {
                    Chunk::DataEnd { cr: false }
                } else {
                    Chunk::Data(left)
                };
                if i == bytes.len() {
                    break State::Chunked(chunk);
                }
                continue;
            }
            let Some(&b) = bytes.get(i) else {
                break State::Chunked(chunk);
            };
            i += 1;
            match step_chunked(chunk, b) {
                Ok(Some(c)) => chunk = c,
                // The body ended: the next byte starts a request head.
                Ok(None) => break State::Head,
                Err(()) => break State::Passthrough,
            }
        };
        self.forward(i);
        self.state = next;
    }

    /// Hands on a request for the rejection's route instead of the head, and nothing after it:
    /// hyper answers it and closes the connection (the request says `Connection: close`).
    fn reject(&mut self, rejection: Rejection) {
        self.input.clear();
        self.ready.extend_from_slice(
            format!(
                "GET {REJECTED_PATH}/{} HTTP/1.1\r\nHost: seatflow\r\nConnection: close\r\n\r\n",
                rejection.slug()
            )
            .as_bytes(),
        );
        self.state = State::Draining;
    }
}

/// One byte of chunked framing: the next position, `None` at the body's end, `Err` when the
/// framing is broken.
fn step_chunked(chunk: Chunk, b: u8) -> Result<Option<Chunk>, ()> {
    Ok(Some(match chunk {
        Chunk::Size { size, digits, ext } => match b {
            b'\n' if !digits => return Err(()),
            b'\n' if size == 0 => Chunk::Trailer { line: 0 },
            b'\n' => Chunk::Data(size),
            _ if !ext && b.is_ascii_hexdigit() => {
                let digit = u64::from((b as char).to_digit(16).ok_or(())?);
                let size = size.checked_mul(16).and_then(|s| s.checked_add(digit));
                Chunk::Size {
                    size: size.ok_or(())?,
                    digits: true,
                    ext,
                }
            }
            // Extensions, whitespace and the CR before LF: hyper validates them.
            _ if digits => Chunk::Size {
                size,
                digits,
                ext: true,
            },
            _ => return Err(()),
        },
        Chunk::DataEnd { cr } => match b {
            b'\r' if !cr => Chunk::DataEnd { cr: true },
            b'\n' => Chunk::Size {
                size: 0,
                digits: false,
                ext: false,
            },
            _ => return Err(()),
        },
        Chunk::Trailer { line } => match b {
            b'\n' if line == 0 => return Ok(None),
            b'\n' => Chunk::Trailer { line: 0 },
            b'\r' => Chunk::Trailer { line },
            _ => Chunk::Trailer { line: line + 1 },
        },
        Chunk::Data(_) => unreachable!("data is skipped in bulk"),
    }))
}

/// The length of an empty line at the start of `bytes` (CRLF or LF), if there is one.
fn leading_empty_line(bytes: &[u8]) -> Option<usize> {
    match bytes {
        [b'\n', ..] => Some(1),
        [b'\r', b'\n', ..] => Some(2),
        _ => None,
    }
}

/// The end of the head (after its blank line: `\n\n` or `\n\r\n`), searching from `*scanned`
/// and remembering how far it got, so a head that trickles in is not searched again.
fn head_end(bytes: &[u8], scanned: &mut usize) -> Option<usize> {
    let mut from = *scanned;
    while let Some(at) = memchr::memchr(b'\n', &bytes[from..]) {
        let lf = from + at;
        match &bytes[lf + 1..] {
            [b'\n', ..] => return Some(lf + 2),
            [b'\r', b'\n', ..] => return Some(lf + 3),
            // Not known yet whether this LF ends the head: look at it again next time.
            [] | [b'\r'] => {
                *scanned = lf;
                return None;
            }
            _ => from = lf + 1,
        }
    }
    *scanned = bytes.len();
    None
}

/// The head with its request line normalised, and how the message's body is framed.
fn normalize_head(head: &[u8]) -> Result<(Vec<u8>, State), Rejection> {
    let line_end = memchr::memchr(b'\n', head).ok_or(Rejection::MalformedRequestLine)?;
    let line = head[..line_end]
        .strip_suffix(b"\r")
        .unwrap_or(&head[..line_end]);
    let RequestLine {
        method,
        target,
        version,
    } = split_request_line(line)?;
    let mut normalized = Vec::with_capacity(head.len() + 16);
    normalized.extend_from_slice(method);
    normalized.push(b' ');
    encode_target(target, &mut normalized);
    normalized.push(b' ');
    normalized.extend_from_slice(version);
    normalized.extend_from_slice(b"\r\n");
    normalized.extend_from_slice(&head[line_end + 1..]);

    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut request = httparse::Request::new(&mut fields);
    match request.parse(&normalized) {
        Ok(httparse::Status::Complete(n)) if n == normalized.len() => {}
        Err(httparse::Error::TooManyHeaders) => return Err(Rejection::TooManyHeaders),
        _ => return Err(Rejection::MalformedHeader),
    }
    let http11 = version == b"HTTP/1.1";
    let next = framing(method, http11, request.headers)?;
    Ok((normalized, next))
}

/// A request line's three parts.
struct RequestLine<'a> {
    method: &'a [u8],
    target: &'a [u8],
    version: &'a [u8],
}

/// `METHOD SP target SP HTTP/1.x`, each part checked.
fn split_request_line(line: &[u8]) -> Result<RequestLine<'_>, Rejection> {
    if line.iter().any(|&b| b < 0x20 || b == 0x7f) {
        return Err(Rejection::ControlCharacter);
    }
    let first = memchr::memchr(b' ', line).ok_or(Rejection::MalformedRequestLine)?;
    let last = memchr::memrchr(b' ', line).ok_or(Rejection::MalformedRequestLine)?;
    let (method, version) = (&line[..first], &line[last + 1..]);
    let version_ok = matches!(version, b"HTTP/1.1" | b"HTTP/1.0");
    if first == last || method.is_empty() || !method.iter().all(|&b| is_tchar(b)) || !version_ok {
        return Err(Rejection::MalformedRequestLine);
    }
    let target = &line[first + 1..last];
    if target.contains(&b' ') {
        return Err(Rejection::SpaceInTarget);
    }
    if target.is_empty() {
        return Err(Rejection::MalformedRequestLine);
    }
    Ok(RequestLine {
        method,
        target,
        version,
    })
}

/// How the body of a request with these headers is framed (RFC 9112 §6.3, as hyper reads
/// it), or why the framing is refused. A request with both `Transfer-Encoding` and
/// `Content-Length` is refused (§6.1 allows it): it is how requests are smuggled.
fn framing(
    method: &[u8],
    http11: bool,
    headers: &[httparse::Header<'_>],
) -> Result<State, Rejection> {
    let mut length: Option<u64> = None;
    let mut chunked = None;
    for header in headers {
        if header.name.eq_ignore_ascii_case("content-length") {
            let value = std::str::from_utf8(header.value)
                .ok()
                .map(str::trim)
                .filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()))
                .and_then(|v| v.parse::<u64>().ok())
                .ok_or(Rejection::InvalidFraming)?;
            if length.is_some_and(|l| l != value) {
                return Err(Rejection::InvalidFraming);
            }
            length = Some(value);
        } else if header.name.eq_ignore_ascii_case("transfer-encoding") {
            let last = header.value.rsplit(|&b| b == b',').next().unwrap_or(&[]);
            chunked = Some(last.trim_ascii().eq_ignore_ascii_case(b"chunked"));
        }
    }
    Ok(match (chunked, length) {
        (Some(_), Some(_)) | (Some(false), None) => return Err(Rejection::InvalidFraming),
        (Some(true), None) if !http11 => return Err(Rejection::InvalidFraming),
        // CONNECT turns the connection into a tunnel, which hyper refuses for us.
        _ if method == b"CONNECT" => State::Passthrough,
        (Some(true), None) => State::Chunked(Chunk::Size {
            size: 0,
            digits: false,
            ext: false,
        }),
        (None, Some(n)) if n > 0 => State::Body(n),
        (None, _) => State::Head,
    })
}

/// RFC 9110 §5.6.2 token characters (methods).
fn is_tchar(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b)
}

/// Whether `b` may stand raw in a request target: RFC 3986 unreserved, sub-delims and
/// `: @ / ?`, plus `%` (a client's own escapes are kept as they are).
fn may_stand_raw(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@/?%".contains(&b)
}

/// Appends `target` with every byte that may not stand raw percent-encoded.
fn encode_target(target: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in target {
        if may_stand_raw(b) {
            out.push(b);
        } else {
            out.extend_from_slice(&[b'%', HEX[usize::from(b >> 4)], HEX[usize::from(b & 15)]]);
        }
    }
}

impl<T: AsyncRead + Unpin> NormalizedIo<T> {
    /// Reads more of the connection onto `input`: how many bytes, 0 at its end.
    fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        self.input.reserve(READ_CHUNK);
        tokio_util::io::poll_read_buf(Pin::new(&mut self.inner), cx, &mut self.input)
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for NormalizedIo<T> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        loop {
            if !this.ready.is_empty() {
                let n = this.ready.len().min(buf.remaining());
                buf.put_slice(&this.ready[..n]);
                this.ready.advance(n);
                return Poll::Ready(Ok(()));
            }
            if !this.input.is_empty() {
                this.process();
                if !this.ready.is_empty() {
                    continue;
                }
            }
            match this.state {
                State::Draining => {
                    this.input.clear();
                    if ready!(this.poll_fill(cx))? == 0 {
                        return Poll::Ready(Ok(()));
                    }
                    continue;
                }
                State::Passthrough => return Pin::new(&mut this.inner).poll_read(cx, buf),
                // A body straight into the reader's buffer, never past its end.
                State::Body(left) => {
                    let limit = usize::try_from(left).unwrap_or(usize::MAX);
                    let dst = buf.initialize_unfilled_to(limit.min(buf.remaining()));
                    let mut direct = ReadBuf::new(dst);
                    ready!(Pin::new(&mut this.inner).poll_read(cx, &mut direct))?;
                    let n = direct.filled().len();
                    buf.advance(n);
                    this.state = State::body_after(left, n);
                    return Poll::Ready(Ok(()));
                }
                State::Head | State::Chunked(_) => {}
            }
            if ready!(this.poll_fill(cx))? == 0 {
                // The peer is done; an unfinished head or chunk framing is hyper's to report.
                let rest = this.input.split();
                this.ready.extend_from_slice(&rest);
                this.state = State::Draining;
                if this.ready.is_empty() {
                    return Poll::Ready(Ok(()));
                }
            }
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for NormalizedIo<T> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use tokio::io::AsyncReadExt;

    /// A connection that delivers its bytes at most `step` at a time.
    struct Trickle {
        bytes: Vec<u8>,
        at: usize,
        step: usize,
    }

    impl AsyncRead for Trickle {
        fn poll_read(
            self: Pin<&mut Self>,
            _: &mut Context<'_>,
            buf: &mut ReadBuf<'_>,
        ) -> Poll<io::Result<()>> {
            let this = self.get_mut();
            let n = this
                .step
                .min(buf.remaining())
                .min(this.bytes.len() - this.at);
            buf.put_slice(&this.bytes[this.at..this.at + n]);
            this.at += n;
            Poll::Ready(Ok(()))
        }
    }

    fn normalized(bytes: &[u8], step: usize, max_head: usize) -> Vec<u8> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(async {
            let trickle = Trickle {
                bytes: bytes.to_vec(),
                at: 0,
                step,
            };
            let mut io = NormalizedIo::new(trickle, max_head);
            let mut out = Vec::new();
            io.read_to_end(&mut out).await.unwrap();
            out
        })
    }

    fn rejected(slug: &str) -> Vec<u8> {
        format!(
            "GET {REJECTED_PATH}/{slug} HTTP/1.1\r\nHost: seatflow\r\nConnection: close\r\n\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn raw_quotes_and_friends_are_percent_encoded() {
        let raw = b"GET /scim/v2/Users?filter=userName+eq+\"a%40b.c\"&x={|}\\^`<>#[] HTTP/1.1\r\nHost: h\r\n\r\n";
        let want = b"GET /scim/v2/Users?filter=userName+eq+%22a%40b.c%22&x=%7B%7C%7D%5C%5E%60%3C%3E%23%5B%5D HTTP/1.1\r\nHost: h\r\n\r\n";
        for step in [1, 2, 7, 4096] {
            assert_eq!(normalized(raw, step, 8192), want.to_vec(), "step {step}");
        }
    }

    #[test]
    fn non_ascii_in_the_target_is_encoded_and_the_rest_kept() {
        let raw = "PATCH /Users/caf\u{e9} HTTP/1.1\r\nX-Name: caf\u{e9}\r\n\r\n";
        let want = "PATCH /Users/caf%C3%A9 HTTP/1.1\r\nX-Name: caf\u{e9}\r\n\r\n";
        assert_eq!(normalized(raw.as_bytes(), 3, 8192), want.as_bytes());
    }

    #[test]
    fn bodies_pass_untouched_and_the_next_head_is_found() {
        let body = "{\"a\":\"GET /x?\\\"y\\\" HTTP/1.1\"}";
        let raw = format!(
            "POST /a?q=\"1\" HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /b?q=\"2\" HTTP/1.1\r\n\r\n",
            body.len()
        );
        let want = format!(
            "POST /a?q=%221%22 HTTP/1.1\r\nContent-Length: {}\r\n\r\n{body}GET /b?q=%222%22 HTTP/1.1\r\n\r\n",
            body.len()
        );
        for step in [1, 5, 64, 4096] {
            assert_eq!(normalized(raw.as_bytes(), step, 8192), want.as_bytes());
        }
    }

    #[test]
    fn chunked_bodies_are_followed_with_extensions_and_trailers() {
        let raw = "POST /a HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n\
                   4;ext=\"v\"\r\n\"\"\"\"\r\n1\nx\n0\r\nTrailer: \"t\"\r\n\r\n\
                   GET /b?\"ok\" HTTP/1.1\r\n\r\n";
        let want = raw.replace("/b?\"ok\"", "/b?%22ok%22");
        for step in [1, 3, 4096] {
            assert_eq!(normalized(raw.as_bytes(), step, 8192), want.as_bytes());
        }
    }

    #[test]
    fn leading_empty_lines_are_dropped() {
        let raw = b"\r\n\nGET /\"x\" HTTP/1.1\r\n\r\n";
        assert_eq!(normalized(raw, 1, 8192), b"GET /%22x%22 HTTP/1.1\r\n\r\n");
    }

    #[test]
    fn malformed_heads_become_the_rejection_route_and_nothing_follows() {
        let cases: [(&[u8], &str); 10] = [
            (b"GET /a b HTTP/1.1\r\n\r\n", "space-in-target"),
            (b"GET /a\x01b HTTP/1.1\r\n\r\n", "control-character"),
            (b"GET /a\tb HTTP/1.1\r\n\r\n", "control-character"),
            (b"GET /a\r\n\r\n", "malformed-request-line"),
            (b"GET /a HTTP/2.0\r\n\r\n", "malformed-request-line"),
            (b"G(T /a HTTP/1.1\r\n\r\n", "malformed-request-line"),
            (b"GET /a HTTP/1.1\r\nBad Header\r\n\r\n", "malformed-header"),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
                "invalid-framing",
            ),
            (
                b"POST /a HTTP/1.1\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
                "invalid-framing",
            ),
            (
                b"POST /a HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n",
                "invalid-framing",
            ),
        ];
        for (raw, slug) in cases {
            let mut stream = raw.to_vec();
            stream.extend_from_slice(b"GET /after HTTP/1.1\r\n\r\n");
            assert_eq!(
                normalized(&stream, 4, 8192),
                rejected(slug),
                "{}",
                String::from_utf8_lossy(raw)
            );
        }
    }

    #[test]
    fn limits_apply_to_the_line_and_the_head_as_received() {
        let line = format!("GET /{} HTTP/1.1\r\n", "a".repeat(200));
        assert_eq!(
            normalized(line.as_bytes(), 16, 100),
            rejected("request-line-too-long")
        );
        let head = format!("GET / HTTP/1.1\r\nX: {}\r\n\r\n", "b".repeat(200));
        assert_eq!(
            normalized(head.as_bytes(), 16, 100),
            rejected("head-too-large")
        );
        assert_eq!(
            normalized(head.as_bytes(), 4096, 100),
            rejected("head-too-large")
        );
        let exact = "GET / HTTP/1.1\r\n\r\n";
        assert_eq!(
            normalized(exact.as_bytes(), 1, exact.len()),
            exact.as_bytes()
        );
        let many: String = (0..=MAX_HEADERS).map(|i| format!("H{i}: v\r\n")).collect();
        let raw = format!("GET / HTTP/1.1\r\n{many}\r\n");
        assert_eq!(
            normalized(raw.as_bytes(), 4096, 1 << 20),
            rejected("too-many-headers")
        );
    }

    #[test]
    fn broken_chunked_framing_is_left_to_hyper() {
        let raw = b"POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET /\"b\" HTTP/1.1\r\n\r\n";
        assert_eq!(normalized(raw, 4096, 8192), raw.to_vec());
    }

    #[test]
    fn an_unfinished_head_at_the_end_is_handed_on_as_is() {
        let raw = b"GET /\"a\" HTTP/1.1\r\nHost:";
        assert_eq!(normalized(raw, 3, 8192), raw.to_vec());
    }

    #[test]
    fn slugs_round_trip() {
        for r in Rejection::ALL {
            assert_eq!(Rejection::from_slug(r.slug()), Some(r));
        }
    }

    /// One request: the bytes sent and the bytes hyper must see.
    fn request() -> impl Strategy<Value = (Vec<u8>, Vec<u8>)> {
        let target = proptest::collection::vec(
            prop_oneof![
                Just(b'"'),
                Just(b'{'),
                Just(b'%'),
                Just(b'+'),
                Just(b'?'),
                Just(b'/'),
                Just(0xc3),
                b'a'..=b'z',
            ],
            1..20,
        );
        let body = proptest::collection::vec(
            prop_oneof![
                Just(b'\r'),
                Just(b'\n'),
                Just(b'"'),
                Just(b' '),
                b'0'..=b'9',
                b'A'..=b'Z'
            ],
            0..60,
        );
        let chunks = proptest::collection::vec(1usize..7, 0..5);
        (target, body, any::<bool>(), chunks).prop_map(|(target, body, chunked, cuts)| {
            let mut raw = b"POST /".to_vec();
            raw.extend_from_slice(&target);
            raw.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n");
            let mut want = b"POST /".to_vec();
            encode_target(&target, &mut want);
            want.extend_from_slice(b" HTTP/1.1\r\nHost: h\r\n");
            let mut framed = Vec::new();
            if chunked {
                framed.extend_from_slice(b"Transfer-Encoding: chunked\r\n\r\n");
                let mut rest = &body[..];
                for cut in cuts {
                    let (chunk, tail) = rest.split_at(cut.min(rest.len()));
                    if chunk.is_empty() {
                        break;
                    }
                    framed.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
                    framed.extend_from_slice(chunk);
                    framed.extend_from_slice(b"\r\n");
                    rest = tail;
                }
                if !rest.is_empty() {
                    framed.extend_from_slice(format!("{:X}\r\n", rest.len()).as_bytes());
                    framed.extend_from_slice(rest);
                    framed.extend_from_slice(b"\r\n");
                }
                framed.extend_from_slice(b"0\r\n\r\n");
            } else {
                framed.extend_from_slice(
                    format!("Content-Length: {}\r\n\r\n", body.len()).as_bytes(),
                );
                framed.extend_from_slice(&body);
            }
            raw.extend_from_slice(&framed);
            want.extend_from_slice(&framed);
            (raw, want)
        })
    }

    proptest! {
        /// Any sequence of requests on one connection, cut anywhere: every head is normalised
        /// and every body reaches hyper byte for byte.
        #[test]
        fn keep_alive_streams_are_framed_exactly(
            requests in proptest::collection::vec(request(), 1..6),
            step in 1usize..40,
        ) {
            let raw: Vec<u8> = requests.iter().flat_map(|(r, _)| r.clone()).collect();
            let want: Vec<u8> = requests.iter().flat_map(|(_, w)| w.clone()).collect();
            prop_assert_eq!(normalized(&raw, step, 8192), want);
        }
    }
}
