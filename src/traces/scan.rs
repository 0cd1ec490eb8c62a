//! A validating scan of one JSON text, for the parts of a trace line that
//! `traces stats` never reads.
//!
//! Most of a trace line is values statistics skip (the inputs' contents, the
//! answer's text), mostly strings of about 20 bytes. serde_json skips a
//! string eight bytes at a time, checking each byte for a control character
//! too, and a value one token at a time through its visitor machinery. This
//! scanner checks the whole line for control bytes once, so that a string's
//! end is its next unescaped quote, finds it sixteen bytes at a time with SSE2
//! (a word at a time on other CPUs), and keeps its position in a register.
//! (`memchr2` was slower on strings this short: its setup costs more than
//! the search; so was indexing every quote of the line first, even with
//! AVX2 masks and positions written eight at a time: the index cost more
//! than the walk over it saved.) Its cost is instructions per token, so
//! whitespace, which loggers rarely write, is an arm of each match rather
//! than a check before every token.
//!
//! It only answers "valid, and this is where the value ends", never why a text
//! is invalid: whatever it does not vouch for is [`Fallback`], and the caller
//! parses that line with serde_json, whose error is the one reported. So the
//! scanner must never accept a text serde_json rejects; it may refuse texts
//! serde_json accepts (a tab between tokens, an escaped key, deep nesting):
//! those lines only take the slower path.

/// The scan cannot vouch for the text: parse it with serde_json instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fallback;

/// A scan step's result.
pub type Scan<T> = Result<T, Fallback>;

/// Nesting the scanner follows before it falls back; below serde_json's
/// limit of 128 (less the two levels a trace line's fields sit in), so a
/// value the scanner accepts is one serde_json can also build.
const MAX_DEPTH: u32 = 100;

/// A cursor over one JSON text without control bytes.
pub struct Scanner<'t> {
    text: &'t str,
    pos: usize,
}

impl<'t> Scanner<'t> {
    /// A scanner over `text`; falls back when any byte is below 0x20. JSON
    /// allows such a byte only as whitespace between tokens, and without
    /// them a string's end is simply its next unescaped quote.
    pub fn new(text: &'t str) -> Scan<Self> {
        if has_control_byte(text.as_bytes()) {
            return Err(Fallback);
        }
        Ok(Scanner { text, pos: 0 })
    }

    /// A scanner over `text` that the caller found no byte below 0x20 in
    /// (see [`first_control_byte`]). A text that has one anyway is never
    /// unsafe, only misread: a string could then end past a raw newline.
    pub fn control_free(text: &'t str) -> Self {
        debug_assert!(!has_control_byte(text.as_bytes()));
        Scanner { text, pos: 0 }
    }

    fn bytes(&self) -> &'t [u8] {
        self.text.as_bytes()
    }

    /// The next byte after whitespace, not consumed.
    pub fn peek(&mut self) -> Option<u8> {
        self.pos = spaces(self.bytes(), self.pos);
        self.bytes().get(self.pos).copied()
    }

    fn expect(&mut self, byte: u8) -> Scan<()> {
        if self.peek() == Some(byte) {
            self.pos += 1;
            Ok(())
        } else {
            Err(Fallback)
        }
    }

    /// The end of the text: nothing but whitespace may follow.
    pub fn finish(mut self) -> Scan<()> {
        match self.peek() {
            None => Ok(()),
            Some(_) => Err(Fallback),
        }
    }

    /// Enters an object (its `{`).
    pub fn begin_object(&mut self) -> Scan<()> {
        self.expect(b'{')
    }

    /// The next key of the object being read, its `:` consumed, or `None`
    /// once its `}` is. `first`: no key of this object has been read yet.
    /// A key with escapes falls back (it would need decoding to compare).
    #[inline(always)]
    pub fn next_key(&mut self, first: bool) -> Scan<Option<&'t str>> {
        let bytes = self.bytes();
        let Some(start) = entry(bytes, self.pos, first)? else {
            self.pos = closed(bytes, self.pos)?;
            return Ok(None);
        };
        let (end, escaped) = string_end(bytes, start)?;
        if escaped {
            return Err(Fallback);
        }
        let key = self.text.get(start..end - 1).ok_or(Fallback)?;
        self.pos = colon(bytes, end)?;
        Ok(Some(key))
    }

    /// Skips one value and returns its text (no surrounding whitespace).
    #[inline]
    pub fn value(&mut self) -> Scan<&'t str> {
        let start = spaces(self.bytes(), self.pos);
        self.pos = skip(self.bytes(), start)?;
        self.text.get(start..self.pos).ok_or(Fallback)
    }

    /// Skips one value whose text is not wanted: [`Self::value`] without
    /// slicing the text (a `str` slice checks both ends are character
    /// boundaries, a few instructions per value of a line's hundred).
    #[inline]
    pub fn skip_value(&mut self) -> Scan<()> {
        self.pos = skip(self.bytes(), self.pos)?;
        Ok(())
    }
}

// The scan proper: free functions over the bytes and a position, so the
// position stays in a register (a method updating `self.pos` stores it to
// memory at every step); each returns the position after what it read.

/// Past spaces (the only whitespace byte a scanned text can hold).
#[inline]
fn spaces(bytes: &[u8], mut at: usize) -> usize {
    while bytes.get(at) == Some(&b' ') {
        at += 1;
    }
    at
}

/// At an object's next entry (after `{` or the previous value): the position
/// after the key's opening quote, or `None` when a `}` comes instead.
#[inline]
fn entry(bytes: &[u8], at: usize, first: bool) -> Scan<Option<usize>> {
    let at = spaces(bytes, at);
    let at = match bytes.get(at) {
        Some(b'}') => return Ok(None),
        Some(b',') if !first => spaces(bytes, at + 1),
        Some(b'"') if first => at,
        _ => return Err(Fallback),
    };
    match bytes.get(at) {
        Some(b'"') => Ok(Some(at + 1)),
        _ => Err(Fallback),
    }
}

/// Past the `}` that `entry` found.
#[inline]
fn closed(bytes: &[u8], at: usize) -> Scan<usize> {
    let at = spaces(bytes, at);
    match bytes.get(at) {
        Some(b'}') => Ok(at + 1),
        _ => Err(Fallback),
    }
}

/// Past the `:` after a key.
#[inline]
fn colon(bytes: &[u8], at: usize) -> Scan<usize> {
    let at = spaces(bytes, at);
    match bytes.get(at) {
        Some(b':') => Ok(at + 1),
        _ => Err(Fallback),
    }
}

/// Past one value starting at `at` (spaces before it allowed).
///
/// One loop with the open containers on a bit stack (a set bit is an
/// object), not a call per value: a trace line's inputs are mostly small
/// values in nested objects and arrays, and a call each cost more than
/// reading most of them. Spaces are an arm of each match rather than a
/// loop before it: loggers write compact JSON, and checking for a space
/// before every token was a sixth of the scan's instructions.
fn skip(bytes: &[u8], mut at: usize) -> Scan<usize> {
    // Bit `d` of `objects` says whether the container at depth `d + 1` is an object.
    let (mut objects, mut depth) = (0u128, 0u32);
    'value: loop {
        // At the start of a value.
        match bytes.get(at).copied().ok_or(Fallback)? {
            b'"' => at = string_end(bytes, at + 1)?.0,
            open @ (b'{' | b'[') => {
                if depth >= MAX_DEPTH {
                    return Err(Fallback);
                }
                let object = open == b'{';
                at += 1;
                let close = if object { b'}' } else { b']' };
                let mut next = bytes.get(at).copied();
                if next == Some(b' ') {
                    at = spaces(bytes, at);
                    next = bytes.get(at).copied();
                }
                if next == Some(close) {
                    at += 1;
                } else {
                    objects = (objects << 1) | u128::from(object);
                    depth += 1;
                    if object {
                        at = key_and_colon(bytes, at)?;
                    }
                    continue 'value;
                }
            }
            b't' => at = literal(bytes, at, b"true")?,
            b'f' => at = literal(bytes, at, b"false")?,
            b'n' => at = literal(bytes, at, b"null")?,
            b'-' | b'0'..=b'9' => at = number(bytes, at)?,
            b' ' => {
                at = spaces(bytes, at);
                continue 'value;
            }
            _ => return Err(Fallback),
        }
        // After a value: close containers until one goes on with a `,`.
        loop {
            if depth == 0 {
                return Ok(at);
            }
            let object = objects & 1 == 1;
            match bytes.get(at) {
                Some(b',') => {
                    at += 1;
                    if object {
                        at = key_and_colon(bytes, at)?;
                    }
                    continue 'value;
                }
                Some(b'}') if object => {}
                Some(b']') if !object => {}
                Some(b' ') => {
                    at = spaces(bytes, at);
                    continue;
                }
                _ => return Err(Fallback),
            }
            at += 1;
            objects >>= 1;
            depth -= 1;
        }
    }
}

/// From a key's opening quote (spaces before it allowed) to just after its
/// colon, where the value starts (spaces there are the value's to skip).
#[inline(always)]
fn key_and_colon(bytes: &[u8], mut at: usize) -> Scan<usize> {
    if bytes.get(at) == Some(&b' ') {
        at = spaces(bytes, at);
    }
    if bytes.get(at) != Some(&b'"') {
        return Err(Fallback);
    }
    let (end, _) = string_end(bytes, at + 1)?;
    match bytes.get(end) {
        Some(b':') => Ok(end + 1),
        _ => colon(bytes, end),
    }
}

fn literal(bytes: &[u8], at: usize, word: &[u8]) -> Scan<usize> {
    if bytes
        .get(at..at + word.len())
        .is_some_and(|b| same(b, word))
    {
        Ok(at + word.len())
    } else {
        Err(Fallback)
    }
}

/// JSON's number grammar: `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`.
fn number(bytes: &[u8], mut at: usize) -> Scan<usize> {
    if bytes.get(at) == Some(&b'-') {
        at += 1;
    }
    match bytes.get(at) {
        // One leading zero only: `01` is not a number.
        Some(b'0') if !matches!(bytes.get(at + 1), Some(b'0'..=b'9')) => at += 1,
        Some(b'1'..=b'9') => at = digits(bytes, at + 1),
        _ => return Err(Fallback),
    }
    if bytes.get(at) == Some(&b'.') {
        let end = digits(bytes, at + 1);
        if end == at + 1 {
            return Err(Fallback);
        }
        at = end;
    }
    if let Some(b'e' | b'E') = bytes.get(at) {
        at += 1;
        if let Some(b'+' | b'-') = bytes.get(at) {
            at += 1;
        }
        let end = digits(bytes, at);
        if end == at {
            return Err(Fallback);
        }
        at = end;
    }
    Ok(at)
}

fn digits(bytes: &[u8], mut at: usize) -> usize {
    while let Some(b'0'..=b'9') = bytes.get(at) {
        at += 1;
    }
    at
}

/// Past a string's closing quote, from just after its opening one; and
/// whether the string has escapes.
#[inline(always)]
fn string_end(bytes: &[u8], mut at: usize) -> Scan<(usize, bool)> {
    let mut escaped = false;
    loop {
        at = quote_or_backslash(bytes, at).ok_or(Fallback)?;
        if bytes.get(at) == Some(&b'"') {
            return Ok((at + 1, escaped));
        }
        escaped = true;
        match bytes.get(at + 1) {
            Some(b'"' | b'\\' | b'/' | b'b' | b'f' | b'n' | b'r' | b't') => at += 2,
            Some(b'u') => {
                let hex = bytes.get(at + 2..at + 6).ok_or(Fallback)?;
                if !hex.iter().all(u8::is_ascii_hexdigit) {
                    return Err(Fallback);
                }
                at += 6;
            }
            _ => return Err(Fallback),
        }
    }
}

/// The index of the first byte below 0x20 at or after `from`. In a block of
/// JSON lines that is the line's newline, unless the line has a control byte
/// of its own: the reader finds each line's end with it, and learns in the
/// same pass that the scanner need not check the line again.
///
/// Sixty-four bytes at a time where the CPU has AVX2 (checked at run time:
/// the binary is built for every x86-64), else thirty-two with SSE2.
#[inline]
pub fn first_control_byte(bytes: &[u8], from: usize) -> Option<usize> {
    #[cfg(target_arch = "x86_64")]
    if std::arch::is_x86_feature_detected!("avx2") {
        // SAFETY: the CPU has AVX2, checked just above.
        return unsafe { avx2::first_control_byte(bytes, from) };
    }
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    return sse2::first_control_byte(bytes, from);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    return first_control_byte_bytewise(bytes, from);
}

/// [`first_control_byte`] a byte at a time: on CPUs without SSE2, and for
/// the last bytes the SIMD paths' wide steps do not cover.
fn first_control_byte_bytewise(bytes: &[u8], from: usize) -> Option<usize> {
    bytes
        .get(from..)?
        .iter()
        .position(|&b| b < 0x20)
        .map(|i| from + i)
}

/// The index of the first `"` or `\` at or after `from`: sixteen bytes at
/// a time with SSE2 (every x86-64 CPU has it), a word at a time elsewhere.
#[inline]
fn quote_or_backslash(bytes: &[u8], from: usize) -> Option<usize> {
    #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
    return sse2::quote_or_backslash(bytes, from);
    #[cfg(not(all(target_arch = "x86_64", target_feature = "sse2")))]
    return quote_or_backslash_swar(bytes, from);
}

#[cfg(target_arch = "x86_64")]
mod avx2 {
    use std::arch::x86_64::{
        __m256i, _mm256_cmpeq_epi8, _mm256_loadu_si256, _mm256_min_epu8, _mm256_movemask_epi8,
        _mm256_set1_epi8,
    };

    /// [`super::first_control_byte`] sixty-four bytes at a time (two loads
    /// per step); the last bytes by the portable path. A line is kilobytes,
    /// so the step's width is what the reader's walk over a block costs.
    #[target_feature(enable = "avx2")]
    pub fn first_control_byte(bytes: &[u8], mut from: usize) -> Option<usize> {
        let limit = _mm256_set1_epi8(0x1F);
        while let Some(chunk) = bytes.get(from..).and_then(<[u8]>::first_chunk::<64>) {
            // SAFETY: this function runs only on CPUs with AVX2 (its callers
            // check), and each load reads 32 of the 64 bytes `chunk` borrows;
            // `loadu` needs no alignment.
            let (a, b) = unsafe {
                (
                    _mm256_loadu_si256(chunk.as_ptr().cast::<__m256i>()),
                    _mm256_loadu_si256(chunk.as_ptr().add(32).cast::<__m256i>()),
                )
            };
            // A byte is at most 0x1F when the unsigned minimum with 0x1F is itself.
            let low_a = _mm256_cmpeq_epi8(_mm256_min_epu8(a, limit), a);
            let low_b = _mm256_cmpeq_epi8(_mm256_min_epu8(b, limit), b);
            let found = u64::from(_mm256_movemask_epi8(low_a) as u32)
                | (u64::from(_mm256_movemask_epi8(low_b) as u32) << 32);
            if found != 0 {
                return Some(from + found.trailing_zeros() as usize);
            }
            from += 64;
        }
        super::first_control_byte_bytewise(bytes, from)
    }
}

#[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
mod sse2 {
    use std::arch::x86_64::{
        __m128i, _mm_cmpeq_epi8, _mm_loadu_si128, _mm_min_epu8, _mm_movemask_epi8, _mm_or_si128,
        _mm_set1_epi8,
    };

    /// [`super::first_control_byte`] thirty-two bytes at a time (two loads
    /// per step: lines are kilobytes); the last few bytes one by one.
    #[inline]
    pub fn first_control_byte(bytes: &[u8], mut from: usize) -> Option<usize> {
        while let Some(chunk) = bytes.get(from..).and_then(<[u8]>::first_chunk::<32>) {
            // SAFETY: as in `quote_or_backslash`: SSE2 is enabled for this
            // module, and each load reads 16 of the 32 bytes `chunk` borrows.
            let found = unsafe {
                let limit = _mm_set1_epi8(0x1F);
                let a = _mm_loadu_si128(chunk.as_ptr().cast::<__m128i>());
                let b = _mm_loadu_si128(chunk.as_ptr().add(16).cast::<__m128i>());
                // A byte is at most 0x1F when the unsigned minimum with 0x1F is itself.
                let low_a = _mm_cmpeq_epi8(_mm_min_epu8(a, limit), a);
                let low_b = _mm_cmpeq_epi8(_mm_min_epu8(b, limit), b);
                (_mm_movemask_epi8(low_a) as u32) | ((_mm_movemask_epi8(low_b) as u32) << 16)
            };
            if found != 0 {
                return Some(from + found.trailing_zeros() as usize);
            }
            from += 32;
        }
        super::first_control_byte_bytewise(bytes, from)
    }

    /// [`super::quote_or_backslash`] sixteen bytes at a time; the last few
    /// bytes of the text by words.
    #[inline]
    pub fn quote_or_backslash(bytes: &[u8], mut from: usize) -> Option<usize> {
        // One bound for the loop rather than a sub-slice per step: this loop
        // runs for every string of a line, and the slicing was a third of
        // its instructions.
        if let Some(last) = bytes.len().checked_sub(16) {
            while from <= last {
                // SAFETY: this module is compiled only where SSE2 is enabled, so
                // the CPU has these instructions; `from + 16 <= bytes.len()`, so
                // the load reads 16 bytes of `bytes`, and `loadu` needs no alignment.
                let found = unsafe {
                    let v = _mm_loadu_si128(bytes.as_ptr().add(from).cast::<__m128i>());
                    let quote = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'"' as i8));
                    let slash = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\\' as i8));
                    _mm_movemask_epi8(_mm_or_si128(quote, slash))
                };
                if found != 0 {
                    return Some(from + found.trailing_zeros() as usize);
                }
                from += 16;
            }
        }
        super::quote_or_backslash_swar(bytes, from)
    }
}

/// [`quote_or_backslash`] eight bytes at a time in a word.
#[inline]
fn quote_or_backslash_swar(bytes: &[u8], mut from: usize) -> Option<usize> {
    const ONES: u64 = u64::MAX / 255;
    const HIGHS: u64 = ONES * 0x80;
    while let Some(chunk) = bytes.get(from..).and_then(<[u8]>::first_chunk::<8>) {
        let word = u64::from_le_bytes(*chunk);
        let quote = word ^ (ONES * u64::from(b'"'));
        let slash = word ^ (ONES * u64::from(b'\\'));
        // A byte of `quote` or `slash` is zero where the word has the byte;
        // the lowest flagged byte is exact (borrows only flag higher ones).
        let found =
            ((quote.wrapping_sub(ONES) & !quote) | (slash.wrapping_sub(ONES) & !slash)) & HIGHS;
        if found != 0 {
            return Some(from + (found.trailing_zeros() / 8) as usize);
        }
        from += 8;
    }
    let rest = bytes.get(from..)?;
    rest.iter()
        .position(|&b| b == b'"' || b == b'\\')
        .map(|i| from + i)
}

/// Byte equality of short slices, inline: `==` on slices calls `memcmp`,
/// which costs more than the comparison for a word of a few bytes.
#[inline]
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x == y)
}

/// Whether any byte is below 0x20: the line's smallest byte, as a fold
/// without an early exit so the compiler vectorises it (a line is a few
/// kilobytes; stopping early would save nothing on the lines that matter).
fn has_control_byte(bytes: &[u8]) -> bool {
    bytes.iter().fold(u8::MAX, |least, &b| least.min(b)) < 0x20
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::de::IgnoredAny;

    fn scans(text: &str) -> bool {
        let Ok(mut s) = Scanner::new(text) else {
            return false;
        };
        s.value().is_ok() && s.finish().is_ok()
    }

    fn serde_accepts(text: &str) -> bool {
        serde_json::from_str::<IgnoredAny>(text).is_ok()
    }

    #[test]
    fn accepts_the_values_of_a_trace_line() {
        for text in [
            r#"{"a":[1,-0.5e+3,true,false,null,"x\"y\\u00e9\u00e9",{}],"b":{"c":[]}}"#,
            r#" [ 0 , 1E9 , -12.25 , "" , { "k" : "v" } ] "#,
            r#""é — ünïcode 💬""#,
        ] {
            assert!(scans(text), "{text}");
            assert!(serde_accepts(text), "{text}");
        }
    }

    #[test]
    fn refuses_what_serde_json_refuses() {
        for text in [
            "",
            "01",
            "-",
            "1.",
            "1e",
            "1e+",
            ".5",
            "+1",
            "tru",
            "nul",
            "[1,]",
            "{\"a\":1,}",
            "{\"a\" 1}",
            "{1:2}",
            "[1 2]",
            "\"abc",
            "\"\\x\"",
            "\"\\u12g4\"",
            "\"\\u12\"",
            "{",
            "[",
            "]",
            "{\"a\":}",
            "\"a\"\"b\"",
            "1 2",
            "\"tab\there\"",
            "[\"a\"]]",
        ] {
            assert!(!serde_accepts(text), "serde_json accepts {text:?}");
            assert!(!scans(text), "the scanner accepts {text:?}");
        }
    }

    /// Every short text over JSON's punctuation that the scanner accepts,
    /// serde_json accepts too; and the scanner does accept most of what
    /// serde_json does (it is not a scanner that refuses everything).
    #[test]
    fn never_accepts_more_than_serde_json_on_generated_texts() {
        let alphabet: &[u8] = b"{}[]\",:\\ 01-9.eE+tuflnrsa";
        let mut state = 0x9E37_79B9_7F4A_7C15u64;
        let (mut both, mut serde_only) = (0u32, 0u32);
        for _ in 0..200_000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let len = (state % 9) as usize;
            let text: String = (0..len)
                .map(|i| {
                    alphabet[((state >> (i * 5 + 8)) % alphabet.len() as u64) as usize] as char
                })
                .collect();
            let (ours, theirs) = (scans(&text), serde_accepts(&text));
            assert!(
                !ours || theirs,
                "the scanner accepts {text:?}, serde_json does not"
            );
            both += u32::from(ours && theirs);
            serde_only += u32::from(theirs && !ours);
        }
        assert!(
            both > 1000,
            "only {both} generated texts were valid for both"
        );
        assert!(serde_only * 20 < both, "{serde_only} refused of {both}");
    }

    /// Both finders (the word one is the only one on CPUs without SSE2)
    /// find the first quote or backslash at every offset, also in the last
    /// bytes of a text.
    #[test]
    fn quote_and_backslash_finders_agree_with_a_plain_search() {
        let text: Vec<u8> = (0..200u32)
            .map(|i| match i % 37 {
                0 => b'"',
                19 => b'\\',
                _ => b'a' + (i % 26) as u8,
            })
            .collect();
        for end in [0, 1, 7, 8, 15, 16, 17, 40, 199, 200] {
            let text = &text[..end];
            for from in 0..=end {
                let want = text[from..]
                    .iter()
                    .position(|&b| b == b'"' || b == b'\\')
                    .map(|i| from + i);
                assert_eq!(quote_or_backslash(text, from), want, "{end} {from}");
                assert_eq!(quote_or_backslash_swar(text, from), want, "{end} {from}");
            }
        }
    }

    /// The reader's line-end finder finds the first byte below 0x20 at every
    /// offset, also in a text's last bytes, and never a byte at 0x20 or above
    /// (0x80 and up included: SSE2 compares bytes as signed).
    #[test]
    fn the_first_control_byte_is_found_at_every_offset() {
        let text: Vec<u8> = (0..150u32)
            .map(|i| match i % 41 {
                0 => b'\n',
                13 => 0x1F,
                27 => b'\t',
                _ => [b' ', b'a', 0x80, 0xFF, 0x7F][(i % 5) as usize],
            })
            .collect();
        for end in [0, 1, 15, 16, 31, 32, 33, 63, 64, 65, 127, 128, 149, 150] {
            let text = &text[..end];
            for from in 0..=end {
                let want = text[from..]
                    .iter()
                    .position(|&b| b < 0x20)
                    .map(|i| from + i);
                assert_eq!(first_control_byte(text, from), want, "{end} {from}");
                // Each path on its own: the dispatch above takes only one of them.
                #[cfg(all(target_arch = "x86_64", target_feature = "sse2"))]
                assert_eq!(sse2::first_control_byte(text, from), want, "{end} {from}");
                #[cfg(target_arch = "x86_64")]
                if std::arch::is_x86_feature_detected!("avx2") {
                    // SAFETY: the CPU has AVX2, checked just above.
                    let avx2 = unsafe { avx2::first_control_byte(text, from) };
                    assert_eq!(avx2, want, "{end} {from}");
                }
            }
        }
    }

    #[test]
    fn keys_come_plain_and_escaped_keys_fall_back() {
        let mut s = Scanner::new(r#"{"id": "x1", "n" : 2}"#).unwrap();
        s.begin_object().unwrap();
        assert_eq!(s.next_key(true), Ok(Some("id")));
        assert_eq!(s.value(), Ok("\"x1\""));
        assert_eq!(s.next_key(false), Ok(Some("n")));
        assert_eq!(s.value(), Ok("2"));
        assert_eq!(s.next_key(false), Ok(None));
        assert!(s.finish().is_ok());

        let mut s = Scanner::new(r#"{"i\u0064": 1}"#).unwrap();
        s.begin_object().unwrap();
        assert_eq!(s.next_key(true), Err(Fallback));
    }

    #[test]
    fn control_bytes_and_deep_nesting_fall_back() {
        assert!(Scanner::new("{\"a\":\t1}").is_err());
        let deep = format!("{}{}", "[".repeat(120), "]".repeat(120));
        assert!(serde_accepts(&deep));
        assert!(!scans(&deep));
        let ok = format!("{}{}", "[".repeat(90), "]".repeat(90));
        assert!(scans(&ok));
    }
}
