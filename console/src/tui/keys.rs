//! Key bindings: k9s's keys by default, patched by the `[keys]` table of
//! `console.toml` (`drain = "D"`, `quit = "ctrl-q"`).

use std::collections::BTreeMap;
use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

/// Everything a key can be bound to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Binding {
    /// Leave the console.
    Quit,
    /// Close a popup, clear a filter, leave a detail view.
    Back,
    /// Every key of the current screen.
    Help,
    /// The `:` command palette.
    Palette,
    /// Filter the current table.
    Filter,
    /// Reload the current screen's data now.
    Refresh,
    /// Move the selection up.
    Up,
    /// Move the selection down.
    Down,
    /// A page up.
    PageUp,
    /// A page down.
    PageDown,
    /// The first row.
    Top,
    /// The last row.
    Bottom,
    /// Open the selected row.
    Open,
    /// Cycle the sort column.
    Sort,
    /// Reverse the sort.
    Reverse,
    /// Nodes: cordon.
    Cordon,
    /// Nodes: uncordon.
    Uncordon,
    /// Nodes: drain.
    Drain,
    /// Nodes: propose a slash.
    ProposeSlash,
    /// Slash review: approve.
    Approve,
    /// Slash review: reject.
    Reject,
    /// Create (a key, a stake).
    New,
    /// Wallets: import a key.
    Import,
    /// Wallets: make the selected key active.
    Use,
    /// Wallets: ask the faucet.
    Faucet,
    /// Wallets: show the selected key's secret.
    Export,
    /// Stake: add stake.
    AddStake,
    /// Stake: refresh the seal token.
    RefreshToken,
    /// Stake: request unstake.
    Unstake,
    /// Stake: withdraw.
    Withdraw,
    /// Audit: verify an event against the chain.
    VerifyEvent,
}

impl Binding {
    /// Every binding with its name in `[keys]` and its default key.
    pub const ALL: [(Self, &'static str, &'static str); 31] = [
        (Self::Quit, "quit", "q"),
        (Self::Back, "back", "esc"),
        (Self::Help, "help", "?"),
        (Self::Palette, "palette", ":"),
        (Self::Filter, "filter", "/"),
        (Self::Refresh, "refresh", "ctrl-r"),
        (Self::Up, "up", "up"),
        (Self::Down, "down", "down"),
        (Self::PageUp, "page_up", "pageup"),
        (Self::PageDown, "page_down", "pagedown"),
        (Self::Top, "top", "g"),
        (Self::Bottom, "bottom", "G"),
        (Self::Open, "open", "enter"),
        (Self::Sort, "sort", "o"),
        (Self::Reverse, "reverse", "O"),
        (Self::Cordon, "cordon", "c"),
        (Self::Uncordon, "uncordon", "u"),
        (Self::Drain, "drain", "d"),
        (Self::ProposeSlash, "propose_slash", "p"),
        (Self::Approve, "approve", "a"),
        (Self::Reject, "reject", "r"),
        (Self::New, "new", "n"),
        (Self::Import, "import", "i"),
        (Self::Use, "use", "space"),
        (Self::Faucet, "faucet", "f"),
        (Self::Export, "export", "x"),
        (Self::AddStake, "add_stake", "a"),
        (Self::RefreshToken, "refresh_token", "r"),
        (Self::Unstake, "unstake", "u"),
        (Self::Withdraw, "withdraw", "w"),
        (Self::VerifyEvent, "verify_event", "v"),
    ];

    /// The name in `[keys]`.
    pub fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(b, _, _)| *b == self)
            .map_or("?", |(_, name, _)| name)
    }
}

/// A key press as bound: a code and its modifiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Key {
    code: KeyCode,
    modifiers: KeyModifiers,
}

impl Key {
    /// Parses `q`, `G`, `esc`, `enter`, `ctrl-r`, `alt-x`, `f5`, `space`.
    ///
    /// # Errors
    /// The text names no key.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut modifiers = KeyModifiers::NONE;
        let mut rest = text.trim();
        loop {
            if let Some(r) = rest.strip_prefix("ctrl-") {
                modifiers |= KeyModifiers::CONTROL;
                rest = r;
            } else if let Some(r) = rest.strip_prefix("alt-") {
                modifiers |= KeyModifiers::ALT;
                rest = r;
            } else {
                break;
            }
        }
        let code = match rest {
            "esc" => KeyCode::Esc,
            "enter" => KeyCode::Enter,
            "tab" => KeyCode::Tab,
            "backspace" => KeyCode::Backspace,
            "space" => KeyCode::Char(' '),
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "pageup" => KeyCode::PageUp,
            "pagedown" => KeyCode::PageDown,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            f if f.len() > 1 && f.starts_with('f') && f[1..].parse::<u8>().is_ok() => KeyCode::F(
                f[1..]
                    .parse()
                    .map_err(|_| format!("`{text}` is not a key"))?,
            ),
            single if single.chars().count() == 1 => KeyCode::Char(
                single
                    .chars()
                    .next()
                    .ok_or_else(|| format!("`{text}` is not a key"))?,
            ),
            _ => {
                return Err(format!(
                    "`{text}` is not a key (e.g. q, G, esc, enter, ctrl-r, f5)"
                ));
            }
        };
        Ok(Self { code, modifiers })
    }

    /// Whether `event` is this key (shift is part of the character).
    pub fn matches(self, event: &KeyEvent) -> bool {
        let modifiers = event.modifiers - KeyModifiers::SHIFT;
        event.code == self.code && modifiers == self.modifiers
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.modifiers.contains(KeyModifiers::CONTROL) {
            f.write_str("ctrl-")?;
        }
        if self.modifiers.contains(KeyModifiers::ALT) {
            f.write_str("alt-")?;
        }
        match self.code {
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "f{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

/// The key of every binding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyBindings {
    keys: BTreeMap<Binding, Key>,
}

impl KeyBindings {
    /// The defaults patched by `overrides` (binding name → key).
    ///
    /// # Errors
    /// An unknown binding name or key, named as `keys.<name>`.
    pub fn new(overrides: &BTreeMap<String, String>) -> Result<Self, (String, String)> {
        let mut keys = BTreeMap::new();
        for (binding, _, default) in Binding::ALL {
            keys.insert(
                binding,
                Key::parse(default).map_err(|e| (binding.name().to_owned(), e))?,
            );
        }
        for (name, key) in overrides {
            let Some((binding, _, _)) = Binding::ALL.iter().find(|(_, n, _)| n == name) else {
                let known: Vec<&str> = Binding::ALL.iter().map(|(_, n, _)| *n).collect();
                return Err((
                    format!("keys.{name}"),
                    format!("no such binding (known: {})", known.join(", ")),
                ));
            };
            keys.insert(
                *binding,
                Key::parse(key).map_err(|e| (format!("keys.{name}"), e))?,
            );
        }
        Ok(Self { keys })
    }

    /// The key of `binding`.
    pub fn key(&self, binding: Binding) -> Key {
        self.keys.get(&binding).copied().unwrap_or(Key {
            code: KeyCode::Null,
            modifiers: KeyModifiers::NONE,
        })
    }

    /// Whether `event` is `binding`'s key.
    pub fn is(&self, event: &KeyEvent, binding: Binding) -> bool {
        self.key(binding).matches(event)
    }
}

impl Default for KeyBindings {
    fn default() -> Self {
        Self::new(&BTreeMap::new()).unwrap_or(Self {
            keys: BTreeMap::new(),
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn defaults_are_k9s_keys_and_overrides_patch_them() {
        let keys = KeyBindings::default();
        let press = |c| KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE);
        assert!(keys.is(&press('q'), Binding::Quit));
        assert!(keys.is(&press(':'), Binding::Palette));
        assert!(keys.is(&press('/'), Binding::Filter));
        assert!(keys.is(
            &KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT),
            Binding::Bottom
        ));
        let patched = KeyBindings::new(&[("drain".into(), "ctrl-d".into())].into()).unwrap();
        assert!(!patched.is(&press('d'), Binding::Drain));
        assert!(patched.is(
            &KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
            Binding::Drain
        ));
        assert_eq!(patched.key(Binding::Drain).to_string(), "ctrl-d");
    }

    #[test]
    fn bad_bindings_are_named() {
        let (key, why) = KeyBindings::new(&[("dran".into(), "d".into())].into()).unwrap_err();
        assert_eq!(key, "keys.dran");
        assert!(why.contains("drain"), "{why}");
        let (key, why) =
            KeyBindings::new(&[("drain".into(), "hyper-d".into())].into()).unwrap_err();
        assert_eq!(key, "keys.drain");
        assert!(why.contains("not a key"), "{why}");
    }
}
