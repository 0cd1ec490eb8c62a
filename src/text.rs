//! Small text helpers every layer may use (a leaf: it imports nothing of the crate).

/// Shortens a value quoted in an error so a huge output cannot flood a report.
pub fn truncate_for_message(s: &str) -> String {
    const MAX: usize = 80;
    if s.chars().count() <= MAX {
        s.to_string()
    } else {
        let head: String = s.chars().take(MAX).collect();
        format!("{head}…")
    }
}
