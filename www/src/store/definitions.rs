//! The `streams` table: change-stream definitions, stored as their raw stages.

use rusqlite::{params, OptionalExtension};
use serde_json::Value;

use super::{parse_body, Store};
use crate::error::AppResult;

impl Store {
    /// The raw stages of stream `name` on `db/coll`, if defined.
    pub fn stream_stages(&self, db: &str, coll: &str, name: &str) -> AppResult<Option<Value>> {
        let stages: Option<String> = self
            .lock()
            .query_row(
                "SELECT stages FROM streams WHERE db = ?1 AND coll = ?2 AND name = ?3",
                params![db, coll, name],
                |r| r.get(0),
            )
            .optional()?;
        stages.map(|s| parse_body(&s)).transpose()
    }

    /// Creates or replaces the named streams (others on the collection are kept).
    pub fn put_streams(&self, db: &str, coll: &str, streams: &[(String, Value)]) -> AppResult<()> {
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for (name, stages) in streams {
            tx.execute(
                "INSERT INTO streams (db, coll, name, stages) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (db, coll, name) DO UPDATE SET stages = excluded.stages",
                params![db, coll, name, stages.to_string()],
            )?;
        }
        tx.commit()?;
        Ok(())
    }
}
