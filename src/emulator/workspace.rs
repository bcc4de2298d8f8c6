//! Workspace files API (`/api/2.0/workspace/*`): where tandem keeps its state record and lock.
//!
//! Files, notebooks and directories live in [`Db::files`] by normalised absolute path; the root
//! `/` always exists and is not stored. Every change happens under the store's write lock, so
//! `import` with `overwrite: false` is an atomic create that clients can use as a lock.

use axum::extract::{FromRequest, Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use serde::Deserialize;
use serde_json::{Value, json};

use super::store::{Collection, Db, FileRecord, Tx};
use super::{ApiError, ApiJson, ApiResult, AppState, QueryPairs};

const BASE: &str = "/api/2.0/workspace";
/// The service's documented limit on imported content.
const MAX_CONTENT_BYTES: usize = 10 * 1024 * 1024;
/// Room for 10 MB of content, base64-encoded, in a JSON body (axum's default is 2 MB).
const MAX_IMPORT_BODY: usize = 16 * 1024 * 1024;
const DIRECTORY: &str = "DIRECTORY";
const FILE: &str = "FILE";
const NOTEBOOK: &str = "NOTEBOOK";
/// Object IDs look like real ones: large numbers.
const OBJECT_ID_BASE: i64 = 1_000_000_000_000_000;

/// The workspace routes.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(&format!("{BASE}/mkdirs"), post(mkdirs))
        .route(
            &format!("{BASE}/import"),
            post(import).layer(axum::extract::DefaultBodyLimit::max(MAX_IMPORT_BODY)),
        )
        .route(&format!("{BASE}/export"), get(export))
        .route(&format!("{BASE}/get-status"), get(get_status))
        .route(&format!("{BASE}/delete"), post(delete))
        .route(&format!("{BASE}/list"), get(list))
}

/// Normalises an absolute path: `/Workspace/...` is an alias of `/...`, repeated and trailing
/// slashes are dropped. Relative paths and `.`/`..` segments are refused.
fn normalize(path: &str) -> ApiResult<String> {
    if !path.starts_with('/') {
        return Err(ApiError::invalid(format!(
            "Path ({path}) is not absolute; workspace paths start with /"
        )));
    }
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    if segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(ApiError::invalid(format!(
            "Path ({path}) must not contain . or .. segments"
        )));
    }
    let segments = match segments.split_first() {
        Some((&"Workspace", rest)) => rest,
        _ => &segments[..],
    };
    Ok(format!("/{}", segments.join("/")))
}

/// The parent of a normalised path other than `/`.
fn parent(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The proper ancestors of a normalised path, outermost first, without `/`.
fn ancestors(path: &str) -> Vec<&str> {
    path.match_indices('/')
        .skip(1)
        .map(|(i, _)| &path[..i])
        .collect()
}

fn missing(path: &str) -> ApiError {
    ApiError::not_found(format!("Path ({path}) doesn't exist."))
}

/// RESOURCE_ALREADY_EXISTS, with the 400 status the workspace API is observed to use.
fn exists_error(path: &str) -> ApiError {
    ApiError::new(
        StatusCode::BAD_REQUEST,
        "RESOURCE_ALREADY_EXISTS",
        format!("Path ({path}) already exists."),
    )
}

fn unsupported(what: String) -> ApiError {
    ApiError::new(
        StatusCode::NOT_IMPLEMENTED,
        "NOT_IMPLEMENTED",
        format!("{what} is not supported by the tandem workspace emulator"),
    )
}

fn is_directory(db: &Db, path: &str) -> bool {
    path == "/"
        || db
            .files
            .get(path)
            .is_some_and(|f| f.object_type == DIRECTORY)
}

/// Records strictly below `dir`, in path order.
fn descendants<'a>(db: &'a Db, dir: &str) -> impl Iterator<Item = &'a FileRecord> {
    let prefix = if dir == "/" {
        "/".to_string()
    } else {
        format!("{dir}/")
    };
    db.files
        .range(prefix.clone()..)
        .take_while(move |(p, _)| p.starts_with(&prefix))
        .map(|(_, f)| f)
}

fn children<'a>(db: &'a Db, dir: &'a str) -> impl Iterator<Item = &'a FileRecord> {
    descendants(db, dir).filter(move |f| parent(&f.path) == dir)
}

fn object_json(record: &FileRecord) -> Value {
    let mut object = json!({
        "object_type": record.object_type,
        "path": record.path,
        "object_id": record.object_id,
        "resource_id": record.object_id.to_string(),
    });
    let Some(map) = object.as_object_mut() else {
        return object;
    };
    if let Some(language) = &record.language {
        map.insert("language".into(), json!(language));
    }
    if record.object_type != DIRECTORY {
        map.insert("created_at".into(), json!(record.created_at));
        map.insert("modified_at".into(), json!(record.modified_at));
    }
    if record.object_type == FILE {
        map.insert("size".into(), json!(content_bytes(record).len()));
    }
    object
}

fn root_json() -> Value {
    json!({"object_type": DIRECTORY, "path": "/", "object_id": 0, "resource_id": "0"})
}

fn content_bytes(record: &FileRecord) -> Vec<u8> {
    record
        .content
        .as_deref()
        .and_then(|c| BASE64.decode(c).ok())
        .unwrap_or_default()
}

fn new_record(db: &mut Db, tx: &mut Tx, path: &str, object_type: &str, now: i64) -> FileRecord {
    FileRecord {
        path: path.to_string(),
        object_type: object_type.to_string(),
        object_id: OBJECT_ID_BASE + db.next_seq(tx),
        content: None,
        created_at: now,
        modified_at: now,
        language: None,
    }
}

/// Creates `path` and any missing parents; an existing directory is fine, a file in the way is
/// RESOURCE_ALREADY_EXISTS.
fn make_dirs(db: &mut Db, tx: &mut Tx, path: &str, now: i64) -> ApiResult<()> {
    if path == "/" {
        return Ok(());
    }
    let mut chain = ancestors(path);
    chain.push(path);
    for dir in chain {
        match db.files.get(dir) {
            Some(f) if f.object_type == DIRECTORY => {}
            Some(_) => return Err(exists_error(dir)),
            None => {
                let record = new_record(db, tx, dir, DIRECTORY, now);
                db.files.insert(dir.to_string(), record);
                tx.touch(Collection::Files, dir);
            }
        }
    }
    Ok(())
}

#[derive(Deserialize)]
struct PathBody {
    path: Option<String>,
    #[serde(default)]
    recursive: Option<Value>,
}

fn required_path(path: Option<&str>) -> ApiResult<String> {
    match path {
        Some(p) if !p.is_empty() => normalize(p),
        _ => Err(ApiError::invalid("Missing required field: path")),
    }
}

/// A flag sent as a JSON boolean or, in multipart forms, as the text `true`.
fn flag(value: Option<&Value>) -> bool {
    match value {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

async fn mkdirs(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<PathBody>,
) -> ApiResult<Json<Value>> {
    let path = required_path(body.path.as_deref())?;
    let now = ws.now_ms();
    ws.store.write(|db, tx| make_dirs(db, tx, &path, now))?;
    Ok(Json(json!({})))
}

/// What an import asks for, from a JSON body or a multipart form.
#[derive(Debug, Default)]
struct ImportRequest {
    path: Option<String>,
    content: Vec<u8>,
    format: Option<String>,
    language: Option<String>,
    overwrite: bool,
}

impl ImportRequest {
    fn from_json(body: &Value) -> ApiResult<Self> {
        let text = |key: &str| body.get(key).and_then(Value::as_str).map(String::from);
        let content = match text("content") {
            Some(c) => BASE64
                .decode(c.trim())
                .map_err(|e| ApiError::invalid(format!("content is not valid base64: {e}")))?,
            None => Vec::new(),
        };
        Ok(ImportRequest {
            path: text("path"),
            content,
            format: text("format"),
            language: text("language"),
            overwrite: flag(body.get("overwrite")),
        })
    }

    /// The SDK's `upload` posts a multipart form whose `content` part holds the raw bytes.
    fn from_form(fields: Vec<(String, Vec<u8>)>) -> Self {
        let mut request = ImportRequest::default();
        for (name, value) in fields {
            let text = || String::from_utf8_lossy(&value).into_owned();
            match name.as_str() {
                "path" => request.path = Some(text()),
                "format" => request.format = Some(text()),
                "language" => request.language = Some(text()),
                "overwrite" => request.overwrite = flag(Some(&Value::String(text()))),
                "content" => request.content = value,
                _ => {}
            }
        }
        request
    }
}

/// How the imported content lands: its type, language, and (for AUTO notebooks) the path with
/// the extension removed.
#[derive(Debug, PartialEq)]
struct Placement {
    object_type: &'static str,
    language: Option<String>,
    path: String,
}

/// Notebook source files by extension: language and the header AUTO looks for.
const NOTEBOOK_SOURCES: [(&str, &str, &str); 4] = [
    (".py", "PYTHON", "# Databricks notebook source"),
    (".sql", "SQL", "-- Databricks notebook source"),
    (".scala", "SCALA", "// Databricks notebook source"),
    (".r", "R", "# Databricks notebook source"),
];

const LANGUAGES: [&str; 4] = ["PYTHON", "SQL", "SCALA", "R"];

fn place(
    format: &str,
    language: Option<&str>,
    path: String,
    content: &[u8],
) -> ApiResult<Placement> {
    let file = |path| Placement {
        object_type: FILE,
        language: None,
        path,
    };
    if let Some(l) = language.filter(|l| !LANGUAGES.contains(l)) {
        return Err(ApiError::invalid(format!("Invalid language: {l}")));
    }
    match format {
        "AUTO" => Ok(auto_notebook(&path, content).unwrap_or_else(|| file(path))),
        "RAW" => Ok(file(path)),
        "SOURCE" => match language {
            Some(language) => Ok(Placement {
                object_type: NOTEBOOK,
                language: Some(language.to_string()),
                path,
            }),
            None => Err(ApiError::invalid(
                "The language field is required to import a single file in SOURCE format",
            )),
        },
        "DBC" | "HTML" | "JUPYTER" | "R_MARKDOWN" => {
            Err(unsupported(format!("Importing in {format} format")))
        }
        other => Err(ApiError::invalid(format!("Invalid import format: {other}"))),
    }
}

/// AUTO imports a source file as a notebook when its extension and first line say it is one.
fn auto_notebook(path: &str, content: &[u8]) -> Option<Placement> {
    let lower = path.to_ascii_lowercase();
    let (ext, language, header) = NOTEBOOK_SOURCES
        .iter()
        .find(|(ext, _, _)| lower.ends_with(ext))?;
    if !content.starts_with(header.as_bytes()) {
        return None;
    }
    let stripped = &path[..path.len() - ext.len()];
    (!stripped.ends_with('/')).then(|| Placement {
        object_type: NOTEBOOK,
        language: Some(language.to_string()),
        path: stripped.to_string(),
    })
}

fn import_into(db: &mut Db, tx: &mut Tx, request: ImportRequest, now: i64) -> ApiResult<()> {
    let path = required_path(request.path.as_deref())?;
    if request.content.len() > MAX_CONTENT_BYTES {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "MAX_NOTEBOOK_SIZE_EXCEEDED",
            "The content exceeds the 10 MB limit",
        ));
    }
    let format = request.format.as_deref().unwrap_or("SOURCE");
    let placement = place(format, request.language.as_deref(), path, &request.content)?;
    let path = placement.path;
    if path == "/" {
        return Err(exists_error(&path));
    }
    let dir = parent(&path);
    if !is_directory(db, dir) {
        return Err(match db.files.get(dir) {
            Some(_) => ApiError::invalid(format!("Parent ({dir}) is not a directory.")),
            None => missing(dir),
        });
    }
    let mut record = match db.files.get(&path) {
        Some(existing) if existing.object_type == DIRECTORY || !request.overwrite => {
            return Err(exists_error(&path));
        }
        Some(existing) => FileRecord {
            modified_at: now.max(existing.modified_at + 1),
            ..existing.clone()
        },
        None => new_record(db, tx, &path, placement.object_type, now),
    };
    // A notebook keeps its source without the header line, which export adds back: importing
    // an export again does not double it.
    let content = match placement.language.as_deref() {
        Some(language) if placement.object_type == NOTEBOOK => {
            without_header(language, &request.content)
        }
        _ => &request.content[..],
    };
    record.object_type = placement.object_type.to_string();
    record.language = placement.language;
    record.content = Some(BASE64.encode(content));
    db.files.insert(path.clone(), record);
    tx.touch(Collection::Files, path);
    Ok(())
}

/// `POST /import`: JSON (`content` base64) or a multipart form (`content` raw).
async fn import(State(ws): State<AppState>, request: Request) -> ApiResult<Json<Value>> {
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let parsed = match multipart_boundary(&content_type) {
        Some(boundary) => {
            let body = axum::body::Bytes::from_request(request, &())
                .await
                .map_err(|e| {
                    ApiError::malformed(format!("Could not read the request body: {e}"))
                })?;
            ImportRequest::from_form(multipart_fields(&body, &boundary))
        }
        None => {
            let ApiJson(body) = ApiJson::<Value>::from_request(request, &()).await?;
            ImportRequest::from_json(&body)?
        }
    };
    let now = ws.now_ms();
    ws.store.write(|db, tx| import_into(db, tx, parsed, now))?;
    Ok(Json(json!({})))
}

fn multipart_boundary(content_type: &str) -> Option<String> {
    let (mime, params) = content_type.split_once(';')?;
    if !mime.trim().eq_ignore_ascii_case("multipart/form-data") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (key, value) = p.trim().split_once('=')?;
        key.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"').to_string())
    })
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|i| i + from)
}

/// The named parts of a `multipart/form-data` body (enough for the SDK's uploads).
fn multipart_fields(body: &[u8], boundary: &str) -> Vec<(String, Vec<u8>)> {
    let delimiter = format!("\r\n--{boundary}").into_bytes();
    // Prefixing CRLF lets the first delimiter match like every other one.
    let body = [b"\r\n".as_slice(), body].concat();
    let mut fields = Vec::new();
    let mut at = find(&body, &delimiter, 0);
    while let Some(start) = at {
        let part_start = start + delimiter.len();
        if body.get(part_start..part_start + 2) == Some(b"--".as_slice()) {
            break;
        }
        let next = find(&body, &delimiter, part_start);
        let part = &body[part_start..next.unwrap_or(body.len())];
        if let Some(field) = multipart_part(part) {
            fields.push(field);
        }
        at = next;
    }
    fields
}

fn multipart_part(part: &[u8]) -> Option<(String, Vec<u8>)> {
    let part = part.strip_prefix(b"\r\n").unwrap_or(part);
    let split = find(part, b"\r\n\r\n", 0)?;
    let headers = String::from_utf8_lossy(&part[..split]);
    let name = headers.lines().find_map(|line| {
        let (key, value) = line.split_once(':')?;
        if !key.trim().eq_ignore_ascii_case("content-disposition") {
            return None;
        }
        let start = value.find("name=\"")? + "name=\"".len();
        let end = value[start..].find('"')? + start;
        Some(value[start..end].to_string())
    })?;
    Some((name, part[split + 4..].to_vec()))
}

/// The record at `path`, or the root's stand-in for `/`.
fn lookup<'a>(db: &'a Db, path: &str) -> ApiResult<Option<&'a FileRecord>> {
    if path == "/" {
        return Ok(None);
    }
    db.files.get(path).map(Some).ok_or_else(|| missing(path))
}

async fn get_status(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let path = required_path(query.get("path"))?;
    ws.store
        .read(|db| Ok(Json(lookup(db, &path)?.map_or_else(root_json, object_json))))
}

async fn export(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Response> {
    let path = required_path(query.get("path"))?;
    let format = query.get("format").unwrap_or("SOURCE").to_string();
    let record = ws.store.read(|db| lookup(db, &path).map(|r| r.cloned()))?;
    let record = match record {
        Some(r) if r.object_type != DIRECTORY => r,
        _ => return Err(unsupported("Exporting a directory".into())),
    };
    match format.as_str() {
        "SOURCE" | "AUTO" | "RAW" => {}
        "DBC" | "HTML" | "JUPYTER" | "R_MARKDOWN" => {
            return Err(unsupported(format!("Exporting in {format} format")));
        }
        other => return Err(ApiError::invalid(format!("Invalid export format: {other}"))),
    }
    let mut bytes = content_bytes(&record);
    if let Some(header) = notebook_header(&record).filter(|_| format != "RAW") {
        // A notebook's source begins with its language's header line, as real exports do.
        bytes = [header.as_bytes(), b"\n", &bytes].concat();
    }
    if query.bool("direct_download") {
        let headers = [(header::CONTENT_TYPE, "application/octet-stream")];
        return Ok((headers, bytes).into_response());
    }
    let mut body = json!({"content": BASE64.encode(&bytes)});
    if let (Some(file_type), Some(map)) = (export_file_type(&record), body.as_object_mut()) {
        map.insert("file_type".into(), json!(file_type));
    }
    Ok(Json(body).into_response())
}

/// The header line a notebook's source starts with (`# Databricks notebook source` for Python
/// and R, `-- ...` for SQL, `// ...` for Scala); `None` for a file.
fn notebook_header(record: &FileRecord) -> Option<&'static str> {
    if record.object_type != NOTEBOOK {
        return None;
    }
    let language = record.language.as_deref()?;
    NOTEBOOK_SOURCES
        .iter()
        .find(|(_, l, _)| *l == language)
        .map(|(_, _, header)| *header)
}

/// `content` without a leading header line of `language`'s notebooks.
fn without_header<'a>(language: &str, content: &'a [u8]) -> &'a [u8] {
    let Some((_, _, header)) = NOTEBOOK_SOURCES.iter().find(|(_, l, _)| *l == language) else {
        return content;
    };
    let Some(rest) = content.strip_prefix(header.as_bytes()) else {
        return content;
    };
    match rest {
        [] => rest,
        [b'\n', tail @ ..] => tail,
        [b'\r', b'\n', tail @ ..] => tail,
        // A first line that only starts like the header is content.
        _ => content,
    }
}

/// A notebook exports as source with its language's extension; plain files carry no type.
fn export_file_type(record: &FileRecord) -> Option<&'static str> {
    let language = record.language.as_deref()?;
    NOTEBOOK_SOURCES
        .iter()
        .find(|(_, l, _)| *l == language)
        .map(|(ext, _, _)| &ext[1..])
}

async fn delete(
    State(ws): State<AppState>,
    ApiJson(body): ApiJson<PathBody>,
) -> ApiResult<Json<Value>> {
    let path = required_path(body.path.as_deref())?;
    let recursive = flag(body.recursive.as_ref());
    ws.store.write(|db, tx| remove(db, tx, &path, recursive))?;
    Ok(Json(json!({})))
}

fn remove(db: &mut Db, tx: &mut Tx, path: &str, recursive: bool) -> ApiResult<()> {
    if path == "/" {
        return Err(ApiError::invalid("The root directory cannot be deleted."));
    }
    let record = db.files.get(path).ok_or_else(|| missing(path))?;
    let mut doomed: Vec<String> = Vec::new();
    if record.object_type == DIRECTORY {
        doomed = descendants(db, path).map(|f| f.path.clone()).collect();
        if !doomed.is_empty() && !recursive {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "DIRECTORY_NOT_EMPTY",
                format!("Folder ({path}) is not empty."),
            ));
        }
    }
    doomed.push(path.to_string());
    for p in doomed {
        db.files.remove(&p);
        tx.touch(Collection::Files, p);
    }
    Ok(())
}

async fn list(State(ws): State<AppState>, query: QueryPairs) -> ApiResult<Json<Value>> {
    let path = required_path(query.get("path"))?;
    let modified_after = query.int("notebooks_modified_after")?;
    ws.store.read(|db| {
        let objects: Vec<Value> = match lookup(db, &path)? {
            // Listing a file or notebook lists that object alone.
            Some(record) if record.object_type != DIRECTORY => vec![object_json(record)],
            _ => children(db, &path)
                .filter(|f| {
                    f.object_type != NOTEBOOK || modified_after.is_none_or(|t| f.modified_at > t)
                })
                .map(object_json)
                .collect(),
        };
        Ok(Json(if objects.is_empty() {
            json!({})
        } else {
            json!({"objects": objects})
        }))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn import_req(path: &str, content: &[u8], format: &str, overwrite: bool) -> ImportRequest {
        ImportRequest {
            path: Some(path.into()),
            content: content.to_vec(),
            format: Some(format.into()),
            language: None,
            overwrite,
        }
    }

    #[test]
    fn paths_are_normalised() {
        assert_eq!(normalize("/a//b/").unwrap(), "/a/b");
        assert_eq!(normalize("/Workspace/Users/x").unwrap(), "/Users/x");
        assert_eq!(normalize("/Workspace").unwrap(), "/");
        assert_eq!(normalize("/").unwrap(), "/");
        assert!(normalize("relative/path").is_err());
        assert!(normalize("/a/../b").is_err());
        assert_eq!(ancestors("/a/b/c"), vec!["/a", "/a/b"]);
        assert_eq!(parent("/a/b"), "/a");
        assert_eq!(parent("/a"), "/");
    }

    #[test]
    fn import_needs_the_parent_and_refuses_to_clobber() {
        let mut db = Db::default();
        let mut tx = Tx::default();
        let missing_parent = import_into(
            &mut db,
            &mut tx,
            import_req("/t/lock", b"1", "AUTO", false),
            1,
        );
        assert_eq!(missing_parent.unwrap_err().status, StatusCode::NOT_FOUND);
        make_dirs(&mut db, &mut tx, "/t", 1).unwrap();
        import_into(
            &mut db,
            &mut tx,
            import_req("/t/lock", b"1", "AUTO", false),
            2,
        )
        .unwrap();
        let again = import_into(
            &mut db,
            &mut tx,
            import_req("/t/lock", b"2", "AUTO", false),
            3,
        );
        let error = again.unwrap_err();
        assert_eq!(error.status, StatusCode::BAD_REQUEST);
        assert_eq!(error.error_code, json!("RESOURCE_ALREADY_EXISTS"));
        import_into(
            &mut db,
            &mut tx,
            import_req("/t/lock", b"2", "AUTO", true),
            3,
        )
        .unwrap();
        let record = &db.files["/t/lock"];
        assert_eq!(content_bytes(record), b"2");
        assert_eq!((record.created_at, record.modified_at), (2, 3));
        assert!(make_dirs(&mut db, &mut tx, "/t/lock/sub", 4).is_err());
    }

    #[test]
    fn auto_recognises_notebook_sources_and_source_needs_a_language() {
        let nb = place(
            "AUTO",
            None,
            "/a/job.py".into(),
            b"# Databricks notebook source\n1",
        )
        .unwrap();
        assert_eq!((nb.object_type, nb.path.as_str()), (NOTEBOOK, "/a/job"));
        let plain = place("AUTO", None, "/a/job.py".into(), b"print(1)").unwrap();
        assert_eq!(
            (plain.object_type, plain.path.as_str()),
            (FILE, "/a/job.py")
        );
        assert!(place("SOURCE", None, "/a/state.json".into(), b"{}").is_err());
        assert_eq!(
            place("SOURCE", Some("SQL"), "/a/q".into(), b"")
                .unwrap()
                .object_type,
            NOTEBOOK
        );
        assert_eq!(
            place("DBC", None, "/a".into(), b"").unwrap_err().status,
            StatusCode::NOT_IMPLEMENTED
        );
    }

    #[test]
    fn notebook_sources_lose_their_header_on_import_and_regain_it_on_export() {
        let mut db = Db::default();
        let mut tx = Tx::default();
        make_dirs(&mut db, &mut tx, "/n", 1).unwrap();
        for (path, language, source, body) in [
            (
                "/n/py",
                "PYTHON",
                "# Databricks notebook source\nprint(1)\n",
                "print(1)\n",
            ),
            (
                "/n/sql",
                "SQL",
                "-- Databricks notebook source\r\nSELECT 1",
                "SELECT 1",
            ),
            ("/n/scala", "SCALA", "println(1)", "println(1)"),
        ] {
            let mut request = import_req(path, source.as_bytes(), "SOURCE", false);
            request.language = Some(language.into());
            import_into(&mut db, &mut tx, request, 2).unwrap();
            let record = db.files[path].clone();
            let header = notebook_header(&record).unwrap();
            let stored = content_bytes(&record);
            assert!(!stored.starts_with(header.as_bytes()), "{path}");
            assert_eq!(stored, body.as_bytes(), "{path}: the body is kept");
        }
        assert_eq!(
            notebook_header(&db.files["/n/scala"]),
            Some("// Databricks notebook source")
        );
        assert_eq!(
            without_header("PYTHON", b"# Databricks notebook sourcery"),
            b"# Databricks notebook sourcery"
        );
        let mut file = import_req("/n/f.py", b"# Databricks notebook source", "RAW", false);
        file.language = None;
        import_into(&mut db, &mut tx, file, 3).unwrap();
        assert_eq!(notebook_header(&db.files["/n/f.py"]), None);
        assert_eq!(
            content_bytes(&db.files["/n/f.py"]),
            b"# Databricks notebook source"
        );
    }

    #[test]
    fn delete_refuses_non_empty_directories_unless_recursive() {
        let mut db = Db::default();
        let mut tx = Tx::default();
        make_dirs(&mut db, &mut tx, "/a/b", 1).unwrap();
        make_dirs(&mut db, &mut tx, "/ab", 1).unwrap();
        let error = remove(&mut db, &mut tx, "/a", false).unwrap_err();
        assert_eq!(error.error_code, json!("DIRECTORY_NOT_EMPTY"));
        remove(&mut db, &mut tx, "/a", true).unwrap();
        assert_eq!(db.files.keys().collect::<Vec<_>>(), vec!["/ab"]);
        assert_eq!(children(&db, "/").count(), 1);
    }

    #[test]
    fn multipart_forms_are_parsed() {
        let body = b"--XyZ\r\nContent-Disposition: form-data; name=\"path\"\r\n\r\n/a/f\r\n\
--XyZ\r\nContent-Disposition: form-data; name=\"content\"; filename=\"content\"\r\n\
Content-Type: application/octet-stream\r\n\r\nraw\r\nbytes\r\n--XyZ--\r\n";
        let boundary = multipart_boundary("multipart/form-data; boundary=XyZ").unwrap();
        let request = ImportRequest::from_form(multipart_fields(body, &boundary));
        assert_eq!(request.path.as_deref(), Some("/a/f"));
        assert_eq!(request.content, b"raw\r\nbytes");
        assert!(multipart_boundary("application/json").is_none());
    }
}
