//! Block reading and the batch pipeline that spreads parsing over cores.
//!
//! A trace file can be gigabytes, and a single line can be anything a logger
//! wrote. The reader reads large blocks straight into the buffer a worker
//! will parse (one copy, from the page cache), cuts each block at its last
//! newline, and skips an over-long line without buffering it: memory stays
//! bounded by a few blocks plus `max_line_bytes`, whatever the file.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

/// One physical line of a file.
#[derive(Debug)]
pub enum RawLine<'a> {
    /// The line's bytes, without `\n` (a trailing `\r` is left for the parser to strip).
    Line(&'a [u8]),
    /// The line was longer than the limit; this is its full length in bytes.
    TooLong(u64),
}

/// A run of consecutive lines of one file, owned so a worker can parse it.
pub struct Batch {
    /// Index of the file in the list given to [`run_batches`].
    pub file: usize,
    kind: BatchKind,
    max: usize,
}

enum BatchKind {
    /// Whole lines, each ending in `\n` except perhaps the file's last.
    Block { data: Vec<u8>, first_line: u64 },
    /// One line that was skipped for its length.
    TooLong { line: u64, len: u64 },
}

impl Batch {
    /// The lines with their 1-based numbers.
    pub fn lines(&self) -> Box<dyn Iterator<Item = (u64, RawLine<'_>)> + '_> {
        match &self.kind {
            BatchKind::TooLong { line, len } => {
                Box::new(std::iter::once((*line, RawLine::TooLong(*len))))
            }
            BatchKind::Block { data, first_line } => {
                let max = self.max;
                let mut start = 0usize;
                let mut no = *first_line;
                Box::new(std::iter::from_fn(move || {
                    if start >= data.len() {
                        return None;
                    }
                    let end =
                        memchr::memchr(b'\n', &data[start..]).map_or(data.len(), |i| start + i);
                    let line = &data[start..end];
                    start = end + 1;
                    no += 1;
                    Some((
                        no - 1,
                        if line.len() > max {
                            RawLine::TooLong(line.len() as u64)
                        } else {
                            RawLine::Line(line)
                        },
                    ))
                }))
            }
        }
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
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<(u64, Batch)>(workers);
    let (result_tx, result_rx) = crossbeam_channel::bounded::<(u64, P)>(workers * 2);
    // Parsed blocks' buffers go back to the reader: a fresh megabyte per
    // block would be mapped, faulted in and unmapped each time.
    let (free_tx, free_rx) = crossbeam_channel::bounded::<Vec<u8>>(workers * 4);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            let rx = batch_rx.clone();
            let tx = result_tx.clone();
            let free = free_tx.clone();
            let work = &work;
            scope.spawn(move || {
                for (seq, batch) in rx {
                    let result = work(&batch);
                    if let BatchKind::Block { mut data, .. } = batch.kind {
                        data.clear();
                        let _ = free.try_send(data);
                    }
                    if tx.send((seq, result)).is_err() {
                        break;
                    }
                }
            });
        }
        drop(free_tx);
        drop(result_tx);
        drop(batch_rx);

        // The reader runs on its own thread so that this one can merge while it reads.
        let reader = scope.spawn(move || -> Result<(), ReadError> {
            let mut seq = 0u64;
            for (file_idx, path) in files.iter().enumerate() {
                read_file_batches(path, file_idx, max_line_bytes, &free_rx, |batch| {
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
    free: &crossbeam_channel::Receiver<Vec<u8>>,
    mut send: impl FnMut(Batch) -> bool,
) -> Result<(), ReadError> {
    let err = |source| ReadError {
        path: path.to_path_buf(),
        source,
    };
    let mut file = File::open(path).map_err(err)?;
    let mut carry: Vec<u8> = Vec::new();
    let mut next_line = 1u64;
    let mut eof = false;
    while !eof {
        let mut data = free.try_recv().unwrap_or_default();
        data.reserve(BATCH_BYTES + carry.len());
        data.append(&mut carry);
        // Read into the spare capacity: no zero-filling a megabyte first.
        let want = BATCH_BYTES as u64;
        let got = (&mut file).take(want).read_to_end(&mut data).map_err(err)?;
        if (got as u64) < want {
            eof = true;
        }
        let cut = match memchr::memrchr(b'\n', &data) {
            Some(i) => i + 1,
            None if eof => data.len(),
            None if data.len() > max_line_bytes => {
                // One line already longer than the limit: measure it, never hold it.
                let len = data.len() as u64 + skip_line(&mut file, &mut eof).map_err(err)?;
                if !send(Batch {
                    file: file_idx,
                    kind: BatchKind::TooLong {
                        line: next_line,
                        len,
                    },
                    max: max_line_bytes,
                }) {
                    return Ok(());
                }
                next_line += 1;
                continue;
            }
            None => {
                carry = data;
                continue;
            }
        };
        carry = data.split_off(cut);
        if data.is_empty() {
            continue;
        }
        let lines =
            memchr::memchr_iter(b'\n', &data).count() as u64 + u64::from(!data.ends_with(b"\n"));
        let batch = Batch {
            file: file_idx,
            kind: BatchKind::Block {
                data,
                first_line: next_line,
            },
            max: max_line_bytes,
        };
        next_line += lines;
        if !send(batch) {
            return Ok(());
        }
    }
    if !carry.is_empty() {
        // The last line had no newline.
        send(Batch {
            file: file_idx,
            kind: BatchKind::Block {
                data: carry,
                first_line: next_line,
            },
            max: max_line_bytes,
        });
    }
    Ok(())
}

/// Reads up to and including the next newline, returning how many bytes
/// came before it.
fn skip_line(file: &mut File, eof: &mut bool) -> io::Result<u64> {
    let mut buf = vec![0u8; 64 * 1024];
    let mut skipped = 0u64;
    loop {
        let n = match file.read(&mut buf) {
            Ok(0) => {
                *eof = true;
                return Ok(skipped);
            }
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if let Some(i) = memchr::memchr(b'\n', &buf[..n]) {
            // Put back what follows the newline by seeking: the file is seekable.
            use std::io::{Seek, SeekFrom};
            file.seek(SeekFrom::Current(-((n - i - 1) as i64)))?;
            return Ok(skipped + i as u64);
        }
        skipped += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines_of(input: &[u8], max: usize) -> Vec<String> {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("t.jsonl");
        std::fs::write(&p, input).unwrap();
        let mut out = Vec::new();
        run_batches(
            &[p],
            max,
            |b| {
                b.lines()
                    .map(|(no, l)| match l {
                        RawLine::Line(x) => format!("{no}:{}", String::from_utf8_lossy(x)),
                        RawLine::TooLong(n) => format!("{no}:too long {n}"),
                    })
                    .collect::<Vec<_>>()
            },
            |v| out.extend(v),
        )
        .unwrap();
        out
    }

    #[test]
    fn splits_lines_and_keeps_the_last_without_newline() {
        assert_eq!(
            lines_of(b"a\n\nbc\r\nd", 10),
            ["1:a", "2:", "3:bc\r", "4:d"]
        );
        assert_eq!(lines_of(b"", 10), Vec::<String>::new());
        assert_eq!(lines_of(b"a\n", 10), ["1:a"]);
    }

    #[test]
    fn over_long_lines_are_measured_not_buffered() {
        // Short lines around lines longer than a whole block, and one between the limit and a block.
        let mut input = b"first\n".to_vec();
        input.extend(vec![b'x'; BATCH_BYTES * 2 + 17]);
        input.extend_from_slice(b"\nok\n");
        input.extend(vec![b'z'; 5000]);
        input.extend_from_slice(b"\nafter\n");
        input.extend(vec![b'y'; BATCH_BYTES + 3]);
        let got = lines_of(&input, 4096);
        assert_eq!(
            got,
            [
                "1:first".to_string(),
                format!("2:too long {}", BATCH_BYTES * 2 + 17),
                "3:ok".into(),
                "4:too long 5000".into(),
                "5:after".into(),
                format!("6:too long {}", BATCH_BYTES + 3),
            ]
        );
    }

    #[test]
    fn batches_come_back_in_order_with_line_numbers_across_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let mut files = Vec::new();
        for f in 0..3 {
            let p = dir.path().join(format!("{f}.jsonl"));
            // Enough lines to span several blocks.
            let body: String = (0..400_000)
                .map(|i| format!("{f}-{i}-{}\n", "p".repeat(i % 37)))
                .collect();
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
                            let s = String::from_utf8_lossy(x);
                            format!(
                                "{}:{no}:{}",
                                b.file,
                                s.split('-').take(2).collect::<Vec<_>>().join("-")
                            )
                        }
                        RawLine::TooLong(_) => unreachable!(),
                    })
                    .collect::<Vec<_>>()
            },
            |v| seen.extend(v),
        )
        .unwrap();
        assert_eq!(seen.len(), 1_200_000);
        for (i, s) in seen.iter().enumerate() {
            let (f, n) = (i / 400_000, i % 400_000);
            assert_eq!(s, &format!("{f}:{}:{f}-{n}", n + 1));
        }
    }
}
