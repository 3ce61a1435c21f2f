//! A minimal HTTP/1.1 client over one keep-alive connection: GET only, bodies with
//! `Content-Length` or `Transfer-Encoding: chunked`, read whole or chunk by chunk (for a stream
//! of server-sent events). Enough for the change feed; no TLS, no redirects.

use crate::error::{BenchError, Result};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;

/// A response's status line and the headers that say how its body is framed.
#[derive(Debug)]
pub struct Head {
    pub status: u16,
    pub content_type: String,
    length: Option<usize>,
    chunked: bool,
}

/// One connection to `addr` (host:port).
pub struct Http {
    addr: String,
    conn: BufReader<TcpStream>,
    /// Bytes left in the current chunk of a chunked body being read piecewise.
    chunk_left: usize,
}

fn io(what: &str, source: std::io::Error) -> BenchError {
    BenchError::Io {
        path: what.to_owned(),
        source,
    }
}

impl Http {
    pub async fn connect(addr: &str) -> Result<Http> {
        let tcp = TcpStream::connect(addr).await.map_err(|e| io(addr, e))?;
        tcp.set_nodelay(true).map_err(|e| io(addr, e))?;
        Ok(Http {
            addr: addr.to_owned(),
            conn: BufReader::with_capacity(256 * 1024, tcp),
            chunk_left: 0,
        })
    }

    async fn line(&mut self) -> Result<String> {
        let mut line = String::new();
        let n = self
            .conn
            .read_line(&mut line)
            .await
            .map_err(|e| io(&self.addr, e))?;
        if n == 0 {
            return Err(BenchError::Closed("HTTP connection closed".into()));
        }
        Ok(line.trim_end_matches(['\r', '\n']).to_owned())
    }

    /// Send `GET path` with `headers` ("Name: value") and read the response head.
    pub async fn get(&mut self, path: &str, headers: &[String]) -> Result<Head> {
        let mut req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n", self.addr);
        for h in headers {
            req.push_str(h);
            req.push_str("\r\n");
        }
        req.push_str("\r\n");
        self.conn
            .get_mut()
            .write_all(req.as_bytes())
            .await
            .map_err(|e| io(&self.addr, e))?;
        let status_line = self.line().await?;
        let status = status_line
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .ok_or(BenchError::Wire("bad HTTP status line"))?;
        let mut head = Head {
            status,
            content_type: String::new(),
            length: None,
            chunked: false,
        };
        loop {
            let line = self.line().await?;
            if line.is_empty() {
                break;
            }
            let Some((name, value)) = line.split_once(':') else {
                continue;
            };
            let value = value.trim();
            match name.to_ascii_lowercase().as_str() {
                "content-length" => head.length = value.parse().ok(),
                "transfer-encoding" => head.chunked = value.eq_ignore_ascii_case("chunked"),
                "content-type" => head.content_type = value.to_owned(),
                _ => {}
            }
        }
        self.chunk_left = 0;
        Ok(head)
    }

    /// The whole body of the response whose head was just read.
    pub async fn body(&mut self, head: &Head) -> Result<Vec<u8>> {
        if !head.chunked {
            let mut body = vec![0; head.length.unwrap_or(0)];
            self.conn
                .read_exact(&mut body)
                .await
                .map_err(|e| io(&self.addr, e))?;
            return Ok(body);
        }
        let mut body = Vec::new();
        while self.chunk(&mut body).await? {}
        Ok(body)
    }

    /// Append the next piece of a chunked body to `into`; false at its end.
    pub async fn chunk(&mut self, into: &mut Vec<u8>) -> Result<bool> {
        if self.chunk_left == 0 {
            let size_line = self.line().await?;
            let size = usize::from_str_radix(size_line.split(';').next().unwrap_or("").trim(), 16)
                .map_err(|_| BenchError::Wire("bad chunk size"))?;
            if size == 0 {
                self.line().await?; // the empty line after the last chunk (no trailers)
                return Ok(false);
            }
            self.chunk_left = size;
        }
        let available = self.conn.fill_buf().await.map_err(|e| io(&self.addr, e))?;
        if available.is_empty() {
            return Err(BenchError::Closed(
                "HTTP connection closed mid-chunk".into(),
            ));
        }
        let take = available.len().min(self.chunk_left);
        into.extend_from_slice(&available[..take]);
        self.conn.consume(take);
        self.chunk_left -= take;
        if self.chunk_left == 0 {
            self.line().await?; // the CRLF closing the chunk
        }
        Ok(true)
    }
}
