//! Block reading and the batch pipeline that spreads parsing over cores.
//!
//! A trace file can be gigabytes, and a single line can be anything a logger
//! wrote. The reader reads large blocks straight into the buffer a worker
//! will parse (one copy, from the page cache), cuts each block at its last
//! newline, and skips an over-long line without buffering it: memory stays
//! bounded by a few blocks plus `max_line_bytes`, whatever the file.

use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use crate::traces::scan::first_control_byte;

/// One physical line of a file.
#[derive(Debug)]
pub enum RawLine<'a> {
    /// The line, without `\n` (a trailing `\r` is left for the parser to strip).
    Line(Line<'a>),
    /// The line was longer than the limit; this is its full length in bytes.
    TooLong(u64),
}

/// A line's bytes, and what finding its end learned about them.
#[derive(Debug, Clone, Copy)]
pub struct Line<'a> {
    /// The bytes, without `\n`.
    pub bytes: &'a [u8],
    /// No byte is below 0x20: the line's end was found as its first control
    /// byte, so the parser's scanner need not look for one again.
    pub control_free: bool,
}

/// A line's place in its batch, 0 for the batch's first. Only the merge, which
/// sees batches in file order, knows which line of the file that is: the
/// reader does not count lines (a pass over every byte), the workers' walk
/// over them does. See [`FirstLine::number`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InBatch(u64);

/// The 1-based number in its file of a batch's first line, handed to the merge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FirstLine(u64);

impl FirstLine {
    /// The file's 1-based number of a line of this batch.
    pub fn number(self, line: InBatch) -> u64 {
        self.0 + line.0
    }
}

/// A run of consecutive lines of one file, owned so a worker can parse it.
pub struct Batch {
    /// Index of the file in the list given to [`run_batches`].
    pub file: usize,
    kind: BatchKind,
    max: usize,
    /// The lines a walk of [`Batch::lines`] to its end found.
    walked: Cell<Option<u64>>,
}

enum BatchKind {
    /// Whole lines, each ending in `\n` except perhaps the file's last.
    Block { data: Vec<u8> },
    /// One line that was skipped for its length.
    TooLong { len: u64 },
}

impl Batch {
    fn new(file: usize, kind: BatchKind, max: usize) -> Batch {
        Batch {
            file,
            kind,
            max,
            walked: Cell::new(None),
        }
    }

    /// The lines with their places in the batch.
    pub fn lines(&self) -> Box<dyn Iterator<Item = (InBatch, RawLine<'_>)> + '_> {
        match &self.kind {
            BatchKind::TooLong { len } => {
                Box::new(std::iter::once((InBatch(0), RawLine::TooLong(*len))))
            }
            BatchKind::Block { data } => {
                let max = self.max;
                let mut start = 0usize;
                let mut no = 0u64;
                Box::new(std::iter::from_fn(move || {
                    if start >= data.len() {
                        self.walked.set(Some(no));
                        return None;
                    }
                    // One pass finds the line's end and whether it holds a
                    // control byte: its first is usually the newline.
                    let (end, control_free) = match first_control_byte(data, start) {
                        Some(i) if data[i] == b'\n' => (i, true),
                        Some(i) => (
                            memchr::memchr(b'\n', &data[i..]).map_or(data.len(), |j| i + j),
                            false,
                        ),
                        None => (data.len(), true),
                    };
                    let bytes = &data[start..end];
                    start = end + 1;
                    no += 1;
                    Some((
                        InBatch(no - 1),
                        if bytes.len() > max {
                            RawLine::TooLong(bytes.len() as u64)
                        } else {
                            RawLine::Line(Line {
                                bytes,
                                control_free,
                            })
                        },
                    ))
                }))
            }
        }
    }

    /// How many lines the batch holds: counted by the worker's walk when it
    /// went to the end, else here.
    fn line_count(&self) -> u64 {
        match &self.kind {
            BatchKind::TooLong { .. } => 1,
            BatchKind::Block { data } => self.walked.get().unwrap_or_else(|| {
                memchr::memchr_iter(b'\n', data).count() as u64
                    + u64::from(!data.is_empty() && !data.ends_with(b"\n"))
            }),
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
/// hands each result to `merge` in file and line order, with the number of
/// the batch's first line in its file.
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
    M: FnMut(P, FirstLine),
{
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .clamp(1, 8);
    let (batch_tx, batch_rx) = crossbeam_channel::bounded::<(u64, Batch)>(workers);
    let (result_tx, result_rx) = crossbeam_channel::bounded::<(u64, Done<P>)>(workers * 2);
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
                    let done = Done {
                        result: work(&batch),
                        file: batch.file,
                        lines: batch.line_count(),
                    };
                    if let BatchKind::Block { mut data, .. } = batch.kind {
                        data.clear();
                        let _ = free.try_send(data);
                    }
                    if tx.send((seq, done)).is_err() {
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
        let mut pending: BTreeMap<u64, Done<P>> = BTreeMap::new();
        let (mut file, mut first_line) = (usize::MAX, 1u64);
        for (seq, done) in result_rx {
            pending.insert(seq, done);
            while let Some(done) = pending.remove(&next) {
                if done.file != file {
                    (file, first_line) = (done.file, 1);
                }
                merge(done.result, FirstLine(first_line));
                first_line += done.lines;
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

/// A worker's result for one batch, with what the merge needs to number it.
struct Done<P> {
    result: P,
    file: usize,
    lines: u64,
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
                if !send(Batch::new(
                    file_idx,
                    BatchKind::TooLong { len },
                    max_line_bytes,
                )) {
                    return Ok(());
                }
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
        if !send(Batch::new(
            file_idx,
            BatchKind::Block { data },
            max_line_bytes,
        )) {
            return Ok(());
        }
    }
    if !carry.is_empty() {
        // The last line had no newline.
        send(Batch::new(
            file_idx,
            BatchKind::Block { data: carry },
            max_line_bytes,
        ));
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
                    .map(|(at, l)| match l {
                        RawLine::Line(x) => {
                            // The flag is exact: set when and only when no byte is below 0x20.
                            assert_eq!(x.control_free, !x.bytes.iter().any(|&b| b < 0x20));
                            (at, String::from_utf8_lossy(x.bytes).into_owned())
                        }
                        RawLine::TooLong(n) => (at, format!("too long {n}")),
                    })
                    .collect::<Vec<_>>()
            },
            |v, first| {
                out.extend(
                    v.into_iter()
                        .map(|(at, s)| format!("{}:{s}", first.number(at))),
                )
            },
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
                let lines = b
                    .lines()
                    .map(|(at, l)| match l {
                        RawLine::Line(x) => {
                            let s = String::from_utf8_lossy(x.bytes);
                            (at, s.split('-').take(2).collect::<Vec<_>>().join("-"))
                        }
                        RawLine::TooLong(_) => unreachable!(),
                    })
                    // Some walks stop short: the merge must number the next batch all the same.
                    .take(if b.file == 1 { 1000 } else { usize::MAX })
                    .collect::<Vec<_>>();
                (b.file, lines)
            },
            |(file, v), first| {
                seen.extend(
                    v.into_iter()
                        .map(|(at, s)| format!("{file}:{}:{s}", first.number(at))),
                )
            },
        )
        .unwrap();
        // Every line kept carries its own number; files 0 and 2 are whole, in order.
        let mut kept = [0u64; 3];
        for s in &seen {
            let [f, no, text]: [&str; 3] = s.splitn(3, ':').collect::<Vec<_>>().try_into().unwrap();
            let (f, no): (usize, u64) = (f.parse().unwrap(), no.parse().unwrap());
            assert_eq!(text, format!("{f}-{}", no - 1), "{s}");
            kept[f] += 1;
            if f != 1 {
                assert_eq!(no, kept[f], "{s}");
            }
        }
        assert_eq!(kept[0], 400_000);
        assert_eq!(kept[2], 400_000);
        assert!(kept[1] < 400_000, "file 1's walks stopped short");
    }
}
