//! RESTHeart's write modes (`?wm=` or `?writeMode=`): what a write does when its document is
//! there and when it is not. The defaults are RESTHeart's: POST inserts, PUT and PATCH update
//! (a missing document is 404: `?wm=upsert` creates it).

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteMode {
    /// Create the document; one that exists is a conflict (409), for a PATCH too (RESTHeart's
    /// upsert cannot match an existing document there, and MongoDB reports the duplicate key).
    Insert,
    /// Change the document that exists; a missing one is 404.
    Update,
    /// Change the document, or create it.
    Upsert,
}

impl WriteMode {
    /// The parameter's value, in any case as RESTHeart reads it. Where RESTHeart falls back to
    /// the default for a value it does not know, this is a 400: a misspelt `wm=upsret` must not
    /// quietly become an update.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.to_ascii_lowercase().as_str() {
            "insert" => Ok(Self::Insert),
            "update" => Ok(Self::Update),
            "upsert" => Ok(Self::Upsert),
            _ => Err(format!(
                "write mode {value:?}: use wm=insert, wm=update or wm=upsert"
            )),
        }
    }

    /// Whether a missing document may be created.
    pub fn creates(self) -> bool {
        self != Self::Update
    }
}

/// 404 for a write whose mode does not create the missing document it names.
pub fn missing(db: &str, coll: &str, id: &str) -> crate::error::AppError {
    crate::error::AppError::NotFound(format!(
        "no document {id:?} in {db}/{coll} to update (write mode update: RESTHeart's default for \
         PUT and PATCH); ?wm=upsert creates it"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_in_any_case_and_a_misspelt_one_is_an_error() {
        assert_eq!(WriteMode::parse("UPSERT"), Ok(WriteMode::Upsert));
        assert_eq!(WriteMode::parse("insert"), Ok(WriteMode::Insert));
        assert_eq!(WriteMode::parse("Update"), Ok(WriteMode::Update));
        assert!(WriteMode::parse("upsret")
            .unwrap_err()
            .contains("wm=upsert"));
        assert!(WriteMode::Upsert.creates() && WriteMode::Insert.creates());
        assert!(!WriteMode::Update.creates());
    }
}
