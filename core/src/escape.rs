//! Text from outside (the chain, the master, the API server) made safe to
//! show on a terminal: the console's output, and the messages the agent
//! and the local launcher stop with.
//!
//! Anyone who stakes can write a slash reason or a gateway path on chain,
//! and such text reaches the operator's screen. A raw escape sequence in it
//! would be obeyed by the terminal: retitle it, clear it, move the cursor
//! over earlier lines, or (OSC 52) set the clipboard. Control characters
//! and the Unicode bidirectional overrides (which reorder what is shown)
//! are therefore written as `\uXXXX`, an escape that reads plainly and is
//! also valid, with the same meaning, inside a JSON string.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every control character except newline and tab, and every
/// bidirectional formatting character, written as `\uXXXX`: for whole
/// outputs, whose own lines stay lines.
pub fn controls(text: &str) -> Cow<'_, str> {
    escape(text, |c| c == '\n' || c == '\t')
}

/// `text` with every control character, newline and tab included, and
/// every bidirectional formatting character written as `\uXXXX`: for a
/// field that must stay on its line (a slash reason, a request path).
pub fn single_line(text: &str) -> Cow<'_, str> {
    escape(text, |_| false)
}

fn escape(text: &str, keep: impl Fn(char) -> bool) -> Cow<'_, str> {
    let unsafe_char = |c: char| (c.is_control() || is_bidi_control(c)) && !keep(c);
    if !text.chars().any(unsafe_char) {
        return Cow::Borrowed(text);
    }
    let mut escaped = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        if unsafe_char(c) {
            let _ = write!(escaped, "\\u{:04x}", u32::from(c));
        } else {
            escaped.push(c);
        }
    }
    Cow::Owned(escaped)
}

/// The characters that change the display order of text (Unicode's
/// explicit bidirectional formatting characters and marks).
fn is_bidi_control(c: char) -> bool {
    matches!(
        c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_text_is_borrowed_unchanged() {
        let text = "slash: node `w-1` lost 0.5 SUI — ünïcode ✓\n\tnext";
        assert!(matches!(controls(text), Cow::Borrowed(t) if t == text));
        assert!(matches!(single_line("GET /api/v1/pods"), Cow::Borrowed(_)));
    }

    #[test]
    fn escape_sequences_are_written_out() {
        let reason = "bad\x1b]52;c;cHduZWQ=\x07 \x1b[2J\r\x08\x7f\u{9b}31m";
        assert_eq!(
            controls(reason),
            "bad\\u001b]52;c;cHduZWQ=\\u0007 \\u001b[2J\\u000d\\u0008\\u007f\\u009b31m"
        );
    }

    #[test]
    fn bidi_overrides_are_written_out() {
        assert_eq!(
            controls("tx \u{202e}gnp.exe\u{202c} \u{2066}x\u{2069}"),
            "tx \\u202egnp.exe\\u202c \\u2066x\\u2069"
        );
    }

    #[test]
    fn lines_stay_lines_unless_one_is_asked_for() {
        assert_eq!(controls("a\nb\tc"), "a\nb\tc");
        assert_eq!(single_line("a\nb\tc"), "a\\u000ab\\u0009c");
    }

    #[test]
    fn escaped_json_still_parses_to_the_same_value() {
        let value = serde_json::json!({ "reason": "x\u{7f}\u{85}\u{202e}y" });
        let text = serde_json::to_string_pretty(&value).unwrap();
        let escaped = controls(&text);
        assert!(!escaped.chars().any(|c| c.is_control() && c != '\n'));
        let back: serde_json::Value = serde_json::from_str(&escaped).unwrap();
        assert_eq!(back, value);
    }
}
