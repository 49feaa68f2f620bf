//! Raw HTTP/1.1 over a TCP socket: requests go out byte for byte as given (no client library
//! that could re-encode a request line), answers are read and split as they arrive. This is how
//! the tests send what identity providers really send, and how `seatflow-loadgen` sends its SCIM
//! requests. The `try_*` functions return errors (for the loadgen, which counts and retries
//! them); the others panic (for tests).

use std::io;
use std::sync::Mutex;
use std::time::Duration;

use percent_encoding::{AsciiSet, CONTROLS};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// How long any answer may take before the test fails instead of hanging.
pub const ANSWER_TIMEOUT: Duration = Duration::from_secs(30);

/// One answer, as it came over the wire.
#[derive(Debug, Clone)]
pub struct RawResponse {
    pub status: u16,
    /// Header fields in order, names lower-cased.
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl RawResponse {
    /// The first value of header `name` (any case).
    pub fn header(&self, name: &str) -> Option<&str> {
        let name = name.to_ascii_lowercase();
        self.headers
            .iter()
            .find(|(n, _)| *n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON (`Value::Null` when empty); panics on anything else.
    pub fn json(&self) -> Value {
        if self.body.is_empty() {
            return Value::Null;
        }
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "non-JSON body ({e}): {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }
}

/// A keep-alive connection to a server.
pub struct RawConnection {
    stream: TcpStream,
    /// Received bytes not yet taken by an answer.
    pending: Vec<u8>,
    /// The server ended the connection (an answer delimited by the close, or no answer).
    ended: bool,
}

impl RawConnection {
    /// Connects to `base_url` (`http://127.0.0.1:PORT`).
    pub async fn open(base_url: &str) -> RawConnection {
        RawConnection::try_open(base_url)
            .await
            .unwrap_or_else(|e| panic!("connect to {base_url}: {e}"))
    }

    /// Connects to `base_url` (`http://HOST:PORT`, any path after it ignored); refused, and
    /// not connected within [`ANSWER_TIMEOUT`], are errors.
    pub async fn try_open(base_url: &str) -> io::Result<RawConnection> {
        let rest = base_url.trim_start_matches("http://");
        let address = rest.split('/').next().unwrap_or(rest);
        let stream = tokio::time::timeout(ANSWER_TIMEOUT, TcpStream::connect(address))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect timed out"))??;
        Ok(RawConnection {
            stream,
            pending: Vec::new(),
            ended: false,
        })
    }

    /// Sends `bytes` exactly and reads one answer.
    pub async fn exchange(&mut self, bytes: &[u8]) -> RawResponse {
        self.send(bytes).await;
        self.answer().await
    }

    /// Sends `bytes` exactly and reads one answer; no answer within `timeout`
    /// ([`io::ErrorKind::TimedOut`]), a broken connection or a malformed answer is an error.
    pub async fn try_exchange(
        &mut self,
        bytes: &[u8],
        timeout: Duration,
    ) -> io::Result<RawResponse> {
        tokio::time::timeout(timeout, async {
            self.try_send(bytes).await?;
            self.try_read_answer().await
        })
        .await
        .map_err(|_| no_answer_within(timeout))?
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.try_send(bytes).await.expect("send request");
    }

    pub async fn try_send(&mut self, bytes: &[u8]) -> io::Result<()> {
        self.stream.write_all(bytes).await
    }

    /// Reads the next answer.
    pub async fn answer(&mut self) -> RawResponse {
        self.try_answer(ANSWER_TIMEOUT)
            .await
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// Reads the next answer; see [`RawConnection::try_exchange`] for the errors.
    pub async fn try_answer(&mut self, timeout: Duration) -> io::Result<RawResponse> {
        tokio::time::timeout(timeout, self.try_read_answer())
            .await
            .map_err(|_| no_answer_within(timeout))?
    }

    /// Whether the server closed the connection (after what was already answered).
    pub async fn closed_by_server(&mut self) -> bool {
        let mut rest = Vec::new();
        match tokio::time::timeout(ANSWER_TIMEOUT, self.stream.read_to_end(&mut rest)).await {
            Ok(Ok(_)) => rest.is_empty() && self.pending.is_empty(),
            // A reset after the answer also ends the connection.
            Ok(Err(_)) => true,
            Err(_) => false,
        }
    }

    /// Whether another request may go out on this connection: the server has not ended it,
    /// and nothing arrived that no request asked for. Checked without waiting, so a
    /// connection the server closed while idle is not reused (the next request would fail
    /// although the server is fine).
    pub fn reusable(&self) -> bool {
        if self.ended || !self.pending.is_empty() {
            return false;
        }
        let mut probe = [0u8; 1];
        matches!(self.stream.try_read(&mut probe), Err(e) if e.kind() == io::ErrorKind::WouldBlock)
    }

    /// Reads more bytes; false at the end of the stream (a reset counts as its end).
    async fn fill(&mut self) -> bool {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).await.unwrap_or(0);
        self.pending.extend_from_slice(&chunk[..n]);
        if n == 0 {
            self.ended = true;
        }
        n > 0
    }

    /// Reads more bytes; the end of the stream is an error saying what was cut short.
    async fn fill_or(&mut self, what: &str) -> io::Result<()> {
        if self.fill().await {
            Ok(())
        } else {
            Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                what.to_owned(),
            ))
        }
    }

    async fn try_read_answer(&mut self) -> io::Result<RawResponse> {
        let (status, headers, head_len) = loop {
            let mut fields = [httparse::EMPTY_HEADER; 64];
            let mut response = httparse::Response::new(&mut fields);
            let parsed = response.parse(&self.pending).map_err(|e| {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!("a malformed answer head ({e})"),
                )
            })?;
            match parsed {
                httparse::Status::Complete(len) => {
                    let headers: Vec<(String, String)> = response
                        .headers
                        .iter()
                        .map(|h| {
                            (
                                h.name.to_ascii_lowercase(),
                                String::from_utf8_lossy(h.value).into_owned(),
                            )
                        })
                        .collect();
                    let status = response.code.unwrap_or_default();
                    break (status, headers, len);
                }
                httparse::Status::Partial => {
                    let before = String::from_utf8_lossy(&self.pending).into_owned();
                    self.fill_or(&format!(
                        "the server closed the connection before answering (received {before:?})"
                    ))
                    .await?;
                }
            }
        };
        self.pending.drain(..head_len);
        let find = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
        };
        let body = if status == 204 || status == 304 {
            Vec::new()
        } else if let Some(length) = find("content-length") {
            let length: usize = length.trim().parse().map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "a malformed content-length")
            })?;
            while self.pending.len() < length {
                self.fill_or("the body ended early").await?;
            }
            self.pending.drain(..length).collect()
        } else if find("transfer-encoding").is_some_and(|te| te.contains("chunked")) {
            self.read_chunked().await?
        } else {
            while self.fill().await {}
            std::mem::take(&mut self.pending)
        };
        if find("connection").is_some_and(|c| c.eq_ignore_ascii_case("close")) {
            self.ended = true;
        }
        Ok(RawResponse {
            status,
            headers,
            body,
        })
    }

    async fn read_chunked(&mut self) -> io::Result<Vec<u8>> {
        let mut body = Vec::new();
        loop {
            let line_end = loop {
                if let Some(at) = self.pending.windows(2).position(|w| w == b"\r\n") {
                    break at;
                }
                self.fill_or("the chunked body ended early").await?;
            };
            let size_text = String::from_utf8_lossy(&self.pending[..line_end]).into_owned();
            let size_hex = size_text.split(';').next().unwrap_or("").trim();
            let size = usize::from_str_radix(size_hex, 16).map_err(|_| {
                io::Error::new(io::ErrorKind::InvalidData, "a malformed chunk size")
            })?;
            self.pending.drain(..line_end + 2);
            while self.pending.len() < size + 2 {
                self.fill_or("the chunk ended early").await?;
            }
            body.extend(self.pending.drain(..size));
            self.pending.drain(..2);
            if size == 0 {
                return Ok(body);
            }
        }
    }
}

fn no_answer_within(timeout: Duration) -> io::Error {
    io::Error::new(
        io::ErrorKind::TimedOut,
        format!("no answer within {timeout:?}"),
    )
}

/// Keep-alive connections to one server, shared by concurrent requests: each request takes an
/// idle connection (or opens one) and gives it back after a complete answer, so `n` requests
/// in flight use `n` connections and reuse them.
pub struct RawPool {
    base_url: String,
    idle: Mutex<Vec<RawConnection>>,
    max_idle: usize,
}

impl RawPool {
    /// A pool for `base_url` (`http://HOST:PORT`) keeping at most `max_idle` idle connections.
    pub fn new(base_url: &str, max_idle: usize) -> RawPool {
        RawPool {
            base_url: base_url.to_owned(),
            idle: Mutex::new(Vec::new()),
            max_idle: max_idle.max(1),
        }
    }

    /// An idle connection the server has not closed, or a new one (an error only if a new one
    /// cannot be opened: then nothing was sent).
    pub async fn try_take(&self) -> io::Result<RawConnection> {
        loop {
            let idle = self.idle.lock().expect("idle connections").pop();
            match idle {
                Some(connection) if connection.reusable() => return Ok(connection),
                Some(_) => continue,
                None => {
                    let connection = RawConnection::try_open(&self.base_url).await?;
                    // Requests are written whole: nothing for Nagle's algorithm to gather.
                    connection.stream.set_nodelay(true)?;
                    return Ok(connection);
                }
            }
        }
    }

    /// Returns a connection after it carried an answer; kept only while it can carry another.
    pub fn give_back(&self, connection: RawConnection) {
        if connection.ended || !connection.pending.is_empty() {
            return;
        }
        let mut idle = self.idle.lock().expect("idle connections");
        if idle.len() < self.max_idle {
            idle.push(connection);
        }
    }
}

/// Sends `bytes` on a new connection and reads one answer.
pub async fn exchange(base_url: &str, bytes: &[u8]) -> RawResponse {
    RawConnection::open(base_url).await.exchange(bytes).await
}

/// A request as bytes: the request line as given, then `headers`, then `Content-Length` and the
/// body when there is one.
pub fn request(method: &str, target: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut bytes = format!("{method} {target} HTTP/1.1\r\n").into_bytes();
    for (name, value) in headers {
        bytes.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
    }
    if !body.is_empty() {
        bytes.extend_from_slice(format!("Content-Length: {}\r\n", body.len()).as_bytes());
    }
    bytes.extend_from_slice(b"\r\n");
    bytes.extend_from_slice(body);
    bytes
}

/// Bytes that may not stand raw in a request target (RFC 3986: outside unreserved, sub-delims,
/// `:`, `@`, `/`, `?` and `%`). Non-ASCII bytes are always encoded.
const NOT_RAW: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');

/// The percent-encoded twin of a request target, by the `percent-encoding` crate (not by the
/// server's own code): what a strict client would have sent.
pub fn encoded_twin(target: &str) -> String {
    percent_encoding::percent_encode(target.as_bytes(), NOT_RAW).to_string()
}

/// For a lookup (GET) whose target a strict client would have percent-encoded, sends the
/// encoded twin of `request` on a connection of its own and says how its answer differs from
/// `answer`; None when they are the same or there is no twin to send.
pub async fn twin_difference(
    base_url: &str,
    request: &[u8],
    answer: &RawResponse,
) -> Option<String> {
    let line_end = request.windows(2).position(|w| w == b"\r\n")?;
    let line = std::str::from_utf8(&request[..line_end]).ok()?;
    let (method, rest) = line.split_once(' ')?;
    let (target, version) = rest.rsplit_once(' ')?;
    let twin = encoded_twin(target);
    if method != "GET" || twin == target {
        return None;
    }
    let mut twin_request = format!("{method} {twin} {version}").into_bytes();
    twin_request.extend_from_slice(&request[line_end..]);
    let twin_answer = exchange(base_url, &twin_request).await;
    let same = |a: &RawResponse, b: &RawResponse| {
        a.status == b.status
            && match (
                serde_json::from_slice::<Value>(&a.body),
                serde_json::from_slice::<Value>(&b.body),
            ) {
                (Ok(x), Ok(y)) => x == y,
                _ => a.body == b.body,
            }
    };
    (!same(answer, &twin_answer)).then(|| {
        format!(
            "its percent-encoded twin {twin} was answered {} {}, not {} {}",
            twin_answer.status,
            twin_answer.text(),
            answer.status,
            answer.text()
        )
    })
}
