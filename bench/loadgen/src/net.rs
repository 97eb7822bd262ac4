//! Loopback-only TCP and the little HTTP/1.1 the load generator needs: a request, a response
//! head, a chunked body decoder and a `Content-Length` body.

use std::net::{Ipv4Addr, SocketAddr, SocketAddrV4};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};

/// Largest response head accepted.
const MAX_HEAD: usize = 16 * 1024;
/// Largest non-streaming response body accepted (publish answers, `/ready`).
const MAX_BODY: usize = 64 * 1024;

/// `http://127.x.y.z:port` (a literal loopback address; no names, so nothing can resolve
/// elsewhere) to a socket address.
pub fn loopback_server(url: &str) -> Result<SocketAddrV4, String> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("{url}: only http:// URLs are supported"))?;
    let authority = rest.trim_end_matches('/');
    let addr: SocketAddrV4 = authority
        .parse()
        .map_err(|_| format!("{url}: expected http://127.x.y.z:port"))?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{url}: the load generator only talks to 127.0.0.0/8"
        ));
    }
    Ok(addr)
}

/// A loopback source address, such as `127.0.3.1`.
pub fn loopback_ip(text: &str) -> Result<Ipv4Addr, String> {
    let ip: Ipv4Addr = text
        .parse()
        .map_err(|_| format!("{text}: not an IPv4 address"))?;
    if !ip.is_loopback() {
        return Err(format!("{text}: source addresses must be in 127.0.0.0/8"));
    }
    Ok(ip)
}

/// Connects from `src` (any free port on it), so clients spread over several source addresses
/// do not share one ephemeral-port range.
pub async fn connect(src: Option<Ipv4Addr>, dst: SocketAddrV4) -> std::io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(ip) = src {
        socket.bind(SocketAddr::from((ip, 0)))?;
    }
    let stream = socket.connect(SocketAddr::V4(dst)).await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

pub struct Head {
    pub status: u16,
    /// Header lines, lower-cased names, as `(name, value)`.
    pub headers: Vec<(String, String)>,
}

impl Head {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn is_chunked(&self) -> bool {
        self.header("transfer-encoding")
            .is_some_and(|v| v.to_ascii_lowercase().contains("chunked"))
    }
}

/// Reads a response head. `buf` receives whatever followed it (the start of the body).
pub async fn read_head(stream: &mut TcpStream, buf: &mut Vec<u8>) -> Result<Head, String> {
    loop {
        if let Some(end) = find(buf, b"\r\n\r\n") {
            let head = parse_head(&buf[..end])?;
            buf.drain(..end + 4);
            return Ok(head);
        }
        if buf.len() > MAX_HEAD {
            return Err("response head too large".into());
        }
        read_more(stream, buf, "the response head", "before answering").await?;
    }
}

/// Appends what the next read returns to `buf`; a closed connection is an error naming `what`
/// was being read and `when` it closed.
async fn read_more(
    stream: &mut TcpStream,
    buf: &mut Vec<u8>,
    what: &str,
    when: &str,
) -> Result<(), String> {
    let mut chunk = [0u8; 4096];
    let n = stream
        .read(&mut chunk)
        .await
        .map_err(|e| format!("reading {what}: {e}"))?;
    if n == 0 {
        return Err(format!("the server closed the connection {when}"));
    }
    buf.extend_from_slice(&chunk[..n]);
    Ok(())
}

fn parse_head(bytes: &[u8]) -> Result<Head, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let mut parts = status_line.splitn(3, ' ');
    let version = parts.next().unwrap_or_default();
    if !version.starts_with("HTTP/1.") {
        return Err(format!("not an HTTP/1 response: {status_line:?}"));
    }
    let status = parts
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("bad status line {status_line:?}"))?;
    let headers = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Ok(Head { status, headers })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Incremental `Transfer-Encoding: chunked` decoder.
#[derive(Default)]
pub struct Dechunk {
    state: ChunkState,
    size: u64,
    digits: u8,
}

#[derive(Default, Clone, Copy, PartialEq, Eq, Debug)]
enum ChunkState {
    #[default]
    Size,
    Extension,
    SizeLf,
    Data,
    DataCr,
    DataLf,
    /// The last chunk arrived: the response body is over.
    Done,
}

impl Dechunk {
    /// Feeds raw body bytes, handing decoded data to `out`. Returns `true` once the final
    /// (zero-size) chunk has been seen.
    pub fn feed(&mut self, mut input: &[u8], out: &mut impl FnMut(&[u8])) -> Result<bool, String> {
        while !input.is_empty() {
            match self.state {
                ChunkState::Done => return Ok(true),
                ChunkState::Data => {
                    let take = usize::try_from(self.size)
                        .unwrap_or(usize::MAX)
                        .min(input.len());
                    out(&input[..take]);
                    input = &input[take..];
                    self.size -= take as u64;
                    if self.size == 0 {
                        self.state = ChunkState::DataCr;
                    }
                }
                state => {
                    let byte = input[0];
                    input = &input[1..];
                    self.state = match (state, byte) {
                        (ChunkState::Size, b'\r') if self.digits > 0 => ChunkState::SizeLf,
                        (ChunkState::Size, b';') if self.digits > 0 => ChunkState::Extension,
                        (ChunkState::Size, b) if b.is_ascii_hexdigit() => {
                            if self.digits == 15 {
                                return Err("chunk size too large".into());
                            }
                            self.digits += 1;
                            self.size = self.size * 16 + u64::from(hex(b));
                            ChunkState::Size
                        }
                        (ChunkState::Extension, b'\r') => ChunkState::SizeLf,
                        (ChunkState::Extension, _) => ChunkState::Extension,
                        (ChunkState::SizeLf, b'\n') if self.size == 0 => ChunkState::Done,
                        (ChunkState::SizeLf, b'\n') => ChunkState::Data,
                        (ChunkState::DataCr, b'\r') => ChunkState::DataLf,
                        (ChunkState::DataLf, b'\n') => {
                            self.digits = 0;
                            self.size = 0;
                            ChunkState::Size
                        }
                        (state, b) => {
                            return Err(format!("bad chunked encoding: byte {b:#04x} in {state:?}"))
                        }
                    };
                }
            }
        }
        Ok(self.state == ChunkState::Done)
    }
}

fn hex(b: u8) -> u8 {
    match b {
        b'0'..=b'9' => b - b'0',
        b'a'..=b'f' => b - b'a' + 10,
        _ => b - b'A' + 10,
    }
}

/// One request on a (keep-alive) connection, answered with a `Content-Length` body.
pub async fn exchange(
    stream: &mut TcpStream,
    request: &[u8],
    limit: Duration,
) -> Result<(u16, Vec<u8>), String> {
    tokio::time::timeout(limit, async {
        stream
            .write_all(request)
            .await
            .map_err(|e| format!("sending the request: {e}"))?;
        let mut buf = Vec::new();
        let head = read_head(stream, &mut buf).await?;
        let length: usize = head
            .header("content-length")
            .and_then(|v| v.parse().ok())
            .ok_or("response without Content-Length")?;
        if length > MAX_BODY {
            return Err(format!("response body of {length} bytes is too large"));
        }
        while buf.len() < length {
            read_more(stream, &mut buf, "the response body", "mid-response").await?;
        }
        buf.truncate(length);
        Ok((head.status, buf))
    })
    .await
    .map_err(|_| format!("no answer within {limit:?}"))?
}

/// Percent-encodes a query-string value.
pub fn encode_query(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode(parts: &[&[u8]]) -> (Vec<u8>, bool) {
        let mut d = Dechunk::default();
        let mut out = Vec::new();
        let mut done = false;
        for p in parts {
            done = d.feed(p, &mut |b| out.extend_from_slice(b)).unwrap();
        }
        (out, done)
    }

    #[test]
    fn dechunks_across_splits() {
        let body = b"5\r\nhello\r\nA;ext=1\r\n0123456789\r\n0\r\n\r\n";
        for split in 0..body.len() {
            let (out, done) = decode(&[&body[..split], &body[split..]]);
            assert_eq!(out, b"hello0123456789");
            assert!(done);
        }
    }

    #[test]
    fn rejects_garbage() {
        let mut d = Dechunk::default();
        assert!(d.feed(b"zz\r\n", &mut |_| {}).is_err());
        let mut d = Dechunk::default();
        assert!(d.feed(b"2\r\nabX", &mut |_| {}).is_err());
    }

    #[test]
    fn only_loopback() {
        assert!(loopback_server("http://127.0.0.1:8080").is_ok());
        assert!(loopback_server("http://127.9.8.7:1/").is_ok());
        assert!(loopback_server("http://10.0.0.1:8080").is_err());
        assert!(loopback_server("http://localhost:8080").is_err());
        assert!(loopback_ip("127.0.3.1").is_ok());
        assert!(loopback_ip("192.168.0.1").is_err());
    }

    #[test]
    fn encodes_topics() {
        assert_eq!(encode_query("dashboard:fan out"), "dashboard%3Afan%20out");
    }
}
