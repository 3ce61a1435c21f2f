//! An in-process Plait server on an ephemeral loopback port.
//!
//! In-process so a test can inject a store (faulty, gated) and restart the server in
//! milliseconds; the [`crate::process`] module covers what only a real process can show.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use plait_server::{Config, ServerError};
use plait_storage::bus::Bus;
use plait_storage::store::DocStore;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// How long a graceful stop may take (closing sockets and the final flush) before the test fails.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// A running server. Dropping it triggers a graceful shutdown without waiting for it; call
/// [`TestServer::stop`] to wait until everything is written.
pub struct TestServer {
    addr: SocketAddr,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<Result<(), ServerError>>>,
}

impl TestServer {
    /// Serves `store` with `config` (its `bind` and `database_url` are ignored), alone.
    pub async fn start(config: Config, store: Arc<dyn DocStore>) -> Result<Self> {
        Self::start_node(config, store, None).await
    }

    /// Serves `store` with `config`, talking to the other nodes on `bus` (PostgreSQL: see
    /// `SeaStore::bus`).
    pub async fn start_node(
        config: Config,
        store: Arc<dyn DocStore>,
        bus: Option<Arc<dyn Bus>>,
    ) -> Result<Self> {
        let (listener, addr) = bind().await?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(plait_server::run_with_store(
            listener,
            config,
            store,
            bus,
            async move {
                // A dropped sender (the TestServer dropped) also means "stop".
                let _ = rx.await;
            },
        ));
        Ok(Self::running(addr, tx, task))
    }

    /// Serves an in-memory store with the test configuration: the quickest server for tests
    /// that do not restart it.
    pub async fn in_memory() -> Result<Self> {
        Self::in_memory_with(Config::for_tests("memory")).await
    }

    /// [`TestServer::in_memory`] with `config` (its `bind` and `database_url` are ignored).
    pub async fn in_memory_with(config: Config) -> Result<Self> {
        crate::init_tracing();
        let store = Arc::new(plait_storage::memory::MemoryStore::new());
        Self::start(config, store).await
    }

    /// Serves the database named in `config.database_url`, opened by the server itself (the
    /// same path as the binary takes).
    pub async fn start_with_database(config: Config) -> Result<Self> {
        let (listener, addr) = bind().await?;
        let (tx, rx) = oneshot::channel::<()>();
        let task = tokio::spawn(plait_server::run(listener, config, async move {
            let _ = rx.await;
        }));
        let server = Self::running(addr, tx, task);
        // `run` opens the database after the listener exists: wait until it serves, so a bad
        // URL fails here with the server's own error.
        server.wait_ready().await?;
        Ok(server)
    }

    fn running(
        addr: SocketAddr,
        tx: oneshot::Sender<()>,
        task: JoinHandle<Result<(), ServerError>>,
    ) -> Self {
        TestServer {
            addr,
            shutdown: Some(tx),
            task: Some(task),
        }
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `ws://127.0.0.1:PORT/ws/{doc}` (the name is used as given: percent-encode it yourself).
    pub fn ws_url(&self, doc: &str) -> String {
        format!("ws://{}/ws/{doc}", self.addr)
    }

    /// Waits until `/readyz` answers 200 (or the server task ended with an error).
    pub async fn wait_ready(&self) -> Result<()> {
        let addr = self.addr;
        crate::eventually(
            "the server to become ready",
            crate::TIMEOUT,
            || async move {
                if let Some(task) = &self.task {
                    if task.is_finished() {
                        return Err(anyhow!("server task ended before it became ready"));
                    }
                }
                Ok(match crate::http::get(addr, "/readyz").await {
                    Ok(r) if r.status == 200 => Some(()),
                    _ => None,
                })
            },
        )
        .await
    }

    /// Waits until `/readyz` answers 200 with nothing pending: every update the server was sent
    /// is in SQL.
    pub async fn wait_all_written(&self, timeout: Duration) -> Result<()> {
        let addr = self.addr;
        crate::eventually("/readyz 200 with nothing pending", timeout, || async move {
            let r = crate::http::get(addr, "/readyz").await?;
            let pending = r.json().ok().and_then(|j| j["pending_updates"].as_u64());
            Ok((r.status == 200 && pending == Some(0)).then_some(()))
        })
        .await
    }

    /// Graceful stop: triggers shutdown and waits until the server has closed every connection
    /// and written everything pending. Fails if the server reported an error.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        let task = self
            .task
            .take()
            .ok_or_else(|| anyhow!("server already stopped"))?;
        tokio::time::timeout(STOP_TIMEOUT, task)
            .await
            .context("server did not stop in time")?
            .context("server task panicked")?
            .context("server returned an error")
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

async fn bind() -> Result<(TcpListener, SocketAddr)> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .await
        .context("bind 127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}
