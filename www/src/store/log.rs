//! Reading the event log back for replay: in batches bounded in count *and* bytes, with the
//! store lock held only while rows are copied out (never while JSON is parsed), and a row that
//! no longer parses reported as such instead of failing the whole batch.

use std::sync::Arc;

use rusqlite::params;
use serde_json::Value;

use super::{Change, Operation, Store};
use crate::error::AppResult;

/// One row of the log as replay sees it.
#[derive(Debug)]
pub enum Logged {
    Change(Arc<Change>),
    /// A row whose stored event cannot be parsed (written by an older version, or damaged).
    /// Its position and document are still known, so a stream can say exactly what it lost.
    Unreadable {
        seq: u64,
        db: String,
        coll: String,
        doc_id: String,
        why: String,
    },
}

impl Logged {
    pub fn seq(&self) -> u64 {
        match self {
            Self::Change(c) => c.seq,
            Self::Unreadable { seq, .. } => *seq,
        }
    }
}

/// How much one replay query may read.
#[derive(Debug, Clone, Copy)]
pub struct ReplayBatch {
    pub max_events: u64,
    /// Stored event text, summed; a batch always takes at least one row, however large.
    pub max_bytes: usize,
}

struct Row {
    seq: i64,
    db: String,
    coll: String,
    doc_id: String,
    op: String,
    revision: i64,
    event: String,
}

impl Store {
    /// Logged changes with `seq > after`, oldest first, within `batch`; only those of one
    /// collection when `coll` is given. A short batch does not mean the log is exhausted:
    /// read again after the last `seq` until an empty batch comes back.
    pub fn events_after(
        &self,
        after: u64,
        coll: Option<(&str, &str)>,
        batch: ReplayBatch,
    ) -> AppResult<Vec<Logged>> {
        let rows = {
            let conn = self.lock();
            let (db, name) = coll.unwrap_or(("", ""));
            let mut stmt = conn.prepare_cached(
                "SELECT seq, db, coll, doc_id, op, revision, event FROM events
                 WHERE seq > ?1 AND (?2 = '' OR (db = ?2 AND coll = ?3)) ORDER BY seq LIMIT ?4",
            )?;
            let mut rows = stmt.query(params![after as i64, db, name, batch.max_events as i64])?;
            let (mut out, mut bytes) = (Vec::new(), 0usize);
            while let Some(r) = rows.next()? {
                let row = Row {
                    seq: r.get(0)?,
                    db: r.get(1)?,
                    coll: r.get(2)?,
                    doc_id: r.get(3)?,
                    op: r.get(4)?,
                    revision: r.get(5)?,
                    event: r.get(6)?,
                };
                bytes += row.event.len();
                out.push(row);
                if bytes >= batch.max_bytes {
                    break;
                }
            }
            out
        };
        Ok(rows.into_iter().map(parse_row).collect())
    }
}

fn parse_row(row: Row) -> Logged {
    let seq = row.seq as u64;
    let parsed = Operation::parse(&row.op)
        .ok_or_else(|| format!("unknown operation {:?}", row.op))
        .and_then(|op| {
            serde_json::from_str::<Value>(&row.event)
                .map(|event| (op, event))
                .map_err(|e| e.to_string())
        });
    match parsed {
        Ok((op, event)) => Logged::Change(Arc::new(Change::new(
            seq,
            row.db,
            row.coll,
            row.doc_id,
            op,
            row.revision,
            event,
        ))),
        Err(why) => {
            tracing::error!(seq, %why, "an event in the log cannot be parsed; streams send reset for it");
            Logged::Unreadable {
                seq,
                db: row.db,
                coll: row.coll,
                doc_id: row.doc_id,
                why,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::{json, Map};

    use crate::store::{process_base, resume_point, ResumeError, Store};

    #[test]
    fn an_in_memory_log_numbers_from_the_process_base() {
        // So that a restarted `--memory` server never numbers its changes as an earlier one
        // did: a resume id from before the restart is below the floor, and gets `reset`.
        let store = Store::open(None).unwrap();
        let base = process_base();
        assert_eq!((store.floor(), store.head().unwrap()), (base, base));
        let doc: Map<_, _> = json!({"n": 1}).as_object().unwrap().clone();
        store.insert("shop", "products", doc).unwrap();
        assert_eq!(store.head().unwrap(), base + 1);
        let batch = super::ReplayBatch {
            max_events: 10,
            max_bytes: 1 << 20,
        };
        let logged = store.events_after(0, None, batch).unwrap();
        assert_eq!(
            logged.iter().map(|l| l.seq()).collect::<Vec<_>>(),
            [base + 1]
        );
        assert_eq!(
            resume_point("3", store.floor(), base + 1, 10_000),
            Err(ResumeError::Unknown)
        );
        assert_eq!(
            resume_point(&base.to_string(), store.floor(), base + 1, 10_000),
            Ok(base)
        );
    }
}
