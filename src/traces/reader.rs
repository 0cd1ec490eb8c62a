//! Bounded line reading and the batch pipeline that spreads parsing over cores.
//!
//! A trace file can be gigabytes, and a single line can be anything a logger
//! wrote: the reader never holds more than `max_line_bytes` of one line, skips
//! the rest of an over-long line without buffering it, and hands lines to
//! worker threads in batches so parsing runs on every core while memory stays
//! flat.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufRead, BufReader, Read};
use std::path::{Path, PathBuf};

/// One physical line of a file.
#[derive(Debug)]
pub enum RawLine<'a> {
    /// The line's bytes, without `\n` (a trailing `\r` is left for the parser to strip).
    Line(&'a [u8]),
    /// The line was longer than the limit; this is its full length in bytes.
    TooLong(u64),
}

/// Reads lines with a hard cap on how much of one line is buffered.
pub struct LineReader<R> {
    inner: BufReader<R>,
    buf: Vec<u8>,
    max: usize,
    line_no: u64,
}

impl<R: Read> LineReader<R> {
    /// Wraps `inner`; lines over `max` bytes come back as [`RawLine::TooLong`].
    pub fn new(inner: R, max: usize) -> Self {
        LineReader {
            inner: BufReader::with_capacity(256 * 1024, inner),
            buf: Vec::new(),
            max,
            line_no: 0,
        }
    }

    /// The next line and its 1-based number, or `None` at the end.
    pub fn next_line(&mut self) -> io::Result<Option<(u64, RawLine<'_>)>> {
        self.buf.clear();
        let mut seen_any = false;
        let mut overflow: Option<u64> = None;
        loop {
            let avail = match self.inner.fill_buf() {
                Ok(a) => a,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            };
            if avail.is_empty() {
                if !seen_any {
                    return Ok(None);
                }
                break;
            }
            seen_any = true;
            let (chunk_len, consumed, done) = match memchr::memchr(b'\n', avail) {
                Some(i) => (i, i + 1, true),
                None => (avail.len(), avail.len(), false),
            };
            match overflow.as_mut() {
                Some(n) => *n += chunk_len as u64,
                None if self.buf.len() + chunk_len > self.max => {
                    overflow = Some((self.buf.len() + chunk_len) as u64);
                    self.buf.clear();
                }
                None => self.buf.extend_from_slice(&avail[..chunk_len]),
            }
            self.inner.consume(consumed);
            if done {
                break;
            }
        }
        self.line_no += 1;
        Ok(Some(match overflow {
            Some(n) => (self.line_no, RawLine::TooLong(n)),
            None => (self.line_no, RawLine::Line(&self.buf)),
        }))
    }
}

/// A run of consecutive lines of one file, owned so a worker can parse it.
pub struct Batch {
    /// Index of the file in the list given to [`run_batches`].
    pub file: usize,
    data: Vec<u8>,
    lines: Vec<(u64, BatchLine)>,
}

#[derive(Clone, Copy)]
enum BatchLine {
    Span(usize, usize),
    TooLong(u64),
}

impl Batch {
    /// The lines with their numbers.
    pub fn lines(&self) -> impl Iterator<Item = (u64, RawLine<'_>)> + '_ {
        self.lines.iter().map(|&(no, l)| match l {
            BatchLine::Span(a, b) => (no, RawLine::Line(&self.data[a..b])),
            BatchLine::TooLong(n) => (no, RawLine::TooLong(n)),
        })
    }
}

/// A file that could not be opened or read.
#[derive(Debug, thiserror::Error)]
#[error("{}: {source}", path.display())]
pub struct ReadError {
    /// The file.
    pub path: PathBuf,
    /// The underlying error.
    pub source: io::Error,
}

const BATCH_BYTES: usize = 1 << 20;

/// Reads `files` in order, parses batches with `work` on worker threads, and
/// hands each result to `merge` in file and line order.
///
/// Memory stays bounded: at most a few batches are in flight at once.
pub fn run_batches<P, W, M>(
    files: &[PathBuf],
    max_line_bytes: usize,
    work: W,
    mut merge: M,
) -> Result<(), ReadError>
where
    P: Send,
    W: Fn(&Batch) -> P + Sync,
    M: FnMut(P),
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<(u64, Batch)>(workers * 2);
    let (result_tx, result_rx) = crossbeam_channel::bounded::<(u64, P)>(workers * 2);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = batch_rx.clone();
            let tx = result_tx.clone();
            let work = &work;
            scope.spawn(move || {
                for (seq, batch) in rx {
                    if tx.send((seq, work(&batch))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(result_tx);
        drop(batch_rx);

        // The reader runs on its own thread so that this one can merge while it reads.
        let reader = scope.spawn(move || -> Result<(), ReadError> {
            let mut seq = 0u64;
            for (file_idx, path) in files.iter().enumerate() {
                read_file_batches(path, file_idx, max_line_bytes, |batch| {
                    let ok = batch_tx.send((seq, batch)).is_ok();
                    seq += 1;
                    ok
                })?;
            }
            Ok(())
        });

        let mut next = 0u64;
        let mut pending: BTreeMap<u64, P> = BTreeMap::new();
        for (seq, result) in result_rx {
            pending.insert(seq, result);
            while let Some(r) = pending.remove(&next) {
                merge(r);
                next += 1;
            }
        }
        reader.join().unwrap_or_else(|_| {
            Err(ReadError {
                path: PathBuf::new(),
                source: io::Error::other("trace reader thread panicked"),
            })
        })
    })
}

fn read_file_batches(
    path: &Path,
    file_idx: usize,
    max_line_bytes: usize,
    mut send: impl FnMut(Batch) -> bool,
) -> Result<(), ReadError> {
    let err = |source| ReadError {
        path: path.to_path_buf(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let mut reader = LineReader::new(file, max_line_bytes);
    let new_batch = || Batch {
        file: file_idx,
        data: Vec::with_capacity(BATCH_BYTES + 4096),
        lines: Vec::new(),
    };
    let mut batch = new_batch();
    while let Some((no, line)) = reader.next_line().map_err(err)? {
        match line {
            RawLine::Line(bytes) => {
                let start = batch.data.len();
                batch.data.extend_from_slice(bytes);
                batch
                    .lines
                    .push((no, BatchLine::Span(start, batch.data.len())));
            }
            RawLine::TooLong(n) => batch.lines.push((no, BatchLine::TooLong(n))),
        }
        if (batch.data.len() >= BATCH_BYTES || batch.lines.len() >= 8192)
            && !send(std::mem::replace(&mut batch, new_batch()))
        {
            return Ok(());
        }
    }
    if !batch.lines.is_empty() {
        send(batch);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<String> {
        let mut r = LineReader::new(input, max);
        let mut out = Vec::new();
        while let Some((no, l)) = r.next_line().unwrap() {
            out.push(match l {
                RawLine::Line(b) => format!("{no}:{}", String::from_utf8_lossy(b)),
                RawLine::TooLong(n) => format!("{no}:too long {n}"),
            });
        }
        out
    }

    #[test]
    fn splits_lines_and_keeps_the_last_without_newline() {
        assert_eq!(lines(b"a\n\nbc\r\nd", 10), ["1:a", "2:", "3:bc\r", "4:d"]);
        assert_eq!(lines(b"", 10), Vec::<String>::new());
        assert_eq!(lines(b"a\n", 10), ["1:a"]);
    }

    #[test]
    fn over_long_lines_are_measured_not_buffered() {
        let mut input = vec![b'x'; 5000];
        input.extend_from_slice(b"\nok\n");
        input.extend(vec![b'y'; 3000]);
        assert_eq!(
            lines(&input, 100),
            ["1:too long 5000", "2:ok", "3:too long 3000"]
        );
    }

    #[test]
    fn batches_come_back_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for f in 0..3 {
            let p = dir.path().join(format!("{f}.jsonl"));
            let body: String = (0..20_000).map(|i| format!("{f}-{i}\n")).collect();
            std::fs::write(&p, body).unwrap();
            files.push(p);
        }
        let mut seen = Vec::new();
        run_batches(
            &files,
            1024,
            |b| {
                b.lines()
                    .map(|(no, l)| match l {
                        RawLine::Line(x) => {
                            format!("{}:{no}:{}", b.file, String::from_utf8_lossy(x))
                        }
                        RawLine::TooLong(_) => unreachable!(),
                    })
                    .collect::<Vec<_>>()
            },
            |v| seen.extend(v),
        )
        .unwrap();
        assert_eq!(seen.len(), 60_000);
        assert_eq!(seen[0], "0:1:0-0");
        assert_eq!(seen[20_000], "1:1:1-0");
        assert_eq!(seen[59_999], "2:20000:2-19999");
    }
}
