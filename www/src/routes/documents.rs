//! `/<db>/<coll>[/<id>]`: documents as JSON (and the catalog page), plus stream definitions.

use axum::extract::{Path, RawQuery, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{json, Value};

use super::extract::{JsonObject, JsonValue, Query};
use crate::auth::{CanonicalPath, Claims};
use crate::error::{AppError, AppResult};
use crate::pages;
use crate::state::AppState;
use crate::store::{etag_of, key_of, DocId, Precondition, WriteMode};
use crate::streams::Pipeline;

/// Database, collection and stream names: what RESTHeart allows, minus anything that needs
/// escaping in a path. Names starting with `_` are reserved (`_streams`, `_publish`, …).
pub fn check_name(what: &str, name: &str) -> AppResult<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && !name.starts_with('_')
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(AppError::BadRequest(format!(
            "invalid {what} name: use 1-64 letters, digits, '_' or '-', not starting with '_'"
        )))
    }
}

fn check_coll(db: &str, coll: &str) -> AppResult<()> {
    check_name("database", db)?;
    check_name("collection", coll)
}

/// A request on `/<db>/<coll>` may touch paths below it (a bulk insert names documents, a
/// stream definition names streams). Where a rule reaches that deep, each such path must pass
/// its own rule, as a request made on it directly would.
fn check_below(
    state: &AppState,
    claims: Option<&Claims>,
    method: &Method,
    (db, coll): (&str, &str),
    below: impl IntoIterator<Item = Vec<String>>,
) -> AppResult<()> {
    if !state.rules.reaches_documents() {
        return Ok(());
    }
    below
        .into_iter()
        .try_for_each(|rest| check_path(state, claims, method, (db, coll), rest))
}

/// That the role may make a `method` request on `/<db>/<coll>/<rest…>`, as if it had.
fn check_path(
    state: &AppState,
    claims: Option<&Claims>,
    method: &Method,
    (db, coll): (&str, &str),
    rest: Vec<String>,
) -> AppResult<()> {
    let mut segments = vec![db.to_owned(), coll.to_owned()];
    segments.extend(rest);
    let path = CanonicalPath::from_segments(segments);
    if state.rules.allows(claims.map(|c| c.role), method, &path) {
        Ok(())
    } else {
        Err(AppError::Forbidden(format!(
            "this role may not {method} {path}"
        )))
    }
}

/// Most documents one array `POST` may insert: a batch never outruns a stream's ring of
/// 1024 changes by itself, so live subscribers keep up with any single request.
pub const MAX_BULK: usize = 1000;

/// `POST /<db>/<coll>`: a JSON object inserts one document (201, `Location`, the stored
/// document); with `?wm=update` or `?wm=upsert` it replaces the document its `_id` names (200),
/// or creates it (upsert). A JSON array inserts them all in one transaction, RESTHeart's bulk
/// POST (201, `{"inserted": n, "ids": [...], "links": [...]}`), or none of them if any is
/// invalid.
pub async fn create(
    State(state): State<AppState>,
    Path((db, coll)): Path<(String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    claims: Option<Extension<Claims>>,
    JsonValue(mut body): JsonValue,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    let (precondition, mode) = write_options(&headers, query.as_deref(), Some(WriteMode::Insert))?;
    // With `wm=update` or `wm=upsert` one object replaces the document its `_id` names: a PUT
    // on that document in effect, checked as one whatever the rules reach (an upsert that
    // creates is checked as a POST below too). An upsert without `_id` inserts.
    let named = match &body {
        Value::Object(doc) if mode != WriteMode::Insert => {
            let named = doc.get("_id").map(DocId::from_json).transpose();
            named
                .map_err(AppError::BadRequest)?
                .map(|id| id.key().to_owned())
        }
        _ => None,
    };
    if body.is_object() && mode == WriteMode::Update && named.is_none() {
        return Err(AppError::bad_request(
            "a POST with wm=update replaces the document its _id names: the body has no _id",
        ));
    }
    if let Some(id) = &named {
        check_path(
            &state,
            claims.as_deref(),
            &Method::PUT,
            (&db, &coll),
            vec![id.clone()],
        )?;
    }
    if state.rules.reaches_documents() {
        // Every new document gets its id here, so its own rule is checked before it exists.
        let docs: Vec<&mut Value> = match &mut body {
            Value::Array(docs) => docs.iter_mut().collect(),
            doc => vec![doc],
        };
        let mut ids = Vec::with_capacity(docs.len());
        for doc in docs {
            if let Value::Object(doc) = doc {
                let id = doc.entry("_id").or_insert_with(|| DocId::new_oid().json());
                // An invalid id is refused by the store, with the document's number.
                ids.extend(DocId::from_json(id).ok().map(|id| id.key().to_owned()));
            }
        }
        let below = ids.into_iter().map(|id| vec![id]);
        check_below(
            &state,
            claims.as_deref(),
            &Method::POST,
            (&db, &coll),
            below,
        )?;
    }
    let location_base = format!("/{db}/{coll}/");
    let docs = match body {
        Value::Object(doc) => {
            let (stored, created) = match named {
                None => (
                    state.blocking(move |s| s.insert(&db, &coll, doc)).await?,
                    true,
                ),
                Some(id) => {
                    state
                        .blocking(move |s| s.replace(&db, &coll, &id, doc, mode, &precondition))
                        .await?
                }
            };
            if !created {
                return Ok(written(stored, false));
            }
            let id = key_of(&stored).unwrap_or_default();
            let location = format!("{location_base}{id}");
            let location = HeaderValue::try_from(location).map_err(AppError::internal)?;
            let mut response = with_etag(StatusCode::CREATED, stored);
            response.headers_mut().insert(header::LOCATION, location);
            return Ok(response);
        }
        Value::Array(_) if mode != WriteMode::Insert => {
            return Err(AppError::bad_request(
                "a bulk POST (an array) inserts: livesource-dev has no bulk update or upsert",
            ))
        }
        Value::Array(docs) => docs,
        _ => {
            return Err(AppError::bad_request(
                "the body must be a JSON object, or an array of objects to insert them all",
            ))
        }
    };
    if docs.is_empty() {
        return Err(AppError::bad_request("the array holds no documents"));
    }
    if docs.len() > MAX_BULK {
        return Err(AppError::BadRequest(format!(
            "an array may hold at most {MAX_BULK} documents, got {}; send several requests",
            docs.len()
        )));
    }
    let docs = docs
        .into_iter()
        .enumerate()
        .map(|(i, doc)| match doc {
            Value::Object(doc) => Ok(doc),
            _ => Err(AppError::BadRequest(format!(
                "document {i}: every element of the array must be a JSON object"
            ))),
        })
        .collect::<AppResult<Vec<_>>>()?;
    let ids = state
        .blocking(move |s| s.insert_many(&db, &coll, docs))
        .await?;
    let links: Vec<String> = ids
        .iter()
        .map(|id| format!("{location_base}{}", id.key()))
        .collect();
    let ids: Vec<Value> = ids.iter().map(DocId::json).collect();
    Ok((
        StatusCode::CREATED,
        Json(json!({ "inserted": ids.len(), "ids": ids, "links": links })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct ListQuery {
    page: Option<u64>,
    pagesize: Option<u64>,
    // RESTHeart's list parameters that this server does not implement: refused by name, so a
    // page that sends one does not quietly get the whole unfiltered, unsorted list here and
    // something else from the real server. Any other parameter is left alone (a cache buster,
    // `access_token`).
    filter: Option<String>,
    keys: Option<String>,
    sort: Option<String>,
    hint: Option<String>,
    count: Option<String>,
    np: Option<String>,
    rep: Option<String>,
}

impl ListQuery {
    fn unsupported(&self) -> Option<&'static str> {
        [
            ("filter", &self.filter),
            ("keys", &self.keys),
            ("sort", &self.sort),
            ("hint", &self.hint),
            ("count", &self.count),
            ("np", &self.np),
            ("rep", &self.rep),
        ]
        .into_iter()
        .find_map(|(name, v)| v.as_ref().map(|_| name))
    }
}

/// JSON by default; the catalog page for `Accept: text/html`; only the list fragment for
/// htmx requests (`HX-Request: true`).
pub async fn list(
    State(state): State<AppState>,
    Path((db, coll)): Path<(String, String)>,
    Query(q): Query<ListQuery>,
    headers: HeaderMap,
    claims: Option<Extension<Claims>>,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    if let Some(name) = q.unsupported() {
        return Err(AppError::BadRequest(format!(
            "?{name}= is a RESTHeart list parameter that livesource-dev does not implement; \
             only page and pagesize are"
        )));
    }
    let pagesize = q.pagesize.unwrap_or(100);
    if !(1..=1000).contains(&pagesize) {
        return Err(AppError::bad_request("pagesize must be between 1 and 1000"));
    }
    let page = q.page.unwrap_or(1);
    if page == 0 {
        return Err(AppError::bad_request("page counts from 1"));
    }
    // A page past i64's range used to wrap to a negative offset, which SQLite reads as 0.
    let offset = (page - 1)
        .checked_mul(pagesize)
        .filter(|&o| i64::try_from(o).is_ok())
        .ok_or_else(|| AppError::bad_request("page is out of range"))?;
    let (d, c) = (db.clone(), coll.clone());
    let mut docs = state
        .blocking(move |s| s.list(&d, &c, offset, pagesize))
        .await?;
    if state.rules.reaches_documents() {
        // A rule on one document hides it from the list as it hides the document itself.
        let role = claims.map(|c| c.role);
        docs.retain(|doc| {
            let id = key_of(doc).unwrap_or_default();
            let path = CanonicalPath::document(&db, &coll, id);
            state.rules.allows(role, &Method::GET, &path)
        });
    }
    match pages::wanted(&headers) {
        pages::Wanted::Json => Ok(Json(docs).into_response()),
        wanted => state.pages.catalog(wanted, &db, &coll, &docs),
    }
}

/// What a write's request asks beyond its body: its condition on the document's `_etag` (its
/// `If-Match`, compared as sent, so a value that is not a tag fails to match: 412, and
/// RESTHeart's `?checkEtag`, whose presence is what counts) and its write mode (`?wm=` or
/// `?writeMode=`, else `default`; `None`: the method has none, and RESTHeart ignores `wm`).
fn write_options(
    headers: &HeaderMap,
    query: Option<&str>,
    default: Option<WriteMode>,
) -> AppResult<(Precondition, WriteMode)> {
    let if_match = headers
        .get(header::IF_MATCH)
        .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
    let params: Vec<(String, String)> = serde_urlencoded::from_str(query.unwrap_or_default())
        .map_err(|e| AppError::BadRequest(format!("malformed query: {e}")))?;
    let check_etag = params.iter().any(|(k, _)| k == "checkEtag");
    // RESTHeart reads `writeMode` before `wm`.
    let mode = match default {
        None => WriteMode::Update,
        Some(default) => ["writeMode", "wm"]
            .iter()
            .find_map(|name| params.iter().find(|(k, _)| k == name))
            .map(|(_, v)| WriteMode::parse(v).map_err(AppError::BadRequest))
            .transpose()?
            .unwrap_or(default),
    };
    Ok((Precondition::new(if_match, check_etag), mode))
}

/// The document as the body, its `_etag` as the `ETag` header (bare hex digits, as RESTHeart
/// sends it).
fn with_etag(status: StatusCode, doc: Value) -> Response {
    let etag = etag_header(&doc);
    let mut response = (status, Json(doc)).into_response();
    if let Some(etag) = etag {
        response.headers_mut().insert(header::ETAG, etag);
    }
    response
}

/// A write's answer: 201 for a document it created, 200 for one it changed.
fn written(doc: Value, created: bool) -> Response {
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    with_etag(status, doc)
}

fn etag_header(doc: &Value) -> Option<HeaderValue> {
    etag_of(doc).and_then(|t| HeaderValue::from_str(t).ok())
}

/// One document, with its `ETag`; 304 without a body when `If-None-Match` is that tag.
pub async fn get(
    State(state): State<AppState>,
    Path((db, coll, id)): Path<(String, String, String)>,
    headers: HeaderMap,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    let what = format!("no document {id:?} in {db}/{coll}");
    let doc = state
        .blocking(move |s| s.get(&db, &coll, &id))
        .await?
        .ok_or(AppError::NotFound(what))?;
    let unchanged = headers
        .get(header::IF_NONE_MATCH)
        .zip(etag_of(&doc))
        // As RESTHeart compares it for a read: the exact text (its tags are lower case).
        .is_some_and(|(sent, tag)| sent.as_bytes() == tag.as_bytes());
    if unchanged {
        let mut response = StatusCode::NOT_MODIFIED.into_response();
        if let Some(etag) = etag_header(&doc) {
            response.headers_mut().insert(header::ETAG, etag);
        }
        return Ok(response);
    }
    Ok(with_etag(StatusCode::OK, doc))
}

/// `PUT /<db>/<coll>/<id>`: replaces the document; creates it (201) with `?wm=upsert` or
/// `?wm=insert` (RESTHeart's default, update, answers 404 for a missing one). `If-Match` or
/// `?checkEtag` make a replacement conditional on the document's `_etag`.
pub async fn replace(
    State(state): State<AppState>,
    Path((db, coll, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonObject(doc): JsonObject,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    let (precondition, mode) = write_options(&headers, query.as_deref(), Some(WriteMode::Update))?;
    let (doc, created) = state
        .blocking(move |s| s.replace(&db, &coll, &id, doc, mode, &precondition))
        .await?;
    Ok(written(doc, created))
}

/// `PATCH /<db>/<coll>/<id>`: a MongoDB update of the document (see `store::update`); with
/// `?wm=upsert` a missing one is created (201). Conditional as `replace` is.
pub async fn patch(
    State(state): State<AppState>,
    Path((db, coll, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    JsonObject(patch): JsonObject,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    let (precondition, mode) = write_options(&headers, query.as_deref(), Some(WriteMode::Update))?;
    let (doc, created) = state
        .blocking(move |s| s.patch(&db, &coll, &id, &patch, mode, &precondition))
        .await?;
    Ok(written(doc, created))
}

pub async fn delete(
    State(state): State<AppState>,
    Path((db, coll, id)): Path<(String, String, String)>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> AppResult<StatusCode> {
    check_coll(&db, &coll)?;
    let (precondition, _) = write_options(&headers, query.as_deref(), None)?;
    let what = format!("no document {id:?} in {db}/{coll}");
    if state
        .blocking(move |s| s.delete(&db, &coll, &id, &precondition))
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(AppError::NotFound(what))
    }
}

/// `PUT /<db>/<coll>` with `{"streams": [{"uri": NAME, "stages": [...]}]}`. Each stream is
/// compiled before anything is stored, so a bad definition never replaces a good one.
/// Streams not named in the body are kept.
pub async fn define_streams(
    State(state): State<AppState>,
    Path((db, coll)): Path<(String, String)>,
    claims: Option<Extension<Claims>>,
    JsonValue(body): JsonValue,
) -> AppResult<Response> {
    check_coll(&db, &coll)?;
    let Some(Value::Array(defs)) = body.get("streams") else {
        return Err(AppError::bad_request(
            r#"expected {"streams": [{"uri": NAME, "stages": [...]}]}"#,
        ));
    };
    let mut streams = Vec::with_capacity(defs.len());
    for (i, def) in defs.iter().enumerate() {
        let name = def
            .get("uri")
            .and_then(Value::as_str)
            .ok_or_else(|| AppError::BadRequest(format!("streams[{i}].uri must be a string")))?;
        check_name("stream", name)?;
        let stages = def.get("stages").cloned().unwrap_or_else(|| json!([]));
        Pipeline::parse(&stages)
            .map_err(|e| AppError::BadRequest(format!("stream {name:?}: {e}")))?;
        streams.push((name.to_owned(), stages));
    }
    let below = streams
        .iter()
        .map(|(n, _)| vec!["_streams".to_owned(), n.clone()]);
    check_below(&state, claims.as_deref(), &Method::PUT, (&db, &coll), below)?;
    let names: Vec<String> = streams
        .iter()
        .map(|(n, _)| format!("/{db}/{coll}/_streams/{n}"))
        .collect();
    state
        .blocking(move |s| s.put_streams(&db, &coll, &streams))
        .await?;
    Ok((StatusCode::CREATED, Json(json!({ "streams": names }))).into_response())
}
