//! Markdown that stays inert whatever text it carries.
//!
//! Pull request bodies, comments and job summaries quote what models, traces
//! and pull-request authors wrote. On GitHub that text must not mention
//! anyone, reference an issue (`#12`, `GH-12`, `owner/repo#12`, a full issue
//! URL), render HTML, break out of the code span or table cell it sits in,
//! or read as a workflow command when printed in a log. Every piece of
//! untrusted text goes through exactly one of these functions: [`inline`]
//! for prose, [`code`] (or [`code_cell`] inside a table) for identifiers,
//! [`fenced`] for blocks.

const ZWSP: char = '\u{200B}';

/// Text safe to place in markdown prose: HTML escaped, mentions and
/// references broken (a zero-width space after `@`, `#`, `GH`, `://`, `www`),
/// markdown control characters escaped, line breaks flattened, workflow
/// commands disarmed.
pub fn inline(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 8);
    let chars: Vec<char> = text.chars().collect();
    for (i, &c) in chars.iter().enumerate() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '@' | '#' => {
                out.push(c);
                out.push(ZWSP);
            }
            '\\' | '`' | '*' | '_' | '[' | ']' | '|' | '~' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() || c == '\u{2028}' || c == '\u{2029}' => out.push(' '),
            ':' if chars.get(i + 1..i + 3) == Some(&['/', '/']) => {
                out.push(':');
                out.push(ZWSP);
            }
            _ => {
                out.push(c);
                let next = |k: usize| chars.get(i + k).copied().unwrap_or(' ');
                // `GH-12` and `www.` autolink; break them after the prefix.
                let gh = (c == 'H' || c == 'h')
                    && i > 0
                    && chars[i - 1].eq_ignore_ascii_case(&'g')
                    && next(1) == '-';
                let www = (c == 'w' || c == 'W')
                    && i >= 2
                    && chars[i - 2..i].iter().all(|p| p.eq_ignore_ascii_case(&'w'))
                    && next(1) == '.';
                if gh || www {
                    out.push(ZWSP);
                }
            }
        }
    }
    disarm_commands(&out)
}

/// An inline code span holding `text` literally: the backtick fence is longer
/// than any run inside, line breaks and control characters become spaces
/// (a newline could end the paragraph and escape the span). Mentions,
/// references, links and HTML are not rendered inside code.
pub fn code(text: &str) -> String {
    let flat: String = text
        .chars()
        .map(|c| {
            if c.is_control() || c == '\u{2028}' || c == '\u{2029}' {
                ' '
            } else {
                c
            }
        })
        .collect();
    if flat.trim().is_empty() {
        return "` `".into();
    }
    let fence = "`".repeat(longest_run(&flat, '`') + 1);
    // A span that starts or ends with a backtick needs a space inside its fence.
    let pad = if flat.starts_with('`') || flat.ends_with('`') {
        " "
    } else {
        ""
    };
    format!("{fence}{pad}{flat}{pad}{fence}")
}

/// [`code`] for a table cell: a `|` would end the cell even inside a code
/// span, so it is escaped (GitHub drops the backslash there).
pub fn code_cell(text: &str) -> String {
    code(text).replace('|', "\\|")
}

fn longest_run(text: &str, ch: char) -> usize {
    let (mut longest, mut run) = (0, 0);
    for c in text.chars() {
        if c == ch {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    longest
}

/// Lines that a runner would read as a workflow command (`::` or `##[` after
/// whitespace, lines split at `\n` and a lone `\r`) get a zero-width space in
/// front, so printing them (job log, summary) executes nothing.
pub fn disarm_commands(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    text.split('\n')
        .map(|l| {
            let t = l.trim_start();
            if t.starts_with("::") || t.starts_with("##[") {
                format!("{ZWSP}{l}")
            } else {
                l.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A fenced code block whose fence is longer than any backtick run inside.
pub fn fenced(info: &str, body: &str) -> String {
    let fence = "`".repeat((longest_run(body, '`') + 1).max(3));
    format!(
        "{fence}{info}\n{}\n{fence}\n",
        disarm_commands(body.trim_end_matches('\n'))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prose_cannot_mention_reference_link_or_render_html() {
        let t = inline(
            "ping @octocat re #12, GH-42, gh-7, acme/app#3, https://github.com/a/b/issues/1 and www.github.com/a <img src=x>\n::error::x",
        );
        for bad in [
            "@o", "#1", "GH-4", "gh-7", "#3", "https://", "www.", "<img", "\n",
        ] {
            assert!(!t.contains(bad), "{bad:?} survives in {t:?}");
        }
        assert!(t.contains("&lt;img src=x&gt;"));
    }

    #[test]
    fn a_code_span_holds_anything_on_one_line() {
        assert_eq!(code("th_1"), "`th_1`");
        assert_eq!(code("a`b"), "``a`b``");
        assert_eq!(code("`x`"), "`` `x` ``");
        assert_eq!(
            code("id\n\n@octocat <img src=x>"),
            "`id  @octocat <img src=x>`"
        );
        assert_eq!(code(""), "` `");
        assert_eq!(code_cell("a|b"), "`a\\|b`");
    }

    #[test]
    fn hostile_blocks_keep_their_fence_and_disarm_commands() {
        let block = fenced(
            "diff",
            "a ``` fence ```` inside\r::error::boom\n##[warning]x",
        );
        assert!(block.starts_with("`````diff\n"), "{block}");
        assert!(block.ends_with("\n`````\n"));
        for line in block.lines() {
            assert!(
                !line.starts_with("::") && !line.starts_with("##["),
                "{line:?}"
            );
        }
    }
}
