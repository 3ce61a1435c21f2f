//! [`RawClient`]: a bare WebSocket that sends exactly the bytes a test gives it and reports
//! exactly what comes back, for hostile input and byte-exact protocol checks.

use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};
use yrs::encoding::read::Cursor;
use yrs::sync::{Message, MessageReader, SyncMessage};
use yrs::updates::decoder::DecoderV1;
use yrs::updates::encoder::Encode;
use yrs::StateVector;

/// What the server sent next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    Binary(Vec<u8>),
    /// A close frame with its code (1005 if it had none).
    Closed(u16),
    /// The TCP connection ended without a close frame.
    Dropped,
}

/// How an upgrade attempt ended: the server either switched protocols or answered over HTTP.
pub enum Upgrade {
    /// Boxed: a WebSocket stream is large next to a response.
    Accepted(Box<RawClient>),
    /// The server refused the upgrade: its status, headers and body.
    Refused(crate::http::HttpResponse),
}

impl Upgrade {
    /// The refusal's status, or 101 if the upgrade was accepted.
    pub fn status(&self) -> u16 {
        match self {
            Upgrade::Accepted(_) => 101,
            Upgrade::Refused(response) => response.status,
        }
    }
}

/// A WebSocket connection with no protocol logic of its own.
pub struct RawClient {
    ws: WebSocketStream<MaybeTlsStream<TcpStream>>,
}

impl RawClient {
    /// Opens `url` (TCP_NODELAY). Large client-side limits so the test, not the client library,
    /// decides what is too big.
    pub async fn connect(url: &str) -> Result<RawClient> {
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let (ws, _) = tokio::time::timeout(
            crate::TIMEOUT,
            tokio_tungstenite::connect_async_with_config(url, Some(config), true),
        )
        .await
        .with_context(|| format!("connect {url}: timed out"))?
        .with_context(|| format!("connect {url}"))?;
        Ok(RawClient { ws })
    }

    /// Opens `url` with extra request headers (`Authorization`, `Origin`...) and reports a refused
    /// upgrade as a value rather than an error, so tests can assert on its status and body.
    pub async fn try_connect(url: &str, headers: &[(&str, &str)]) -> Result<Upgrade> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        use tokio_tungstenite::tungstenite::http::{HeaderName, HeaderValue};
        use tokio_tungstenite::tungstenite::Error as WsError;

        let mut request = url.into_client_request().context("build the request")?;
        for (name, value) in headers {
            request.headers_mut().insert(
                HeaderName::from_bytes(name.as_bytes()).context("header name")?,
                HeaderValue::from_str(value).context("header value")?,
            );
        }
        let config = WebSocketConfig::default()
            .max_message_size(Some(256 << 20))
            .max_frame_size(Some(256 << 20));
        let connected = tokio::time::timeout(
            crate::TIMEOUT,
            tokio_tungstenite::connect_async_with_config(request, Some(config), true),
        )
        .await
        .with_context(|| format!("connect {url}: timed out"))?;
        match connected {
            Ok((ws, _)) => Ok(Upgrade::Accepted(Box::new(RawClient { ws }))),
            Err(WsError::Http(response)) => Ok(Upgrade::Refused(crate::http::HttpResponse {
                status: response.status().as_u16(),
                headers: response
                    .headers()
                    .iter()
                    .map(|(n, v)| {
                        (
                            n.as_str().to_ascii_lowercase(),
                            String::from_utf8_lossy(v.as_bytes()).into_owned(),
                        )
                    })
                    .collect(),
                body: response.body().clone().unwrap_or_default(),
            })),
            Err(e) => Err(e).with_context(|| format!("connect {url}")),
        }
    }

    /// Sends one binary frame.
    pub async fn send_binary(&mut self, bytes: Vec<u8>) -> Result<()> {
        self.ws
            .send(WsMessage::Binary(bytes.into()))
            .await
            .context("send binary frame")
    }

    /// Sends one ping frame.
    pub async fn send_ping(&mut self) -> Result<()> {
        self.ws
            .send(WsMessage::Ping(Vec::new().into()))
            .await
            .context("send ping")
    }

    /// Sends one text frame.
    pub async fn send_text(&mut self, text: &str) -> Result<()> {
        self.ws
            .send(WsMessage::Text(text.into()))
            .await
            .context("send text frame")
    }

    /// The next binary frame or close, or `None` if nothing arrives within `timeout`.
    pub async fn next(&mut self, timeout: Duration) -> Result<Option<Incoming>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let next = match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return Ok(None),
                Ok(next) => next,
            };
            return Ok(Some(match next {
                None => Incoming::Dropped,
                Some(Ok(WsMessage::Binary(b))) => Incoming::Binary(b.to_vec()),
                Some(Ok(WsMessage::Close(frame))) => {
                    Incoming::Closed(frame.map_or(1005, |f| u16::from(f.code)))
                }
                Some(Ok(WsMessage::Text(t))) => bail!("server sent a text frame: {t}"),
                // Pings are answered by tungstenite itself.
                Some(Ok(_)) => continue,
                // A reset after the close handshake started reads as an error: no close code seen.
                Some(Err(_)) => Incoming::Dropped,
            }));
        }
    }

    /// Reads until the server closes; returns its close code and every binary frame before it.
    pub async fn expect_close(&mut self, timeout: Duration) -> Result<(u16, Vec<Vec<u8>>)> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut frames = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                None => bail!("server did not close the connection within {timeout:?}"),
                Some(Incoming::Binary(b)) => frames.push(b),
                Some(Incoming::Closed(code)) => return Ok((code, frames)),
                Some(Incoming::Dropped) => bail!("connection dropped without a close frame"),
            }
        }
    }

    /// Sends step 1 with an empty state vector and reads until the server's step 2; returns
    /// every message seen up to and including it.
    pub async fn handshake(&mut self) -> Result<Vec<Message>> {
        let step1 = Message::Sync(SyncMessage::SyncStep1(StateVector::default())).encode_v1();
        self.send_binary(step1).await?;
        let deadline = tokio::time::Instant::now() + crate::TIMEOUT;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await? {
                Some(Incoming::Binary(frame)) => {
                    let messages = decode(&frame)?;
                    let done = messages
                        .iter()
                        .any(|m| matches!(m, Message::Sync(SyncMessage::SyncStep2(_))));
                    seen.extend(messages);
                    if done {
                        return Ok(seen);
                    }
                }
                other => bail!("handshake: expected the server's step 2, got {other:?}"),
            }
        }
    }

    /// Closes normally.
    pub async fn close(mut self) {
        let _ = self.ws.close(None).await;
    }
}

/// Decodes every message of a frame with yrs' reader (independently of the server's codec).
pub fn decode(frame: &[u8]) -> Result<Vec<Message>> {
    let mut decoder = DecoderV1::new(Cursor::new(frame));
    MessageReader::new(&mut decoder)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| anyhow!("undecodable frame from the server {frame:?}: {e}"))
}

/// A sync update frame `[0, 2, len, update]`.
pub fn update_frame(update: &[u8]) -> Vec<u8> {
    Message::Sync(SyncMessage::Update(update.to_vec())).encode_v1()
}
