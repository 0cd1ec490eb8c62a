//! The LM response cache: an embedded SQLite database in WAL mode.
//!
//! Keyed by the sha256 of the canonical request (provider, model, messages,
//! sampling parameters and sample index; never the key or the base URL, so a
//! moved endpoint or rotated key keeps its cache). WAL with synchronous=NORMAL
//! survives a kill -9 with every committed row intact, and lets two processes
//! share one file; a busy timeout serialises their writes.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use rusqlite::{Connection, OpenFlags, OptionalExtension, params};
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

use crate::lm::secret::redact;
use crate::lm::settings::CacheMode;
use crate::lm::{Completion, LmRequest};

/// The cache could not be opened or used.
#[derive(Debug, thiserror::Error)]
#[error("LM cache {}: {message}", path.display())]
pub struct CacheError {
    /// The database file.
    pub path: PathBuf,
    /// What failed.
    pub message: String,
}

/// A cache database.
pub struct Cache {
    path: PathBuf,
    mode: CacheMode,
    conn: Option<Mutex<Connection>>,
    hits: AtomicU64,
    misses: AtomicU64,
}

/// What `promptc cache stats` prints.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    /// The database file.
    pub path: PathBuf,
    /// Cached responses.
    pub entries: u64,
    /// Bytes on disk (database and write-ahead log).
    pub bytes: u64,
    /// Lookups answered from the cache, over every run that used it.
    pub hits: u64,
    /// Lookups that went to a model, over every run.
    pub misses: u64,
}

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS responses (
    key TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    text TEXT NOT NULL,
    input_tokens INTEGER NOT NULL,
    output_tokens INTEGER NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS batches (
    id TEXT PRIMARY KEY,
    label TEXT NOT NULL,
    state TEXT NOT NULL,
    submitted_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS batch_requests (
    key TEXT NOT NULL,
    batch TEXT NOT NULL,
    PRIMARY KEY (key, batch)
);
";

/// The cache key of a request to `label` (`provider:model`).
pub fn key(label: &str, req: &LmRequest) -> String {
    let canonical = json!({
        "v": 2,
        "lm": label,
        "messages": req.messages,
        "temperature": req.temperature,
        "max_tokens": req.max_tokens,
        "sample": req.sample,
        "seed": req.seed,
        "schema": req.response_schema,
    });
    // The same bytes as `canonical.to_string()`, hashed as they are written
    // (`to_string` goes through `fmt::Write` and a copy of a prompt of many
    // kilobytes, on the path of every call).
    let mut h = Hashing(Sha256::new());
    if serde_json::to_writer(&mut h, &canonical).is_err() {
        // Not reachable (a Value's keys are strings); hashing the text
        // keeps the key the same if it ever is.
        return hex::encode(Sha256::digest(canonical.to_string().as_bytes()));
    }
    hex::encode(h.0.finalize())
}

/// Bytes written into a digest.
struct Hashing(Sha256);

impl std::io::Write for Hashing {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Cache {
    /// Opens (creating if needed) the cache at `path` in `mode`.
    pub fn open(path: &Path, mode: CacheMode) -> Result<Cache, CacheError> {
        let err = |message: String| CacheError {
            path: path.to_path_buf(),
            message,
        };
        let conn = match mode {
            CacheMode::Off => None,
            CacheMode::ReadOnly | CacheMode::Offline if !path.exists() => None,
            CacheMode::ReadOnly | CacheMode::Offline => {
                let c = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| err(e.to_string()))?;
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(|e| err(e.to_string()))?;
                Some(c)
            }
            CacheMode::ReadWrite => {
                if let Some(dir) = path.parent()
                    && !dir.as_os_str().is_empty()
                {
                    std::fs::create_dir_all(dir)
                        .map_err(|e| err(format!("cannot create {}: {e}", dir.display())))?;
                }
                let c = Connection::open(path).map_err(|e| err(e.to_string()))?;
                c.busy_timeout(std::time::Duration::from_secs(10))
                    .map_err(|e| err(e.to_string()))?;
                c.pragma_update(None, "journal_mode", "WAL")
                    .map_err(|e| err(e.to_string()))?;
                c.pragma_update(None, "synchronous", "NORMAL")
                    .map_err(|e| err(e.to_string()))?;
                c.execute_batch(SCHEMA).map_err(|e| err(e.to_string()))?;
                Some(c)
            }
        };
        Ok(Cache {
            path: path.to_path_buf(),
            mode,
            conn: conn.map(Mutex::new),
            hits: AtomicU64::new(0),
            misses: AtomicU64::new(0),
        })
    }

    /// The mode.
    pub fn mode(&self) -> CacheMode {
        self.mode
    }

    fn err(&self, message: String) -> CacheError {
        CacheError {
            path: self.path.clone(),
            message,
        }
    }

    /// A cached completion, if there is one.
    pub fn get(&self, key: &str) -> Result<Option<Completion>, CacheError> {
        let Some(conn) = &self.conn else {
            self.misses.fetch_add(1, Ordering::Relaxed);
            return Ok(None);
        };
        let conn = conn
            .lock()
            .map_err(|_| self.err("cache lock poisoned".into()))?;
        let row = conn
            .prepare_cached(
                "SELECT text, input_tokens, output_tokens FROM responses WHERE key = ?1",
            )
            .and_then(|mut st| {
                st.query_row(params![key], |r| {
                    Ok(Completion::new(
                        r.get(0)?,
                        r.get::<_, i64>(1)? as u64,
                        r.get::<_, i64>(2)? as u64,
                    ))
                })
                .optional()
            })
            .map_err(|e| self.err(e.to_string()))?;
        if row.is_some() {
            self.hits.fetch_add(1, Ordering::Relaxed);
        } else {
            self.misses.fetch_add(1, Ordering::Relaxed);
        }
        Ok(row)
    }

    /// Stores a completion (read-write mode only; other modes ignore it).
    pub fn put(&self, key: &str, label: &str, c: &Completion) -> Result<(), CacheError> {
        if self.mode != CacheMode::ReadWrite {
            return Ok(());
        }
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let conn = conn
            .lock()
            .map_err(|_| self.err("cache lock poisoned".into()))?;
        let now = chrono::Utc::now().timestamp();
        conn.prepare_cached(
            "INSERT OR REPLACE INTO responses (key, label, text, input_tokens, output_tokens, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )
        .and_then(|mut st| {
            st.execute(params![
                key,
                label,
                redact(&c.text),
                c.input_tokens as i64,
                c.output_tokens as i64,
                now
            ])
        })
        .map_err(|e| self.err(e.to_string()))?;
        Ok(())
    }

    fn conn(&self) -> Result<std::sync::MutexGuard<'_, Connection>, CacheError> {
        let conn = self
            .conn
            .as_ref()
            .filter(|_| self.mode == CacheMode::ReadWrite);
        let conn = conn.ok_or_else(|| {
            self.err(
                "batches need the cache in read-write mode (pending batches are recorded there)"
                    .into(),
            )
        })?;
        conn.lock()
            .map_err(|_| self.err("cache lock poisoned".into()))
    }

    /// Records a submitted batch of `label` holding the requests `keys`,
    /// before anything waits on it: a run killed meanwhile finds it again.
    pub fn record_batch(&self, id: &str, label: &str, keys: &[&str]) -> Result<(), CacheError> {
        let mut conn = self.conn()?;
        let tx = conn.transaction().map_err(|e| self.err(e.to_string()))?;
        tx.execute(
            "INSERT OR REPLACE INTO batches (id, label, state, submitted_at) VALUES (?1, ?2, 'pending', ?3)",
            params![id, label, chrono::Utc::now().timestamp()],
        )
        .map_err(|e| self.err(e.to_string()))?;
        {
            let mut st = tx
                .prepare_cached("INSERT OR IGNORE INTO batch_requests (key, batch) VALUES (?1, ?2)")
                .map_err(|e| self.err(e.to_string()))?;
            for k in keys {
                st.execute(params![k, id])
                    .map_err(|e| self.err(e.to_string()))?;
            }
        }
        tx.commit().map_err(|e| self.err(e.to_string()))
    }

    /// The pending batch of `label` that holds the request `key`, if any.
    pub fn pending_batch(&self, label: &str, key: &str) -> Result<Option<String>, CacheError> {
        let conn = self.conn()?;
        conn.prepare_cached(
            "SELECT b.id FROM batch_requests r JOIN batches b ON b.id = r.batch WHERE r.key = ?1 AND b.label = ?2 AND b.state = 'pending' ORDER BY b.submitted_at DESC LIMIT 1",
        )
        .and_then(|mut st| st.query_row(params![key, label], |r| r.get(0)).optional())
        .map_err(|e| self.err(e.to_string()))
    }

    /// How long ago batch `id` was submitted (zero when not recorded).
    pub fn batch_age(&self, id: &str) -> Result<std::time::Duration, CacheError> {
        let conn = self.conn()?;
        let at: Option<i64> = conn
            .query_row(
                "SELECT submitted_at FROM batches WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()
            .map_err(|e| self.err(e.to_string()))?;
        let secs = at.map_or(0, |t| (chrono::Utc::now().timestamp() - t).max(0));
        Ok(std::time::Duration::from_secs(secs as u64))
    }

    /// Marks batch `id` as no longer pending (`ended`, `abandoned`).
    pub fn finish_batch(&self, id: &str, state: &str) -> Result<(), CacheError> {
        let conn = self.conn()?;
        conn.execute(
            "UPDATE batches SET state = ?2 WHERE id = ?1",
            params![id, state],
        )
        .map_err(|e| self.err(e.to_string()))?;
        Ok(())
    }

    /// Hits and misses of this process so far.
    pub fn session_counts(&self) -> (u64, u64) {
        (
            self.hits.load(Ordering::Relaxed),
            self.misses.load(Ordering::Relaxed),
        )
    }

    /// Adds this process's hits and misses to the persistent counters.
    pub fn flush_counters(&self) -> Result<(), CacheError> {
        if self.mode != CacheMode::ReadWrite {
            return Ok(());
        }
        let Some(conn) = &self.conn else {
            return Ok(());
        };
        let hits = self.hits.swap(0, Ordering::Relaxed) as i64;
        let misses = self.misses.swap(0, Ordering::Relaxed) as i64;
        let conn = conn
            .lock()
            .map_err(|_| self.err("cache lock poisoned".into()))?;
        for (name, n) in [("hits", hits), ("misses", misses)] {
            conn.execute(
                "INSERT INTO counters (name, value) VALUES (?1, ?2) ON CONFLICT(name) DO UPDATE SET value = value + ?2",
                params![name, n],
            )
            .map_err(|e| self.err(e.to_string()))?;
        }
        Ok(())
    }

    /// Entries, size and the persistent counters.
    pub fn stats(&self) -> Result<CacheStats, CacheError> {
        let bytes = ["", "-wal"]
            .iter()
            .filter_map(|suffix| {
                let mut p = self.path.clone().into_os_string();
                p.push(suffix);
                std::fs::metadata(p).ok().map(|m| m.len())
            })
            .sum();
        let (entries, hits, misses) = match &self.conn {
            None => (0, 0, 0),
            Some(conn) => {
                let conn = conn
                    .lock()
                    .map_err(|_| self.err("cache lock poisoned".into()))?;
                let entries: i64 = conn
                    .query_row("SELECT COUNT(*) FROM responses", [], |r| r.get(0))
                    .map_err(|e| self.err(e.to_string()))?;
                let counter = |name: &str| -> Result<i64, CacheError> {
                    conn.query_row(
                        "SELECT value FROM counters WHERE name = ?1",
                        params![name],
                        |r| r.get(0),
                    )
                    .optional()
                    .map(|v| v.unwrap_or(0))
                    .map_err(|e| self.err(e.to_string()))
                };
                (
                    entries as u64,
                    counter("hits")? as u64,
                    counter("misses")? as u64,
                )
            }
        };
        let (h, m) = self.session_counts();
        Ok(CacheStats {
            path: self.path.clone(),
            entries,
            bytes,
            hits: hits + h,
            misses: misses + m,
        })
    }
}

impl Drop for Cache {
    fn drop(&mut self) {
        if let Err(e) = self.flush_counters() {
            tracing::warn!("{e}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chat::{ChatRole, Message};

    fn req(text: &str, sample: u32) -> LmRequest {
        LmRequest {
            sample,
            ..LmRequest::new(vec![Message {
                role: ChatRole::User,
                content: text.into(),
            }])
        }
    }

    #[test]
    fn keys_cover_content_sampling_and_sample_index_only() {
        let a = key("openai:m", &req("hi", 0));
        assert_eq!(a, key("openai:m", &req("hi", 0)));
        assert_ne!(a, key("openai:m", &req("hi", 1)));
        assert_ne!(a, key("openai:m", &req("ho", 0)));
        assert_ne!(a, key("anthropic:m", &req("hi", 0)));
        let mut t = req("hi", 0);
        t.temperature = Some(0.7);
        assert_ne!(a, key("openai:m", &t));
    }

    /// Rows written before keep hitting: the key is the digest of the same
    /// canonical text as ever (sorted keys, compact, escapes as serde_json
    /// writes them), here computed outside promptc.
    #[test]
    fn a_key_is_the_digest_of_the_canonical_text_earlier_versions_wrote() {
        assert_eq!(
            key("openai:m", &req("hi \"there\"\nnaïve", 0)),
            "3bbb40925b5f979db757802d1b7bf1d9889cfb76e59fbea983c20d00ed4d581a"
        );
    }

    #[test]
    fn modes_read_write_read_only_off_and_persisted_counts() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/cache.sqlite");
        let c = Completion::new("pong".into(), 3, 1);
        {
            let cache = Cache::open(&path, CacheMode::ReadWrite).unwrap();
            assert_eq!(cache.get("k").unwrap(), None);
            cache.put("k", "sim:sim", &c).unwrap();
            assert_eq!(cache.get("k").unwrap(), Some(c.clone()));
        }
        let ro = Cache::open(&path, CacheMode::ReadOnly).unwrap();
        assert_eq!(ro.get("k").unwrap(), Some(c.clone()));
        ro.put("k2", "sim:sim", &c).unwrap();
        assert_eq!(ro.get("k2").unwrap(), None);
        let stats = ro.stats().unwrap();
        assert_eq!((stats.entries, stats.hits, stats.misses), (1, 2, 2));
        let off = Cache::open(&path, CacheMode::Off).unwrap();
        assert_eq!(off.get("k").unwrap(), None);
    }
}
