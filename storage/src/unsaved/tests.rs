use super::*;
use crate::memory::MemoryStore;

fn update(doc: &str, data: &[u8]) -> NewUpdate {
    NewUpdate {
        doc: doc.to_owned(),
        data: bytes::Bytes::copy_from_slice(data),
        authors: None,
    }
}

/// The label the tests save under, as the server's would be.
const DB: &str = "sqlite://plait.db?mode=rwc";

fn ours(update: &NewUpdate) -> Record {
    Record {
        database: Some(DB.to_owned()),
        update: update.clone(),
    }
}

fn temp_path(tag: &str) -> PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    std::env::temp_dir().join(format!(
        "plait-unsaved-{tag}-{}-{nanos}.bin",
        std::process::id()
    ))
}

/// Saves and starts leave `<path>.lock` behind by design; the tests tidy it up.
fn remove_lock(path: &Path) {
    let _ = std::fs::remove_file(lock_path(path));
}

#[test]
fn saves_append_and_read_back_in_order() {
    let path = temp_path("order");
    let mut by_alice = update("a", b"\x01\x02");
    by_alice.authors = Some(r#"[{"sub":"alice","via":"ws"}]"#.into());
    let first = [by_alice, update("b/é", &[0; 300])];
    let second = [update("a", b"")];
    save(&path, DB, &first).unwrap();
    save(&path, DB, &second).unwrap();
    let recovered = read(&path).unwrap().unwrap();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "document contents readable by others");
    }
    std::fs::remove_file(&path).unwrap();
    let expected: Vec<Record> = first.iter().chain(&second).map(ours).collect();
    assert_eq!(recovered.records, expected);
    assert_eq!(recovered.damaged_tail, 0);
    remove_lock(&path);
}

#[test]
fn a_missing_file_is_none() {
    assert_eq!(read(&temp_path("missing")).unwrap(), None);
}

#[test]
fn a_torn_last_record_keeps_the_whole_ones_before_it() {
    let path = temp_path("torn");
    save(&path, DB, &[update("a", b"first"), update("a", b"second")]).unwrap();
    let bytes = std::fs::read(&path).unwrap();
    std::fs::remove_file(&path).unwrap();
    for cut in 1..(MAGIC.len() + 1 + DB.len() + 2 + 7) {
        let recovered = decode(&bytes[..bytes.len() - cut]);
        assert_eq!(
            recovered.records,
            vec![ours(&update("a", b"first"))],
            "cut {cut}"
        );
        assert!(recovered.damaged_tail > 0, "cut {cut}");
    }
    let foreign = decode(b"not ours at all");
    assert!(foreign.records.is_empty());
    assert_eq!(foreign.damaged_tail, 15);
    remove_lock(&path);
}

#[tokio::test]
async fn replay_stores_everything_then_removes_the_file() {
    let path = temp_path("replay");
    save(&path, DB, &[update("doc", b"x"), update("other", b"y")]).unwrap();
    let store = MemoryStore::new();
    assert_eq!(replay(&store, &path, DB).await.unwrap().updates, 2);
    assert!(!path.exists());
    let stored = store.load("doc").await.unwrap().unwrap();
    assert_eq!(stored.updates.len(), 1);
    assert_eq!(stored.updates[0].1, b"x");
    assert_eq!(
        replay(&store, &path, DB).await.unwrap(),
        Replayed::default()
    );
    remove_lock(&path);
}

#[tokio::test]
async fn replay_keeps_the_file_when_the_database_fails() {
    let path = temp_path("failing");
    save(&path, DB, &[update("doc", b"x")]).unwrap();
    let store = crate::faulty::FaultyStore::new(MemoryStore::new());
    store.set_failing(true);
    let err = replay(&store, &path, DB).await.unwrap_err();
    assert!(matches!(err, UnsavedError::Store { count: 1, .. }), "{err}");
    assert!(path.exists(), "the only copy must stay on disk");
    store.set_failing(false);
    assert_eq!(replay(&store, &path, DB).await.unwrap().updates, 1);
    assert!(!path.exists());
    remove_lock(&path);
}

#[tokio::test]
async fn a_damaged_tail_is_moved_aside_after_storing_the_rest() {
    let path = temp_path("damaged");
    save(&path, DB, &[update("doc", b"kept")]).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"PLU2\x03db")
        .unwrap();
    let written = std::fs::read(&path).unwrap();
    let store = MemoryStore::new();
    let replayed = replay(&store, &path, DB).await.unwrap();
    assert_eq!(replayed.updates, 1);
    assert!(!path.exists());
    let stored = store.load("doc").await.unwrap().unwrap();
    assert_eq!(stored.updates[0].1, b"kept");
    let aside = replayed.damaged_kept_in.expect("moved aside");
    assert_eq!(
        std::fs::read(&aside).unwrap(),
        written,
        "kept whole for the operator"
    );
    std::fs::remove_file(&aside).unwrap();
    remove_lock(&path);
}

#[tokio::test]
async fn another_databases_updates_stay_in_the_file_for_it() {
    let path = temp_path("others");
    let theirs = "postgres://postgres@127.0.0.1:5432/team";
    save(&path, theirs, &[update("doc", b"theirs-1")]).unwrap();
    save(&path, DB, &[update("doc", b"ours")]).unwrap();
    save(&path, theirs, &[update("doc", b"theirs-2")]).unwrap();

    let here = MemoryStore::new();
    let replayed = replay(&here, &path, DB).await.unwrap();
    assert_eq!(replayed.updates, 1);
    assert_eq!(replayed.kept_for, BTreeMap::from([(theirs.to_owned(), 2)]));
    let stored = here.load("doc").await.unwrap().unwrap();
    assert_eq!(stored.updates.len(), 1, "a stranger's update stored here");
    assert_eq!(stored.updates[0].1, b"ours");

    // Nothing of ours left: a second start against this database leaves the file untouched.
    let before = std::fs::read(&path).unwrap();
    let again = replay(&here, &path, DB).await.unwrap();
    assert_eq!((again.updates, again.kept_for.len()), (0, 1));
    assert_eq!(std::fs::read(&path).unwrap(), before);

    let there = MemoryStore::new();
    let replayed = replay(&there, &path, theirs).await.unwrap();
    assert_eq!(replayed.updates, 2);
    assert!(replayed.kept_for.is_empty());
    assert!(!path.exists());
    let stored = there.load("doc").await.unwrap().unwrap();
    let data: Vec<&[u8]> = stored.updates.iter().map(|(_, d)| d.as_ref()).collect();
    assert_eq!(
        data,
        [b"theirs-1".as_slice(), b"theirs-2"],
        "saved order kept"
    );
    remove_lock(&path);
}

/// A store whose first append runs `during` before storing, as another server sharing the
/// file would act while this one waits for its database.
struct ActsDuringAppend {
    inner: MemoryStore,
    during: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

#[async_trait::async_trait]
impl DocStore for ActsDuringAppend {
    async fn load(&self, doc: &str) -> Result<Option<crate::StoredDoc>, StorageError> {
        self.inner.load(doc).await
    }
    async fn append(&self, batch: &[NewUpdate]) -> Result<Vec<crate::Seq>, StorageError> {
        let during = self.during.lock().unwrap().take();
        if let Some(during) = during {
            during();
        }
        self.inner.append(batch).await
    }
    async fn compact(&self, doc: &str) -> Result<u64, StorageError> {
        self.inner.compact(doc).await
    }
    async fn stats(&self, doc: &str) -> Result<Option<crate::DocStats>, StorageError> {
        self.inner.stats(doc).await
    }
    async fn updates_after(
        &self,
        doc: &str,
        after: crate::Seq,
        limit: u64,
    ) -> Result<Vec<(crate::Seq, Vec<u8>)>, StorageError> {
        self.inner.updates_after(doc, after, limit).await
    }
    async fn ping(&self) -> Result<(), StorageError> {
        self.inner.ping().await
    }
    async fn quarantine(
        &self,
        doc: &str,
        refused: &[plait_protocol::session::Refused],
    ) -> Result<(), StorageError> {
        self.inner.quarantine(doc, refused).await
    }
}

#[tokio::test]
async fn records_saved_while_a_start_stores_the_file_are_kept_and_stored() {
    let path = temp_path("concurrent");
    let theirs = "postgres://postgres@127.0.0.1:5432/team";
    save(&path, DB, &[update("doc", b"first")]).unwrap();
    let saver = path.clone();
    let store = ActsDuringAppend {
        inner: MemoryStore::new(),
        // A node sharing the working directory shuts down now, keeping two more updates.
        during: std::sync::Mutex::new(Some(Box::new(move || {
            save(&saver, DB, &[update("doc", b"saved meanwhile")]).unwrap();
            save(&saver, theirs, &[update("doc", b"theirs")]).unwrap();
        }))),
    };
    let replayed = replay(&store, &path, DB).await.unwrap();
    assert_eq!(replayed.updates, 2);
    assert_eq!(replayed.kept_for, BTreeMap::from([(theirs.to_owned(), 1)]));
    let stored = store.inner.load("doc").await.unwrap().unwrap();
    let data: Vec<&[u8]> = stored.updates.iter().map(|(_, d)| d.as_ref()).collect();
    assert_eq!(data, [b"first".as_slice(), b"saved meanwhile"]);
    let left = read(&path)
        .unwrap()
        .expect("the other database's record stays");
    std::fs::remove_file(&path).unwrap();
    remove_lock(&path);
    assert_eq!(
        left.records,
        vec![Record {
            database: Some(theirs.to_owned()),
            update: update("doc", b"theirs"),
        }]
    );
}

#[test]
fn the_lock_is_exclusive_while_held_and_free_after() {
    let path = temp_path("lock");
    let other = || File::open(lock_path(&path)).unwrap();
    locked(&path, || {
        let err = other().try_lock().unwrap_err();
        assert!(
            matches!(err, std::fs::TryLockError::WouldBlock),
            "another server could touch the file: {err:?}"
        );
        Ok(())
    })
    .unwrap();
    other().try_lock().expect("released after the look");
    remove_lock(&path);
}

#[tokio::test]
async fn a_start_without_a_file_creates_no_lock_file() {
    let path = temp_path("no-lock");
    replay(&MemoryStore::new(), &path, DB).await.unwrap();
    assert!(!lock_path(&path).exists());
}

#[tokio::test]
async fn first_version_records_are_stored_in_any_database() {
    let path = temp_path("v1");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC_V1);
    bytes.write_string("doc");
    bytes.write_buf(b"old");
    std::fs::write(&path, &bytes).unwrap();
    let store = MemoryStore::new();
    assert_eq!(replay(&store, &path, DB).await.unwrap().updates, 1);
    assert!(!path.exists());
    let stored = store.load("doc").await.unwrap().unwrap();
    assert_eq!(stored.updates[0].1, b"old");
    remove_lock(&path);
}

#[test]
fn second_version_records_read_without_authors() {
    let path = temp_path("v2");
    let mut bytes = Vec::new();
    bytes.extend_from_slice(MAGIC_V2);
    bytes.write_string(DB);
    bytes.write_string("doc");
    bytes.write_buf(b"v2");
    std::fs::write(&path, &bytes).unwrap();
    let recovered = read(&path).unwrap().unwrap();
    std::fs::remove_file(&path).unwrap();
    assert_eq!(recovered.records, [ours(&update("doc", b"v2"))]);
    assert_eq!(recovered.damaged_tail, 0);
}

#[tokio::test]
async fn a_damaged_file_still_keeps_other_databases_records_in_place() {
    let path = temp_path("damaged-others");
    let theirs = "postgres://postgres@127.0.0.1:5432/team";
    save(&path, theirs, &[update("doc", b"theirs")]).unwrap();
    save(&path, DB, &[update("doc", b"ours")]).unwrap();
    OpenOptions::new()
        .append(true)
        .open(&path)
        .unwrap()
        .write_all(b"PLU2\x01")
        .unwrap();
    let replayed = replay(&MemoryStore::new(), &path, DB).await.unwrap();
    assert_eq!(replayed.updates, 1);
    let aside = replayed.damaged_kept_in.expect("moved aside");
    std::fs::remove_file(&aside).unwrap();
    let left = read(&path)
        .unwrap()
        .expect("rewritten for the other database");
    std::fs::remove_file(&path).unwrap();
    assert_eq!(left.damaged_tail, 0);
    assert_eq!(
        left.records,
        vec![Record {
            database: Some(theirs.to_owned()),
            update: update("doc", b"theirs"),
        }]
    );
    remove_lock(&path);
}

proptest::proptest! {
    /// Whatever the file holds, reading it never panics; records written read back whole, with
    /// their authors, and a cut anywhere keeps the whole records before it.
    #[test]
    fn records_read_back_and_garbage_never_panics(
        records in proptest::collection::vec(("\\PC{0,12}", proptest::collection::vec(proptest::num::u8::ANY, 0..40), proptest::option::of("\\PC{1,20}")), 0..6),
        garbage in proptest::collection::vec(proptest::num::u8::ANY, 0..200),
        cut in 0usize..2000,
    ) {
        let written: Vec<Record> = records
            .into_iter()
            .map(|(doc, data, authors)| {
                let mut u = update(&doc, &data);
                u.authors = authors.map(Into::into);
                ours(&u)
            })
            .collect();
        let mut bytes = Vec::new();
        for record in &written {
            encode_record(&mut bytes, record.database.as_deref(), &record.update);
        }
        let whole = decode(&bytes);
        proptest::prop_assert_eq!(&whole.records, &written);
        proptest::prop_assert_eq!(whole.damaged_tail, 0);
        let cut = cut.min(bytes.len());
        let torn = decode(&bytes[..cut]);
        proptest::prop_assert!(written.starts_with(&torn.records));
        let _ = decode(&garbage);
    }
}
