//! YAML documents in (configuration files, kubeconfigs): one rule for a
//! blank document and for how a parse error reads.

use serde::de::DeserializeOwned;

/// Why a YAML document could not be read: where and what, on one line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct YamlError(String);

/// `text` as a `T`; a blank document is `T::default()`.
///
/// # Errors
/// The document is not YAML or not a `T`: [`YamlError`] says what and
/// where (`invalid u64 at line 8, column 17 (key stake_amount)`). It
/// quotes no value of the document, which may hold a credential (a
/// kubeconfig does), so not the parser's source snippet either.
pub fn from_str<T: DeserializeOwned + Default>(text: &str) -> Result<T, YamlError> {
    if text.trim().is_empty() {
        return Ok(T::default());
    }
    serde_saphyr::from_str(text).map_err(|error| {
        let rendered = error.without_snippet().to_string();
        let message = rendered.strip_prefix("error: ").unwrap_or(&rendered);
        let mut line = message.split_whitespace().collect::<Vec<_>>().join(" ");
        if let Some(key) = error.location().and_then(|at| key_at(text, at.line())) {
            line.push_str(&format!(" (key {key})"));
        }
        YamlError(line)
    })
}

/// The mapping key that line `number` (from 1) of `text` starts with, if
/// it is a plain one (`  name: …`, `- name: …`).
fn key_at(text: &str, number: u64) -> Option<&str> {
    let index = usize::try_from(number).ok()?.checked_sub(1)?;
    let source = text.lines().nth(index)?.trim_start();
    let source = source.strip_prefix("- ").unwrap_or(source).trim_start();
    let (key, rest) = source.split_once(':')?;
    let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.');
    let separated = rest.is_empty() || rest.starts_with(char::is_whitespace);
    (!key.is_empty() && key.chars().all(plain) && separated).then_some(key)
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn a_bad_document_is_named_on_one_line() {
        let error = from_str::<BTreeMap<String, u32>>("a: 1\nb: [\n").unwrap_err();
        let text = error.to_string();
        assert!(!text.contains('\n'), "{text}");
        assert!(!text.starts_with("error:"), "{text}");
        assert!(text.contains("line 2"), "{text}");
        let error = from_str::<BTreeMap<String, u32>>("a: 1\nsecret: hunter2\n").unwrap_err();
        let text = error.to_string();
        assert!(
            text.contains("line 2") && text.ends_with("(key secret)"),
            "{text}"
        );
        assert!(!text.contains("hunter2"), "{text}");
    }

    #[test]
    fn only_a_plain_key_is_named() {
        let text = "a:\n  - b: 1\n  - https://x\n  c d: 2\n";
        assert_eq!(key_at(text, 1), Some("a"));
        assert_eq!(key_at(text, 2), Some("b"));
        assert_eq!(key_at(text, 3), None);
        assert_eq!(key_at(text, 4), None);
        assert_eq!(key_at(text, 0), None);
        assert_eq!(key_at(text, 9), None);
    }

    #[test]
    fn a_blank_document_is_the_default() {
        assert_eq!(
            from_str::<BTreeMap<String, u32>>(" \n").unwrap(),
            BTreeMap::new()
        );
        assert_eq!(from_str::<BTreeMap<String, u32>>("a: 1").unwrap()["a"], 1);
    }
}
