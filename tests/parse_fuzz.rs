//! Mutated trace lines: the parser never panics, and the cheap statistics
//! view and the full turn agree on which lines are bad.

use promptc::config::FieldMap;
use promptc::signature::Signature;
use promptc::traces::parse::{LineKind, LineParser};

fn xorshift(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

#[test]
fn mutated_lines_never_panic_and_both_views_agree() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
    let sig = Signature::load(&root.join("signature.yaml")).unwrap();
    let text = std::fs::read_to_string(root.join("traces/2026-09.jsonl")).unwrap();
    let lines: Vec<&[u8]> = text.lines().take(20).map(|l| l.as_bytes()).collect();
    let parser = LineParser::new(&sig, &FieldMap::default(), Some("persona"));
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let (mut bad, mut ok) = (0, 0);
    for i in 0..4000 {
        let mut line = lines[i % lines.len()].to_vec();
        let edits = 1 + xorshift(&mut state) % 4;
        for _ in 0..edits {
            let pos = (xorshift(&mut state) as usize) % line.len().max(1);
            match xorshift(&mut state) % 4 {
                0 => line.truncate(pos),
                1 => {
                    if pos < line.len() {
                        line[pos] = (xorshift(&mut state) & 0xFF) as u8;
                    }
                }
                2 => line.insert(
                    pos.min(line.len()),
                    b"{}[]\",:\\\x00\xff"[(xorshift(&mut state) % 10) as usize],
                ),
                _ => {
                    if pos < line.len() {
                        line.remove(pos);
                    }
                }
            }
        }
        let head = parser.head(&line);
        let turn = parser.turn(&line);
        match (&head, &turn) {
            (LineKind::Bad(a), LineKind::Bad(b)) => {
                assert_eq!(
                    a,
                    b,
                    "the two views disagree on {:?}",
                    String::from_utf8_lossy(&line)
                );
                assert!(!a.is_empty());
                bad += 1;
            }
            (LineKind::Turn(h), LineKind::Turn(t)) => {
                assert_eq!((&h.id, &h.thread, h.clean), (&t.id, &t.thread, t.clean));
                ok += 1;
            }
            (LineKind::OtherSignature, LineKind::OtherSignature) => {}
            _ => panic!(
                "views disagree on {:?}: {head:?} vs {turn:?}",
                String::from_utf8_lossy(&line)
            ),
        }
    }
    // The mutations must exercise both outcomes, or the test proves nothing.
    assert!(bad > 1000 && ok > 100, "bad {bad}, ok {ok}");
}

/// `seed` mutated by up to `max_edits` byte edits drawn from `alphabet`
/// (and random bytes): truncation, replacement, insertion, deletion.
fn mutate(seed: &[u8], state: &mut u64, max_edits: u64, alphabet: &[u8]) -> Vec<u8> {
    let mut line = seed.to_vec();
    for _ in 0..1 + xorshift(state) % max_edits {
        let pos = (xorshift(state) as usize) % line.len().max(1);
        match xorshift(state) % 5 {
            0 => line.truncate(pos),
            1 if pos < line.len() => line[pos] = (xorshift(state) & 0xFF) as u8,
            2 => line.insert(
                pos.min(line.len()),
                alphabet[(xorshift(state) as usize) % alphabet.len()],
            ),
            3 if pos < line.len() => {
                line.remove(pos);
            }
            _ => {
                // Duplicate a slice: repeated keys, nested structures.
                let end = (pos + (xorshift(state) % 40) as usize).min(line.len());
                let piece = line[pos..end].to_vec();
                let at = (xorshift(state) as usize) % line.len().max(1);
                line.splice(at..at, piece);
            }
        }
    }
    line
}

/// How long each property runs: bounded by iterations (CI time is known),
/// scaled up with PROMPTC_FUZZ_ITERS for a longer local run.
fn iterations(default: usize) -> usize {
    std::env::var("PROMPTC_FUZZ_ITERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[test]
fn mutated_configs_signatures_and_metrics_load_or_fail_with_the_file_named() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
    let cfg = std::fs::read(root.join("promptc.yaml")).unwrap();
    let sig = std::fs::read(root.join("signature.yaml")).unwrap();
    let mut state = 0x1234_5678_9ABC_DEF1u64;
    let alphabet = b"&*!|>-:{}[] \n\t#'\"0123456789.e-";
    let (mut ok, mut err) = (0, 0);
    for i in 0..iterations(3000) {
        let seed = if i % 2 == 0 { &cfg } else { &sig };
        let text = String::from_utf8_lossy(&mutate(seed, &mut state, 6, alphabet)).into_owned();
        let path = std::path::Path::new("fuzz.yaml");
        let outcome = if i % 2 == 0 {
            promptc::config::Config::from_yaml(path, &text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        } else {
            promptc::yamlerr::from_str::<Signature>(path, &text)
                .map(|_| ())
                .map_err(|e| e.to_string())
        };
        match outcome {
            Ok(()) => ok += 1,
            Err(m) => {
                assert!(m.starts_with("fuzz.yaml"), "an error without its file: {m}");
                err += 1;
            }
        }
    }
    assert!(ok > 100 && err > 100, "ok {ok}, err {err}");
}

#[test]
fn mutated_packs_load_or_fail_with_problems() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
    let pack = std::fs::read(root.join("packs/speak.json")).unwrap();
    let sig = Signature::load(&root.join("signature.yaml")).unwrap();
    let mut state = 0xDEAD_BEEF_0BAD_F00Du64;
    let (mut ok, mut err) = (0, 0);
    for _ in 0..iterations(2000) {
        let text =
            String::from_utf8_lossy(&mutate(&pack, &mut state, 3, b"{}[]\",:\\ 0e-")).into_owned();
        match promptc::pack::Pack::from_json(&text, Some(&sig)) {
            Ok(_) => ok += 1,
            Err(problems) => {
                assert!(!problems.is_empty() && problems.iter().all(|p| !p.is_empty()));
                err += 1;
            }
        }
    }
    assert!(ok > 20 && err > 500, "ok {ok}, err {err}");
}

#[test]
fn judge_and_section_answers_parse_or_refuse_without_panicking() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/gossip");
    let sig = Signature::load(&root.join("signature.yaml")).unwrap();
    let verdicts: [&[u8]; 3] = [
        b"{\"score\": 0.75, \"rationale\": \"Cites E2.\"}",
        b"Score: 0.4\nRationale: unsupported claim",
        b"```json\n{\"score\": 1, \"rationale\": \"ok\"}\n```",
    ];
    let section: &[u8] =
        b"=== utterance ===\nWe should verify E2 first.\n\n=== rhetorical_move ===\nverify\n";
    let mut state = 0x0F0F_F0F0_1234_4321u64;
    let (mut scored, mut parsed) = (0, 0);
    for i in 0..iterations(6000) {
        let seed = verdicts[i % 3];
        let text = String::from_utf8_lossy(&mutate(seed, &mut state, 4, b"{}\":.-0123456789e\n="))
            .into_owned();
        if let Ok(v) = promptc::metric::judge::parse_verdict(&text) {
            assert!((0.0..=1.0).contains(&v.score), "{} from {text:?}", v.score);
            scored += 1;
        }
        let text =
            String::from_utf8_lossy(&mutate(section, &mut state, 4, b"= \n_abc")).into_owned();
        if let Ok(out) = promptc::program::parse_completion(&sig, &text) {
            let m = out["rhetorical_move"].as_str().unwrap_or("");
            assert!(
                sig.outputs["rhetorical_move"]
                    .enum_values
                    .as_ref()
                    .unwrap()
                    .iter()
                    .any(|e| e == m),
                "an enum value outside the signature: {m:?} from {text:?}"
            );
            parsed += 1;
        }
    }
    assert!(
        scored > 500 && parsed > 300,
        "scored {scored}, parsed {parsed}"
    );
}

#[test]
fn any_retry_after_value_parses_to_a_bounded_wait_or_none() {
    let now = std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000);
    let seeds: [&[u8]; 4] = [b"120", b"1.5", b"Wed, 21 Oct 2026 07:28:00 GMT", b"1e300"];
    let mut state = 0x5555_AAAA_3333_CCCCu64;
    for i in 0..iterations(20000) {
        let text =
            String::from_utf8_lossy(&mutate(seeds[i % 4], &mut state, 3, b"0123456789.e-+ inf"))
                .into_owned();
        if let Some(d) = promptc::lm::retry::parse_retry_after(&text, now) {
            assert!(
                d <= promptc::lm::retry::MAX_RETRY_AFTER,
                "{d:?} from {text:?}"
            );
        }
    }
}
