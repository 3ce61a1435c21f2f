//! `plait export` and `plait import` with the real binary: a move from SQLite to PostgreSQL and
//! back loses nothing, existing documents are refused unless `--merge`, and a damaged export
//! imports nothing. (`backup_live.rs`: exporting beside a running server, and `plait check`.)

use anyhow::{ensure, Context, Result};
use plait_storage::{DocStore, SeaStore};
use plait_tests::backup::{contents, populate, sha256_hex, update, FreshDb, NAMES};
use plait_tests::cli::{plait, TempDir};
use plait_tests::db::{PgDatabase, SqliteFile};
use plait_tests::ydoc;
use sea_orm::ConnectionTrait;

/// `plait export --database-url URL --out DIR`, which must succeed.
async fn export(url: &str, dir: &TempDir) -> Result<serde_json::Value> {
    let out = plait(&["export", "--database-url", url, "--out", &dir.arg()])
        .await?
        .ok()?;
    ensure!(
        out.stdout.starts_with("exported ") && out.stderr.is_empty(),
        "{out}"
    );
    let manifest = std::fs::read(dir.path().join("manifest.json"))?;
    Ok(serde_json::from_slice(&manifest)?)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_to_postgres_and_back_loses_nothing() -> Result<()> {
    let (source, pg, back) = (
        SqliteFile::new()?,
        PgDatabase::create().await?,
        SqliteFile::new()?,
    );
    populate(&source.url()).await?;
    let original = contents(&source.url(), &NAMES).await?;

    let (first, second) = (TempDir::new(), TempDir::new());
    let manifest = export(&source.url(), &first).await?;
    plait(&["import", "--database-url", &pg.url()?, &first.arg()])
        .await?
        .ok()?;
    export(&pg.url()?, &second).await?;
    let out = plait(&["import", "--database-url", &back.url(), &second.arg()])
        .await?
        .ok()?;
    ensure!(out.stdout.contains("5 new, 0 merged"), "{out}");

    // Every document equal, on PostgreSQL and back on SQLite: content and CRDT identity.
    assert_eq!(contents(&pg.url()?, &NAMES).await?, original);
    assert_eq!(contents(&back.url(), &NAMES).await?, original);
    // Nothing more either.
    let store = SeaStore::connect(&back.url()).await?;
    let cut = store.cut().await?;
    assert_eq!(cut.documents().await?.len(), NAMES.len());
    cut.finish().await?;

    // The manifest names each document as stored, with its positions, size and checksum.
    let source_store = SeaStore::connect(&source.url()).await?;
    let entries = manifest["documents"].as_array().context("documents")?;
    assert_eq!(entries.len(), NAMES.len());
    for entry in entries {
        let name = entry["name"].as_str().context("name")?;
        let stats = source_store.stats(name).await?.context("stats")?;
        assert_eq!(entry["snapshot_seq"], stats.snapshot_seq);
        assert_eq!(entry["last_seq"], stats.last_seq);
        let file = first.path().join(entry["file"].as_str().context("file")?);
        assert!(file.starts_with(first.path().join("docs")), "{file:?}");
        assert_eq!(entry["bytes"], std::fs::metadata(&file)?.len());
        assert_eq!(entry["sha256"].as_str().map(str::len), Some(64));
    }
    Ok(())
}

async fn existing_documents_are_refused_unless_merge(postgres: bool) -> Result<()> {
    let (source_db, target_db) = (
        FreshDb::create(postgres).await?,
        FreshDb::create(postgres).await?,
    );
    let (source, target) = (source_db.url()?, target_db.url()?);
    let store = SeaStore::connect(&source).await?;
    store
        .append(&[update("new", &ydoc::text_update(1, "t", "from the export"))])
        .await?;
    store
        .append(&[update("b/ü", &ydoc::text_update(2, "t", "export side "))])
        .await?;
    let target_store = SeaStore::connect(&target).await?;
    target_store
        .append(&[update("b/ü", &ydoc::text_update(3, "t", "target side"))])
        .await?;
    let dir = TempDir::new();
    export(&source, &dir).await?;

    let refused = plait(&["import", "--database-url", &target, &dir.arg()]).await?;
    ensure!(refused.code == Some(1), "{refused}");
    ensure!(
        refused.stderr.contains("\"b/ü\"") && refused.stderr.contains("--merge"),
        "{refused}"
    );
    ensure!(
        target_store.stats("new").await?.is_none(),
        "nothing is imported"
    );

    let merged = plait(&["import", "--merge", "--database-url", &target, &dir.arg()])
        .await?
        .ok()?;
    ensure!(merged.stdout.contains("1 new, 1 merged"), "{merged}");
    let docs = contents(&target, &["new", "b/ü"]).await?;
    assert_eq!(docs["new"].text, "from the export");
    let both = &docs["b/ü"].text;
    assert!(
        both.contains("export side ") && both.contains("target side"),
        "{both}"
    );
    // Merging again changes nothing, and appends nothing: the target holds all of it.
    let rows = |stats: Option<plait_storage::DocStats>| stats.map(|s| s.log_updates);
    let before = rows(target_store.stats("b/ü").await?);
    let again = plait(&["import", "--merge", "--database-url", &target, &dir.arg()])
        .await?
        .ok()?;
    ensure!(
        again
            .stdout
            .contains("0 new, 0 merged into existing documents, 2 already up to date"),
        "{again}"
    );
    assert_eq!(contents(&target, &["new", "b/ü"]).await?, docs);
    assert_eq!(rows(target_store.stats("b/ü").await?), before);
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_existing_documents_are_refused_unless_merge() -> Result<()> {
    existing_documents_are_refused_unless_merge(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_existing_documents_are_refused_unless_merge() -> Result<()> {
    existing_documents_are_refused_unless_merge(true).await
}

async fn a_damaged_export_imports_nothing(postgres: bool) -> Result<()> {
    let (source_db, target_db) = (
        FreshDb::create(postgres).await?,
        FreshDb::create(postgres).await?,
    );
    let (source, target) = (source_db.url()?, target_db.url()?);
    populate(&source).await?;
    let dir = TempDir::new();
    let manifest = export(&source, &dir).await?;
    let entry = &manifest["documents"][1];
    let (name, file) = (
        entry["name"].as_str().context("name")?,
        entry["file"].as_str().context("file")?,
    );
    let path = dir.path().join(file);
    let good = std::fs::read(&path)?;

    // One byte changed: the checksum says so, naming the file and the document.
    let mut flipped = good.clone();
    flipped[good.len() / 2] ^= 0x20;
    std::fs::write(&path, &flipped)?;
    let out = plait(&["import", "--database-url", &target, &dir.arg()]).await?;
    ensure!(out.code == Some(1), "{out}");
    for expected in [
        file,
        &format!("{name:?}"),
        "SHA-256",
        "nothing was imported",
    ] {
        ensure!(out.stderr.contains(expected), "{expected:?} not in:\n{out}");
    }

    // Garbage whose checksum matches (the manifest edited too): the state check says so.
    let garbage = b"\x05\xff\xff\xff\xff\x0f not yjs".to_vec();
    std::fs::write(&path, &garbage)?;
    let mut edited = manifest.clone();
    edited["documents"][1]["bytes"] = garbage.len().into();
    edited["documents"][1]["sha256"] = sha256_hex(&garbage).into();
    std::fs::write(
        dir.path().join("manifest.json"),
        serde_json::to_vec(&edited)?,
    )?;
    let out = plait(&["import", "--database-url", &target, &dir.arg()]).await?;
    ensure!(out.code == Some(1), "{out}");
    ensure!(out.stderr.contains("not a valid Yjs v1 update"), "{out}");

    // Nothing of either attempt is in the target.
    let store = SeaStore::connect(&target).await?;
    for name in NAMES {
        ensure!(store.stats(name).await?.is_none(), "{name:?} was imported");
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_damaged_export_imports_nothing() -> Result<()> {
    a_damaged_export_imports_nothing(false).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_damaged_export_imports_nothing() -> Result<()> {
    a_damaged_export_imports_nothing(true).await
}

#[tokio::test]
async fn export_refuses_a_missing_database_and_a_non_empty_directory() -> Result<()> {
    let missing = SqliteFile::new()?;
    let dir = TempDir::new();
    let out = plait(&[
        "export",
        "--database-url",
        &missing.url(),
        "--out",
        &dir.arg(),
    ])
    .await?;
    ensure!(
        out.code == Some(1) && out.stderr.contains("no database file"),
        "{out}"
    );
    ensure!(!missing.path().exists(), "the export created the database");
    ensure!(!dir.path().exists(), "the export left a directory behind");

    let source = SqliteFile::new()?;
    populate(&source.url()).await?;
    std::fs::create_dir_all(dir.path())?;
    std::fs::write(dir.path().join("precious.txt"), "keep me")?;
    let out = plait(&[
        "export",
        "--database-url",
        &source.url(),
        "--out",
        &dir.arg(),
    ])
    .await?;
    ensure!(
        out.code == Some(1) && out.stderr.contains("is not empty"),
        "{out}"
    );
    ensure!(std::fs::read_to_string(dir.path().join("precious.txt"))? == "keep me");
    Ok(())
}

/// SQLite keeps any value in any column: a document whose name is not text cannot be exported
/// (nor served); the export says which and exports the rest.
#[tokio::test]
async fn sqlite_export_skips_a_document_whose_name_is_not_text() -> Result<()> {
    let source = SqliteFile::new()?;
    populate(&source.url()).await?;
    let store = SeaStore::connect(&source.url()).await?;
    store
        .connection()
        .execute_unprepared("UPDATE documents SET name = X'FF00' WHERE name = 'plain'")
        .await?;
    let dir = TempDir::new();
    let out = plait(&[
        "export",
        "--database-url",
        &source.url(),
        "--out",
        &dir.arg(),
    ])
    .await?
    .ok()?;
    ensure!(
        out.stderr
            .contains("warning: document id 1 is not exported"),
        "{out}"
    );
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.path().join("manifest.json"))?)?;
    assert_eq!(
        manifest["documents"].as_array().map(Vec::len),
        Some(NAMES.len() - 1)
    );
    let checked = plait(&["check", "--database-url", &source.url()]).await?;
    ensure!(
        checked.code == Some(1)
            && checked
                .stdout
                .contains("document id 1: the stored name is not text"),
        "{checked}"
    );
    Ok(())
}
