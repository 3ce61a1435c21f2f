//! `plait export` beside a server that keeps writing (a consistent cut), and `plait check`, with
//! the real binary, on SQLite and on PostgreSQL.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use anyhow::{bail, ensure, Context, Result};
use plait_storage::{DocStore, SeaStore};
use plait_tests::backup::{sha256_hex, update, FreshDb};
use plait_tests::cli::{plait, TempDir};
use plait_tests::process::PlaitProcess;
use plait_tests::{http, ydoc};
use sea_orm::{ConnectionTrait, DatabaseBackend, Statement};
use yrs::Doc;

/// Writers running at once, each editing its own pair of documents.
const PAIRS: usize = 6;
/// Documents nobody edits, read between each pair's two: an export takes a while to read them,
/// so that edits land between its reads of a pair.
const FILLERS: usize = 40;

/// The pair of documents writer `i` edits, first then second. An export reads documents in
/// their names' byte order: every first one, the fillers, then every second one (not ASCII).
fn pair(i: usize) -> [String; 2] {
    [format!("a/ü{i:02}"), format!("z/ü{i:02}")]
}

/// Exports taken while [`PAIRS`] writers each edit their [`pair`] in turn, one character per
/// edit, each edit stored (HTTP 200) before the next begins, while the server compacts as it
/// goes. In any single instant a pair's first document then holds as many edits as its second,
/// or one more: an export that read documents at different times (the first before the fillers,
/// the second after) would catch the second ahead. Every file must match its checksum and
/// decode, and no document may be past the manifest's position.
async fn export_while_a_server_writes(postgres: bool) -> Result<()> {
    let db = FreshDb::create(postgres).await?;
    let url = db.url()?;
    let store = SeaStore::connect(&url).await?;
    for i in 0..FILLERS {
        let filler = ydoc::edit(&Doc::new(), "filler");
        store
            .append(&[update(&format!("m/{i:02}"), &filler)])
            .await?;
    }
    let server = PlaitProcess::start(
        &url,
        &["--flush-interval", "5ms", "--snapshot-threshold", "4"],
    )
    .await?;
    let addr = server.addr();
    let stop = Arc::new(AtomicBool::new(false));
    let writers: Vec<_> = (0..PAIRS)
        .map(|i| tokio::spawn(write_pair(addr, i, stop.clone())))
        .collect();

    let mut exports = Vec::new();
    for _ in 0..4 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let dir = TempDir::new();
        plait(&["export", "--database-url", &url, "--out", &dir.arg()])
            .await?
            .ok()?;
        exports.push(dir);
    }
    stop.store(true, Ordering::SeqCst);
    let mut rounds = Vec::new();
    for writer in writers {
        rounds.push(writer.await??);
    }

    let mut before = vec![[0, 0]; PAIRS];
    for dir in &exports {
        let counts = check_export(dir)?;
        for (i, &[first, second]) in counts.iter().enumerate() {
            ensure!(
                first >= second && second + 1 >= first,
                "not one instant: pair {i} holds {first} and {second} edits in {}",
                dir.arg()
            );
            ensure!(first >= before[i][0], "an export went back in time");
            ensure!(first as u64 <= rounds[i], "more edits than were made");
        }
        before = counts;
    }
    ensure!(before.iter().all(|c| c[0] > 0), "the exports saw no edit");
    drop(server);
    Ok(())
}

/// Writer `i`: edits its pair's first document, then its second, until `stop`; returns the
/// rounds it made.
async fn write_pair(addr: std::net::SocketAddr, i: usize, stop: Arc<AtomicBool>) -> Result<u64> {
    let docs = pair(i).map(|name| {
        let path = format!("/api/docs/{}/update", name.replace('/', "%2F"));
        (path, Doc::new())
    });
    let mut rounds = 0;
    while !stop.load(Ordering::SeqCst) {
        for (path, doc) in &docs {
            let response = http::post(addr, path, &ydoc::edit(doc, "x")).await?;
            ensure!(response.status == 200, "{}", response.text());
        }
        rounds += 1;
    }
    Ok(rounds)
}

/// Checks an export's files against its manifest and returns how many edits each [`pair`]'s
/// documents hold.
fn check_export(dir: &TempDir) -> Result<Vec<[usize; 2]>> {
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json"))?)?;
    let position = manifest["position"].as_i64().context("position")?;
    let documents = manifest["documents"].as_array().context("documents")?;
    ensure!(
        documents.len() <= FILLERS + 2 * PAIRS,
        "unexpected documents"
    );
    let mut counts = vec![[0, 0]; PAIRS];
    for entry in documents {
        let name = entry["name"].as_str().context("name")?;
        let file = entry["file"].as_str().context("file")?;
        let bytes = std::fs::read(dir.path().join(file))?;
        ensure!(entry["bytes"] == bytes.len() as u64, "{name}: size");
        ensure!(entry["sha256"] == sha256_hex(&bytes), "{name}: checksum");
        let last_seq = entry["last_seq"].as_i64().context("last_seq")?;
        ensure!(
            last_seq <= position,
            "{name}: {last_seq} is past {position}"
        );
        let doc = ydoc::doc_from_update(&bytes).with_context(|| format!("{name} decodes"))?;
        let text = ydoc::text_of(&doc);
        if name.starts_with("m/") {
            ensure!(text == "filler", "{name}: {text:?}");
            continue;
        }
        ensure!(text.chars().all(|c| c == 'x'), "{name}: {text:?}");
        let Some((i, side)) = (0..PAIRS).find_map(|i| {
            let side = pair(i).iter().position(|n| n == name)?;
            Some((i, side))
        }) else {
            bail!("unexpected document {name:?}");
        };
        counts[i][side] = text.len();
    }
    Ok(counts)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_export_while_a_server_writes_is_one_instant() -> Result<()> {
    export_while_a_server_writes(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_export_while_a_server_writes_is_one_instant() -> Result<()> {
    export_while_a_server_writes(true).await
}

/// `plait check` passes a healthy database (exit 0), then names the document and the position
/// of a garbage row inserted with SQL (exit 1), and leaves it where it is; `plait export` leaves
/// it out and says so.
async fn check_names_a_bad_row(postgres: bool) -> Result<()> {
    let db = FreshDb::create(postgres).await?;
    let url = db.url()?;
    let store = SeaStore::connect(&url).await?;
    let doc = Doc::new();
    for text in ["one", "two", "three"] {
        store
            .append(&[update("notes/été", &ydoc::edit(&doc, text))])
            .await?;
    }
    store.compact("notes/été").await?;
    store
        .append(&[update("notes/été", &ydoc::edit(&doc, "four"))])
        .await?;
    store
        .append(&[update("plain", &ydoc::edit(&Doc::new(), "x"))])
        .await?;

    let healthy = plait(&["check", "--database-url", &url]).await?.ok()?;
    ensure!(
        healthy
            .stdout
            .contains("2 documents, 2 log rows, 1 snapshots"),
        "{healthy}"
    );
    ensure!(healthy.stdout.contains("no problems found"), "{healthy}");

    let backend = store.connection().get_database_backend();
    let (insert, garbage) = match backend {
        DatabaseBackend::Postgres => (
            "INSERT INTO document_updates (document_id, data, created_at) \
             SELECT id, '\\xdeadbeef'::bytea, created_at FROM documents WHERE name = 'notes/été'",
            "SELECT MAX(seq) AS seq FROM document_updates",
        ),
        _ => (
            "INSERT INTO document_updates (document_id, data, created_at) \
             SELECT id, X'DEADBEEF', created_at FROM documents WHERE name = 'notes/été'",
            "SELECT MAX(seq) AS seq FROM document_updates",
        ),
    };
    store.connection().execute_unprepared(insert).await?;
    let seq: i64 = store
        .connection()
        .query_one_raw(Statement::from_string(backend, garbage))
        .await?
        .context("a row")?
        .try_get("", "seq")?;

    let found = plait(&["check", "--database-url", &url]).await?;
    ensure!(found.code == Some(1), "{found}");
    let line = format!("problem: \"notes/été\": row {seq} is refused: ");
    ensure!(found.stdout.contains(&line), "{line:?} not in:\n{found}");
    ensure!(
        found.stdout.contains("1 problems in 1 documents"),
        "{found}"
    );
    // Read-only: the row is still in the log, nothing went to quarantine.
    let rows = store.updates_after("notes/été", seq - 1, 10).await?;
    ensure!(rows.iter().any(|(s, _)| *s == seq), "the bad row was moved");
    ensure!(
        store
            .stats("notes/été")
            .await?
            .context("stats")?
            .quarantined
            == 0
    );

    let dir = TempDir::new();
    let exported = plait(&["export", "--database-url", &url, "--out", &dir.arg()])
        .await?
        .ok()?;
    let warning =
        format!("warning: \"notes/été\": the stored update at position {seq} is not exported");
    ensure!(
        exported.stderr.contains(&warning),
        "{warning:?} not in:\n{exported}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json"))?)?;
    let entry = &manifest["documents"][0];
    ensure!(
        entry["name"] == "notes/été" && entry["skipped"][0]["seq"] == seq,
        "{manifest}"
    );
    let state = std::fs::read(dir.path().join(entry["file"].as_str().context("file")?))?;
    ensure!(ydoc::text_of(&ydoc::doc_from_update(&state)?) == "onetwothreefour");
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_check_names_a_bad_row() -> Result<()> {
    check_names_a_bad_row(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_check_names_a_bad_row() -> Result<()> {
    check_names_a_bad_row(true).await
}
