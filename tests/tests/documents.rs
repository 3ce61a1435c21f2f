//! Documents as data over HTTP, against a server on a SQLite file: `PUT .../json` reaches a
//! connected client live and round-trips through `GET .../json`; typing lands in the projection
//! table and search; a row another program inserts while nobody holds the document is searchable
//! at once; the list pages within a token's scope. With two nodes on PostgreSQL, a `PUT` through
//! one reaches a client of the other. (The trash: `trash.rs`.)

use anyhow::{ensure, Context, Result};
use plait_server::auth::Mode;
use plait_tests::client::YClient;
use plait_tests::db::SqliteFile;
use plait_tests::docs_api::{bearer, call, get_json, names, start_sqlite as start, until};
use plait_tests::http;
use plait_tests::TIMEOUT;
use serde_json::json;
use yrs::{GetString, Map, Transact};

#[tokio::test]
async fn put_json_reaches_a_connected_client_and_round_trips() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let token = bearer("*", Mode::Write)?.replace("Bearer ", "");
    let client = YClient::connect(&format!("{}?token={token}", server.ws_url("page")), 7).await?;
    client.wait_synced().await?;
    client.push_text("title", "draft")?;
    client.wait_acked(TIMEOUT).await?;

    let res = call(
        addr,
        "PUT",
        "/api/docs/page/json?field=title",
        br#""Final title""#,
    )
    .await?;
    ensure!(res.status == 200, "PUT: {} {}", res.status, res.text());
    let seq = res.json()?["seq"].as_i64().context("the new position")?;
    ensure!(seq > 0);
    client
        .wait_until("the new title", TIMEOUT, |doc| {
            let text = doc.get_or_insert_text("title");
            text.get_string(&doc.transact()) == "Final title"
        })
        .await?;

    let meta = json!({"owner": "ada", "tags": ["a", 1, true], "nested": {"x": null}});
    let res = call(
        addr,
        "PUT",
        "/api/docs/page/json?field=meta",
        meta.to_string().as_bytes(),
    )
    .await?;
    ensure!(res.status == 200, "PUT map: {} {}", res.status, res.text());
    let pm = json!({"type": "doc", "content": [
        {"type": "heading", "attrs": {"level": 2}, "content": [{"type": "text", "text": "Hi"}]},
        {"type": "paragraph", "content": [
            {"type": "text", "text": "bold", "marks": [{"type": "bold", "attrs": {}}]},
            {"type": "text", "text": " plain"}
        ]}
    ]});
    let res = call(
        addr,
        "PUT",
        "/api/docs/page/json?field=default",
        pm.to_string().as_bytes(),
    )
    .await?;
    ensure!(
        res.status == 200,
        "PUT prosemirror: {} {}",
        res.status,
        res.text()
    );

    let all = get_json(addr, "/api/docs/page/json").await?;
    assert_eq!(all["title"], json!("Final title"));
    assert_eq!(all["meta"], meta);
    assert_eq!(all["default"], pm, "PUT then GET gives the same JSON");
    assert_eq!(
        get_json(addr, "/api/docs/page/json?field=default&format=text").await?,
        json!("Hi\nbold plain")
    );
    client
        .wait_until("the map", TIMEOUT, |doc| {
            let map = doc.get_or_insert_map("meta");
            let txn = doc.transact();
            map.get(&txn, "owner").map(|v| v.to_string(&txn)) == Some("ada".into())
        })
        .await?;

    // Refusals leave the document as it was.
    for (query, body, want) in [
        ("field=title", &b"{not json"[..], "not JSON"),
        ("field=title", br#"{"type":"doc","content":[]}"#, ""),
        ("", br#""x""#, "field"),
        (
            "field=default",
            br#"{"type":"doc","content":[{"text":"no type"}]}"#,
            "type",
        ),
    ] {
        let res = call(addr, "PUT", &format!("/api/docs/page/json?{query}"), body).await?;
        ensure!(
            res.status == 400,
            "PUT ?{query}: {} {}",
            res.status,
            res.text()
        );
        ensure!(
            res.text().contains(want),
            "the reason names it: {}",
            res.text()
        );
    }
    assert_eq!(get_json(addr, "/api/docs/page/json").await?, all);
    let res = call(
        addr,
        "GET",
        "/api/docs/page/json?field=title&format=prosemirror",
        b"",
    )
    .await?;
    ensure!(
        res.status == 400,
        "a format that does not fit: {}",
        res.status
    );
    let res = call(addr, "GET", "/api/docs/page/json?field=nothing", b"").await?;
    ensure!(res.status == 404, "no such field: {}", res.status);
    let res = call(addr, "GET", "/api/docs/never-written/json", b"").await?;
    ensure!(res.status == 404, "never written: {}", res.status);
    server.stop().await
}

#[tokio::test]
async fn typing_is_projected_searched_and_listed_within_the_scope() -> Result<()> {
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    let token = bearer("*", Mode::Write)?.replace("Bearer ", "");
    let client = YClient::connect(
        &format!("{}?token={token}", server.ws_url("team-a/notes")),
        3,
    )
    .await?;
    client.wait_synced().await?;
    client.push_text("body", "the quick brown fox")?;
    let other = YClient::connect(
        &format!("{}?token={token}", server.ws_url("team-b/plan")),
        4,
    )
    .await?;
    other.wait_synced().await?;
    other.push_text("body", "a brown bear")?;

    // The document task writes the projection a second after the edits settle.
    let conn = sea_orm::Database::connect(file.url()).await?;
    until("the projection row", || async {
        use sea_orm::ConnectionTrait;
        let row = conn
            .query_one_raw(sea_orm::Statement::from_string(
                sea_orm::DatabaseBackend::Sqlite,
                "SELECT json_extract(content, '$.body') AS body, plain_text \
                 FROM document_projections WHERE name = 'team-a/notes'",
            ))
            .await?;
        Ok(row
            .and_then(|r| r.try_get::<String>("", "body").ok())
            .as_deref()
            == Some("the quick brown fox"))
    })
    .await?;

    let found = get_json(addr, "/api/search?q=brown").await?;
    let mut hits = names(&found, "results");
    hits.sort();
    assert_eq!(hits, ["team-a/notes", "team-b/plan"]);
    let snippet = found["results"][0]["snippet"].as_str().unwrap_or_default();
    assert!(snippet.contains("**brown**"), "{snippet}");
    // A token for team-a sees team-a only, whatever the query's prefix.
    let team_a = bearer("team-a/*", Mode::Read)?;
    let res = http::request_with_headers(
        addr,
        "GET",
        "/api/search?q=brown",
        &[("Authorization", &team_a)],
        b"",
    )
    .await?;
    assert_eq!(names(&res.json()?, "results"), ["team-a/notes"]);
    let res = http::request_with_headers(
        addr,
        "GET",
        "/api/docs?prefix=team-b/",
        &[("Authorization", &team_a)],
        b"",
    )
    .await?;
    assert!(names(&res.json()?, "documents").is_empty());
    let res = call(addr, "GET", "/api/search?q=%20%2A%20", b"").await?;
    ensure!(res.status == 400, "no words: {}", res.status);

    // Another program appends to a document nobody holds: the next search sees it.
    let update = plait_testkit::ydoc::text_update(99, "body", "zebra crossing");
    {
        use sea_orm::ConnectionTrait;
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Sqlite,
            "INSERT INTO documents (name, snapshot_seq, snapshot_format, created_at, updated_at) \
             VALUES ('outside', 0, 1, datetime('now'), datetime('now'))",
            [],
        ))
        .await?;
        conn.execute_raw(sea_orm::Statement::from_sql_and_values(
            sea_orm::DatabaseBackend::Sqlite,
            "INSERT INTO document_updates (document_id, data, created_at) \
             SELECT id, $1, datetime('now') FROM documents WHERE name = 'outside'",
            [update.into()],
        ))
        .await?;
    }
    assert_eq!(
        names(&get_json(addr, "/api/search?q=zebra").await?, "results"),
        ["outside"]
    );

    // The list, a page at a time.
    let page = get_json(addr, "/api/docs?limit=2").await?;
    assert_eq!(names(&page, "documents"), ["outside", "team-a/notes"]);
    let next = page["next"].as_str().context("a next page")?.to_owned();
    let rest = get_json(
        addr,
        &format!("/api/docs?limit=2&after={}", next.replace('/', "%2F")),
    )
    .await?;
    assert_eq!(names(&rest, "documents"), ["team-b/plan"]);
    assert!(rest["next"].is_null());
    assert!(page["documents"][1]["bytes"].as_u64().unwrap_or(0) > 0);
    server.stop().await
}

/// Two nodes on PostgreSQL: a `PUT .../json` through one reaches a client of the other, and the
/// document is searchable through either.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_postgres_a_put_reaches_the_other_node() -> Result<()> {
    let (_db, a, b, _on_a, on_b) = plait_tests::docs_api::two_nodes_sharing_a_document().await?;

    let res = http::request(
        a.addr(),
        "PUT",
        "/api/docs/shared/json?field=t",
        br#""via a""#,
    )
    .await?;
    ensure!(res.status == 200, "PUT: {} {}", res.status, res.text());
    on_b.wait_until("a's PUT", TIMEOUT, |doc| {
        plait_testkit::ydoc::text(doc, "t") == "via a"
    })
    .await?;
    // Searchable through either node once projected.
    until("the projection", || async {
        let res = http::get(b.addr(), "/api/search?q=via").await?;
        Ok(names(&res.json()?, "results") == ["shared"])
    })
    .await?;

    a.stop().await?;
    b.stop().await
}

/// A root two updates wrote as two kinds (an array value, then a text): yrs cannot always edit
/// it, and `PUT .../json` answers 400 without changing anything, while rendering it (the
/// projection, `GET .../json`) returns instead of looping forever (see `content::sequence`).
#[tokio::test]
async fn a_root_written_as_two_kinds_is_refused_not_fatal() -> Result<()> {
    use yrs::{Array, ReadTxn, StateVector, Text, Transact};
    let file = SqliteFile::new()?;
    let server = start(&file, |c| c).await?;
    let addr = server.addr();
    // The text's client id is the lower: its characters come first, so the root reads as a text
    // (which yrs cannot edit while it also holds the array's value).
    let as_array = yrs::Doc::with_client_id(2);
    let array = as_array.get_or_insert_array("r");
    array.push_back(&mut as_array.transact_mut(), 1);
    let as_text = yrs::Doc::with_client_id(1);
    let text = as_text.get_or_insert_text("r");
    text.insert(&mut as_text.transact_mut(), 0, "é😀x");
    for doc in [&as_array, &as_text] {
        let update = doc
            .transact()
            .encode_state_as_update_v1(&StateVector::default());
        let res = call(addr, "POST", "/api/docs/mixed/update", &update).await?;
        ensure!(res.status == 200, "POST: {} {}", res.status, res.text());
    }
    let before = call(addr, "GET", "/api/docs/mixed/update", b"").await?.body;
    let res = call(addr, "GET", "/api/docs/mixed/json", b"").await?;
    ensure!(res.status == 200, "GET json: {} {}", res.status, res.text());
    let res = call(addr, "PUT", "/api/docs/mixed/json?field=r", br#""plain""#).await?;
    ensure!(
        res.status == 400 && res.text().contains("two kinds"),
        "PUT: {} {}",
        res.status,
        res.text()
    );
    let after = call(addr, "GET", "/api/docs/mixed/update", b"").await?.body;
    assert_eq!(after, before, "nothing changed");
    // The search renders it too (the projection), and the server goes on answering.
    let res = call(addr, "GET", "/api/search?q=plain", b"").await?;
    ensure!(res.status == 200, "search: {}", res.status);
    ensure!(call(addr, "GET", "/healthz", b"").await?.status == 200);
    server.stop().await
}
