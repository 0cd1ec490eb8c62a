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
