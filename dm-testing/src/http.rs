//! A minimal HTTP/1.1 client for tests: one `GET` over a plain TCP connection from the machine
//! running the tests, as a browser or a monitoring probe would reach a deployed service from
//! outside. No TLS, no redirects, no keep-alive: tests want to see exactly what the server said.

use std::io::{self, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// How long the whole response may take to arrive.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// A response to [`Machine::http_get`](crate::Machine::http_get).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpResponse {
    /// The status code, e.g. 200.
    pub status: u16,
    /// The headers, in the order the server sent them.
    pub headers: Vec<(String, String)>,
    /// The body (chunked transfer encoding undone); bytes that are not UTF-8 are replaced.
    pub body: String,
}

impl HttpResponse {
    /// The first header named `name` (case-insensitive), if the server sent one.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

/// `GET path` from `address`.
pub(crate) fn get(address: SocketAddr, path: &str) -> io::Result<HttpResponse> {
    if path.contains(['\r', '\n', ' ']) {
        return Err(invalid(format!(
            "path {path:?} contains a space or line break: encode it"
        )));
    }
    let path = if path.starts_with('/') {
        path.to_string()
    } else {
        format!("/{path}")
    };
    let deadline = Instant::now() + RESPONSE_TIMEOUT;
    let mut stream = TcpStream::connect_timeout(&address, CONNECT_TIMEOUT)?;
    stream.set_write_timeout(Some(RESPONSE_TIMEOUT))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: {address}\r\nUser-Agent: dm-testing\r\nAccept: */*\r\n\
         Connection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    let mut buffer = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no complete response from {address} within {} s",
                    RESPONSE_TIMEOUT.as_secs()
                ),
            ));
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    parse(&raw)
}

/// Parses a whole response (the server closed the connection after it).
fn parse(raw: &[u8]) -> io::Result<HttpResponse> {
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| invalid(format!("no end of headers in {} bytes", raw.len())))?;
    let head = String::from_utf8_lossy(&raw[..end]);
    let rest = &raw[end + 4..];
    let mut lines = head.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .strip_prefix("HTTP/1.")
        .and_then(|s| s.get(2..5))
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| invalid(format!("bad status line {status_line:?}")))?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(key, value)| (key.trim().to_string(), value.trim().to_string()))
        .collect();
    let response = HttpResponse {
        status,
        headers,
        body: String::new(),
    };
    let chunked = response
        .header("transfer-encoding")
        .is_some_and(|v| v.eq_ignore_ascii_case("chunked"));
    let body = if chunked {
        dechunk(rest)?
    } else if let Some(length) = response.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| invalid(format!("bad Content-Length {length:?}")))?;
        rest.get(..length)
            .ok_or_else(|| {
                invalid(format!(
                    "the body ended after {} of {length} bytes",
                    rest.len()
                ))
            })?
            .to_vec()
    } else {
        rest.to_vec()
    };
    Ok(HttpResponse {
        body: String::from_utf8_lossy(&body).into_owned(),
        ..response
    })
}

/// Undoes chunked transfer encoding: `SIZE-IN-HEX\r\nDATA\r\n` until a chunk of size 0.
fn dechunk(mut rest: &[u8]) -> io::Result<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = rest
            .windows(2)
            .position(|w| w == b"\r\n")
            .ok_or_else(|| invalid("a chunk size line has no end".to_string()))?;
        let size_line = String::from_utf8_lossy(&rest[..line_end]);
        // A size may carry extensions after `;`.
        let size_text = size_line.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| invalid(format!("bad chunk size {size_text:?}")))?;
        rest = &rest[line_end + 2..];
        if size == 0 {
            return Ok(body);
        }
        let chunk = rest
            .get(..size)
            .ok_or_else(|| invalid("the body ended inside a chunk".to_string()))?;
        body.extend_from_slice(chunk);
        rest = rest.get(size + 2..).unwrap_or_default();
    }
}

/// An error for a response that is not valid HTTP.
fn invalid(message: String) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("invalid HTTP response: {message}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_response_with_content_length() {
        let raw = b"HTTP/1.1 200 OK\r\nServer: nginx\r\nContent-Length: 5\r\n\r\nhello";
        let response = parse(raw).unwrap();
        assert_eq!(response.status, 200);
        assert_eq!(response.header("server"), Some("nginx"));
        assert_eq!(response.body, "hello");
    }

    #[test]
    fn undoes_chunked_encoding() {
        let raw = b"HTTP/1.1 502 Bad Gateway\r\nTransfer-Encoding: chunked\r\n\r\n\
                    4\r\nwiki\r\n6;x=y\r\npedia \r\n0\r\n\r\n";
        let response = parse(raw).unwrap();
        assert_eq!(response.status, 502);
        assert_eq!(response.body, "wikipedia ");
    }

    #[test]
    fn refuses_a_truncated_body() {
        let raw = b"HTTP/1.0 200 OK\r\nContent-Length: 10\r\n\r\nshort";
        let error = parse(raw).unwrap_err();
        assert!(error.to_string().contains("5 of 10 bytes"), "{error}");
    }
}
