//! SQLite storage: JSON documents per `<db>/<coll>` and the append-only events log, always
//! written in one transaction, then announced on a broadcast channel in commit order. Also
//! here: the change events it logs (`change`), document ids (`doc_id`), resume ids (`ids`), reading
//! the log back for replay (`log`), stream definitions (`definitions`), what may be stored
//! (`validate`).

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::{Map, Value};

use crate::error::{AppError, AppResult};
use crate::sse::{ConnCut, Fanout, Subscription};

mod change;
mod definitions;
mod doc_id;
mod ejson;
mod etag;
mod ids;
mod log;
mod update;
mod validate;
mod write_mode;
use change::change_event;
pub use change::{Change, Live, Operation};
pub use doc_id::{is_object_id_hex, key_of, lower_object_ids, DocId};
pub use ejson::{equal, is_scalar, is_type_key};
pub use etag::{etag_of, Precondition};
pub use ids::{process_base, resume_point, ResumeError};
pub use log::{Logged, ReplayBatch};
use validate::{check_depth, check_field_names, check_value, with_id};
pub use write_mode::WriteMode;

/// How many changes a subscriber may fall behind the newest before it is cut off (and has to
/// resume from the log). Shared by all subscribers: one ring, not a buffer per client.
pub const CHANGE_CHANNEL_CAPACITY: usize = 4096;

/// Largest document an update may make, as JSON: MongoDB's limit (16 MiB of BSON).
pub const MAX_DOC_BYTES: usize = 16 * 1024 * 1024;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS documents (
    db TEXT NOT NULL, coll TEXT NOT NULL, id TEXT NOT NULL,
    body TEXT NOT NULL, revision INTEGER NOT NULL,
    PRIMARY KEY (db, coll, id)
);
-- AUTOINCREMENT: a sequence number is never reused, so resume ids stay unambiguous.
CREATE TABLE IF NOT EXISTS events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    db TEXT NOT NULL, coll TEXT NOT NULL, doc_id TEXT NOT NULL,
    op TEXT NOT NULL, revision INTEGER NOT NULL, event TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_coll ON events (db, coll, seq);
CREATE TABLE IF NOT EXISTS streams (
    db TEXT NOT NULL, coll TEXT NOT NULL, name TEXT NOT NULL, stages TEXT NOT NULL,
    PRIMARY KEY (db, coll, name)
);
-- The demo stream: every operation on shop/products.
INSERT OR IGNORE INTO streams VALUES ('shop', 'products', 'changes', '[]');
";

/// A document change decided inside a write transaction, logged before commit.
struct Pending {
    doc_id: String,
    op: Operation,
    revision: i64,
    before: Option<Value>,
    after: Option<Value>,
}

pub struct Store {
    conn: Mutex<Connection>,
    changes: Fanout<Arc<Change>>,
    /// Where the log's ids start: 0 on disk, where they outlive the process; `process_base()`
    /// in memory, so that a restarted server never numbers its events as an earlier one did.
    floor: u64,
}

impl Store {
    pub fn open(dir: Option<&Path>) -> AppResult<Self> {
        let conn = match dir {
            Some(dir) => {
                let path = dir.join("livesource.sqlite3");
                create_private(&path)?;
                let conn = Connection::open(&path)?;
                // WAL + NORMAL: a committed change survives a process crash, which is what
                // resume-across-restart needs; fsync per commit would only guard power loss.
                conn.pragma_update(None, "journal_mode", "WAL")?;
                conn.pragma_update(None, "synchronous", "NORMAL")?;
                conn
            }
            None => Connection::open_in_memory()?,
        };
        conn.execute_batch(SCHEMA)?;
        let floor = match dir {
            Some(_) => 0,
            None => {
                let base = ids::process_base();
                conn.execute(
                    "INSERT INTO sqlite_sequence (name, seq) VALUES ('events', ?1)",
                    [base as i64],
                )?;
                base
            }
        };
        let changes = Fanout::new(CHANGE_CHANNEL_CAPACITY);
        Ok(Self {
            conn: Mutex::new(conn),
            changes,
            floor,
        })
    }

    /// Live changes from now on, in log order. Subscribe *before* reading the log to resume
    /// without a gap; drop live changes whose `seq` the replay already covered.
    /// `cut` closes the subscriber's connection if it falls too far behind (see `sse::Fanout`).
    pub fn subscribe(&self, cut: Option<ConnCut>) -> Subscription<Arc<Change>> {
        self.changes.subscribe(cut)
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent (transactions roll
        // back on drop), so a poisoned lock is still safe to use.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Newest sequence number in the log; the floor when it is empty.
    pub fn head(&self) -> AppResult<u64> {
        let conn = self.lock();
        let seq: i64 = conn.query_row(
            "SELECT COALESCE(MAX(seq), ?1) FROM events",
            [self.floor as i64],
            |r| r.get(0),
        )?;
        Ok(seq as u64)
    }

    /// Where the log's ids start (see `resume_point`).
    pub fn floor(&self) -> u64 {
        self.floor
    }

    /// Runs `f` in a transaction; if it reports a change, logs it in the same transaction,
    /// commits, and broadcasts it while still holding the lock so that broadcast order is
    /// exactly log order.
    fn write<T>(
        &self,
        db: &str,
        coll: &str,
        f: impl FnOnce(&Transaction) -> AppResult<(T, Option<Pending>)>,
    ) -> AppResult<T> {
        self.write_all(db, coll, |tx| {
            f(tx).map(|(out, pending)| (out, pending.into_iter().collect()))
        })
    }

    /// `write` for any number of changes: all of them are logged and committed in one
    /// transaction (all or nothing), then broadcast in log order.
    fn write_all<T>(
        &self,
        db: &str,
        coll: &str,
        f: impl FnOnce(&Transaction) -> AppResult<(T, Vec<Pending>)>,
    ) -> AppResult<T> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let (out, pending) = f(&tx)?;
        if pending.is_empty() {
            return Ok(out);
        }
        let mut changes = Vec::with_capacity(pending.len());
        {
            let mut log = tx.prepare_cached(
                "INSERT INTO events (db, coll, doc_id, op, revision, event) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for p in pending {
                let event = change_event(
                    db,
                    coll,
                    &p.doc_id,
                    p.op,
                    p.before.as_ref(),
                    p.after.as_ref(),
                );
                let change =
                    Change::new(0, db.into(), coll.into(), p.doc_id, p.op, p.revision, event);
                log.execute(params![
                    db,
                    coll,
                    change.doc_id,
                    p.op.as_str(),
                    p.revision,
                    change.data
                ])?;
                changes.push(Change {
                    seq: tx.last_insert_rowid() as u64,
                    ..change
                });
            }
        }
        tx.commit()?;
        for change in changes {
            let seq = change.seq;
            // No receivers is fine: nobody is listening right now.
            let _ = self.changes.send(Arc::new(change));
            self.changes.advance(seq);
        }
        Ok(out)
    }

    pub fn insert(&self, db: &str, coll: &str, doc: Map<String, Value>) -> AppResult<Value> {
        let (id, doc) = with_id(doc)?;
        self.write(db, coll, |tx| {
            insert_row(tx, db, coll, id.key(), &doc)?;
            let pending = Pending {
                doc_id: id.key().to_owned(),
                op: Operation::Insert,
                revision: 1,
                before: None,
                after: Some(doc.clone()),
            };
            Ok((doc.clone(), Some(pending)))
        })
    }

    /// Inserts every document in one transaction, each logged as its own `insert` event in
    /// array order: either all are stored or none (an invalid `_id`, a duplicate inside the
    /// batch or an existing `_id` fails the whole batch). Returns the ids, in order.
    pub fn insert_many(
        &self,
        db: &str,
        coll: &str,
        docs: Vec<Map<String, Value>>,
    ) -> AppResult<Vec<DocId>> {
        let docs = docs
            .into_iter()
            .enumerate()
            .map(|(i, doc)| {
                with_id(doc).map_err(|e| AppError::BadRequest(format!("document {i}: {e}")))
            })
            .collect::<AppResult<Vec<_>>>()?;
        self.write_all(db, coll, |tx| {
            let mut ids = Vec::with_capacity(docs.len());
            let mut pending = Vec::with_capacity(docs.len());
            for (i, (id, doc)) in docs.into_iter().enumerate() {
                insert_row(tx, db, coll, id.key(), &doc).map_err(|e| match e {
                    AppError::Conflict(m) => AppError::Conflict(format!("document {i}: {m}")),
                    other => other,
                })?;
                pending.push(Pending {
                    doc_id: id.key().to_owned(),
                    op: Operation::Insert,
                    revision: 1,
                    before: None,
                    after: Some(doc),
                });
                ids.push(id);
            }
            Ok((ids, pending))
        })
    }

    pub fn get(&self, db: &str, coll: &str, id: &str) -> AppResult<Option<Value>> {
        let id = DocId::from_path(id).map_err(AppError::BadRequest)?;
        let id = id.key();
        let body = {
            let conn = self.lock();
            load_raw(&conn, db, coll, id)?
        };
        body.map(|(body, _)| parse_body(&body)).transpose()
    }

    /// Documents newest first (RESTHeart's default sort, descending `_id`), `limit` at most,
    /// after skipping `offset`: the first page of a growing collection shows what just changed.
    pub fn list(&self, db: &str, coll: &str, offset: u64, limit: u64) -> AppResult<Vec<Value>> {
        let offset = i64::try_from(offset)
            .map_err(|_| AppError::bad_request("page is too large for the collection's size"))?;
        let bodies = {
            let conn = self.lock();
            let mut stmt = conn.prepare_cached(
                "SELECT body FROM documents WHERE db = ?1 AND coll = ?2 ORDER BY rowid DESC LIMIT ?3 OFFSET ?4",
            )?;
            let rows = stmt.query_map(params![db, coll, limit as i64, offset], |r| {
                r.get::<_, String>(0)
            })?;
            rows.collect::<Result<Vec<_>, _>>()?
        };
        // Parsed after the lock is released: writers never wait on JSON parsing.
        bodies.iter().map(|body| parse_body(body)).collect()
    }

    /// Replaces the document, or creates it where `mode` allows; returns it and whether it was
    /// created. A `precondition` is checked against the document replaced (one created checks
    /// nothing).
    pub fn replace(
        &self,
        db: &str,
        coll: &str,
        id: &str,
        mut doc: Map<String, Value>,
        mode: WriteMode,
        precondition: &Precondition,
    ) -> AppResult<(Value, bool)> {
        let id = DocId::from_path(id).map_err(AppError::BadRequest)?;
        if !body_id_matches(doc.get("_id"), &id)? {
            return Err(AppError::bad_request(
                "_id in the body must match the id in the path",
            ));
        }
        // A document read back and sent again carries its old tag: the server writes its own.
        doc.remove(etag::FIELD);
        check_field_names(&doc)?;
        doc.insert("_id".into(), id.json());
        etag::stamp(&mut doc);
        let id = id.key();
        let mut doc = Value::Object(doc);
        lower_object_ids(&mut doc);
        check_depth(&doc)?;
        self.write(db, coll, |tx| {
            let existing = load(tx, db, coll, id)?;
            match &existing {
                Some(_) if mode == WriteMode::Insert => {
                    return Err(AppError::Conflict(format!(
                        "a document with _id {id:?} already exists (?wm=insert only creates)"
                    )))
                }
                Some((before, _)) => precondition.check(etag_of(before))?,
                None if !mode.creates() => return Err(write_mode::missing(db, coll, id)),
                None => {}
            }
            let (op, revision, before) = match existing {
                Some((before, rev)) => (Operation::Replace, rev + 1, Some(before)),
                None => (Operation::Insert, 1, None),
            };
            tx.execute(
                "INSERT INTO documents (db, coll, id, body, revision) VALUES (?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (db, coll, id) DO UPDATE SET body = excluded.body, revision = excluded.revision",
                params![db, coll, id, doc.to_string(), revision],
            )?;
            let created = before.is_none();
            let pending = Pending { doc_id: id.into(), op, revision, before, after: Some(doc.clone()) };
            Ok(((doc.clone(), created), Some(pending)))
        })
    }

    /// Updates the document as RESTHeart does (MongoDB update semantics: fields are `$set`,
    /// dotted paths, update operators; see `update`), or creates it from `{"_id": …}` where
    /// `mode` allows (an upsert: `$setOnInsert` applies). Returns it and whether it was
    /// created. Like RESTHeart, every update writes a new `_etag`, so even one that sets a
    /// field to its own value is a change.
    pub fn patch(
        &self,
        db: &str,
        coll: &str,
        id: &str,
        patch: &Map<String, Value>,
        mode: WriteMode,
        precondition: &Precondition,
    ) -> AppResult<(Value, bool)> {
        let id = DocId::from_path(id).map_err(AppError::BadRequest)?;
        if patch.is_empty() {
            // RESTHeart refuses an empty body (406); other bodies that change nothing but the
            // tag (`{"$set": {}}`) are updates there as here.
            return Err(AppError::bad_request(
                "the PATCH body has no fields to update",
            ));
        }
        let mut ops = update::parse(patch).map_err(AppError::BadRequest)?;
        // A tag sent back with the document is replaced, whatever it holds (as POST and PUT
        // replace it): not checked as data.
        ops.retain(
            |op| !matches!(op, update::Op::Set(p, _) if p.len() == 1 && p[0] == etag::FIELD),
        );
        for op in &mut ops {
            for value in op.values_mut() {
                check_value(value)?;
                lower_object_ids(value);
            }
            op.operands_mut().into_iter().for_each(lower_object_ids);
            if let update::Op::Set(path, value) | update::Op::SetOnInsert(path, value) = op {
                if path.len() == 1 && path[0] == "_id" && !body_id_matches(Some(value), &id)? {
                    return Err(AppError::bad_request("_id cannot be changed"));
                }
            }
        }
        let new = Value::Object(Map::from_iter([("_id".to_owned(), id.json())]));
        let id = id.key();
        self.write(db, coll, |tx| {
            let (before, rev) = match load(tx, db, coll, id)? {
                Some(_) if mode == WriteMode::Insert => {
                    return Err(AppError::Conflict(format!(
                        "a document with _id {id:?} already exists (?wm=insert only creates)"
                    )))
                }
                Some((before, rev)) => {
                    precondition.check(etag_of(&before))?;
                    (Some(before), rev)
                }
                None if mode.creates() => (None, 0),
                None => return Err(write_mode::missing(db, coll, id)),
            };
            let created = before.is_none();
            let start = before.as_ref().unwrap_or(&new);
            let mut after = update::apply(start, &ops, created).map_err(AppError::BadRequest)?;
            if let Value::Object(doc) = &mut after {
                etag::stamp(doc);
            }
            check_depth(&after)?;
            let body = after.to_string();
            if body.len() > MAX_DOC_BYTES {
                // Only updates can grow a document past the request size (`$push` after `$push`).
                return Err(AppError::BadRequest(format!(
                    "the document would be {} bytes, over MongoDB's limit of {MAX_DOC_BYTES}",
                    body.len()
                )));
            }
            if created {
                insert_row(tx, db, coll, id, &after)?;
            } else {
                tx.execute(
                    "UPDATE documents SET body = ?4, revision = ?5 WHERE db = ?1 AND coll = ?2 AND id = ?3",
                    params![db, coll, id, body, rev + 1],
                )?;
            }
            // An upsert that creates is an insert, as MongoDB's change streams report it.
            let op = if created { Operation::Insert } else { Operation::Update };
            let pending = Pending { doc_id: id.into(), op, revision: rev + 1, before, after: Some(after.clone()) };
            Ok(((after, created), Some(pending)))
        })
    }

    /// Deletes the document; `false` if there was none.
    pub fn delete(
        &self,
        db: &str,
        coll: &str,
        id: &str,
        precondition: &Precondition,
    ) -> AppResult<bool> {
        let id = DocId::from_path(id).map_err(AppError::BadRequest)?;
        let id = id.key();
        self.write(db, coll, |tx| {
            let Some((before, rev)) = load(tx, db, coll, id)? else {
                return Ok((false, None));
            };
            precondition.check(etag_of(&before))?;
            tx.execute(
                "DELETE FROM documents WHERE db = ?1 AND coll = ?2 AND id = ?3",
                params![db, coll, id],
            )?;
            let pending = Pending {
                doc_id: id.into(),
                op: Operation::Delete,
                revision: rev,
                before: Some(before),
                after: None,
            };
            Ok((true, Some(pending)))
        })
    }
}

/// Creates the database file readable by its owner only (SQLite gives its `-wal` and `-shm`
/// files the same mode). An existing file is tightened too: it holds every document.
fn create_private(path: &Path) -> AppResult<()> {
    let mut options = std::fs::OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let file = options
        .open(path)
        .map_err(|e| AppError::internal(format!("cannot open {}: {e}", path.display())))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(|e| AppError::internal(format!("cannot restrict {}: {e}", path.display())))?;
    }
    drop(file);
    Ok(())
}

/// Whether a body's `_id` (if it has one) names the document of the path.
fn body_id_matches(body_id: Option<&Value>, id: &DocId) -> AppResult<bool> {
    Ok(match body_id {
        None => true,
        Some(v) => &DocId::from_json(v).map_err(AppError::BadRequest)? == id,
    })
}

/// Stores a new document (revision 1); 409 if the `_id` is taken.
fn insert_row(tx: &Transaction, db: &str, coll: &str, id: &str, doc: &Value) -> AppResult<()> {
    let inserted = tx
        .prepare_cached(
            "INSERT OR IGNORE INTO documents (db, coll, id, body, revision) VALUES (?1, ?2, ?3, ?4, 1)",
        )?
        .execute(params![db, coll, id, doc.to_string()])?;
    if inserted == 0 {
        return Err(AppError::Conflict(format!(
            "a document with _id {id:?} already exists"
        )));
    }
    Ok(())
}

fn load_raw(conn: &Connection, db: &str, coll: &str, id: &str) -> AppResult<Option<(String, i64)>> {
    Ok(conn
        .prepare_cached(
            "SELECT body, revision FROM documents WHERE db = ?1 AND coll = ?2 AND id = ?3",
        )?
        .query_row(params![db, coll, id], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

/// Inside write transactions, which need the document to compute the change.
fn load(conn: &Connection, db: &str, coll: &str, id: &str) -> AppResult<Option<(Value, i64)>> {
    load_raw(conn, db, coll, id)?
        .map(|(body, rev)| Ok((parse_body(&body)?, rev)))
        .transpose()
}

fn parse_body(body: &str) -> AppResult<Value> {
    serde_json::from_str(body)
        .map_err(|e| AppError::internal(format!("stored JSON is corrupt: {e}")))
}
