//! The `:` command palette: type a screen (`nodes`, `stake`, …) or a
//! command (`refresh`, `help`, `quit`), `tab` completes, `enter` runs.

use crossterm::event::{KeyCode, KeyEvent};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{View, block};
use crate::tui::action::{Action, Screen};

/// Commands that are not screens.
const COMMANDS: [&str; 3] = ["refresh", "help", "quit"];

/// The palette's input.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Palette {
    /// What was typed.
    pub input: String,
}

/// Every palette word: screens, then commands.
fn words() -> impl Iterator<Item = &'static str> {
    Screen::ALL.iter().map(|(_, name)| *name).chain(COMMANDS)
}

impl Palette {
    /// The words starting with the input.
    pub fn matches(&self) -> Vec<&'static str> {
        let typed = self.input.trim();
        words().filter(|w| w.starts_with(typed)).collect()
    }

    /// Completes the input to the longest prefix common to its matches.
    pub fn complete(&mut self) {
        let matches = self.matches();
        let Some(first) = matches.first() else {
            return;
        };
        let common = matches.iter().fold(first.len(), |len, word| {
            first
                .bytes()
                .zip(word.bytes())
                .take(len)
                .take_while(|(a, b)| a == b)
                .count()
        });
        self.input = first[..common].to_owned();
    }

    /// Handles a key: `Some(action)` when run or cancelled.
    pub fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        if view.is(key, crate::tui::keys::Binding::Back) {
            return Some(Action::Back);
        }
        match key.code {
            KeyCode::Tab => self.complete(),
            KeyCode::Backspace => drop(self.input.pop()),
            KeyCode::Enter => return Some(self.run()),
            KeyCode::Char(c) => self.input.push(c),
            _ => {}
        }
        None
    }

    fn run(&self) -> Action {
        let typed = self.input.trim();
        let matches = self.matches();
        let word = if matches.contains(&typed) {
            typed
        } else if let [only] = matches.as_slice() {
            only
        } else {
            return Action::Flash(format!("`:{typed}`: no such screen or command (try tab)"));
        };
        if let Some((screen, _)) = Screen::ALL.iter().find(|(_, name)| *name == word) {
            return Action::Goto(*screen);
        }
        match word {
            "refresh" => Action::Refresh,
            "help" => Action::Help,
            _ => Action::Quit,
        }
    }

    /// Draws the input line and the matches in `area` (one line high plus
    /// its frame).
    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let matches = self.matches().join(" ");
        let line = Line::from(vec![
            Span::styled(":", theme.key()),
            Span::styled(format!("{}▏", self.input), theme.text()),
            Span::styled(format!("   {matches}"), theme.muted()),
        ]);
        frame.render_widget(Clear, area);
        frame.render_widget(Paragraph::new(line).block(block("command", theme)), area);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tab_completes_and_enter_runs() {
        let mut palette = Palette {
            input: "no".to_owned(),
        };
        palette.complete();
        assert_eq!(palette.input, "nodes");
        assert_eq!(palette.run(), Action::Goto(Screen::Nodes));
        let mut ambiguous = Palette {
            input: "s".to_owned(),
        };
        ambiguous.complete();
        assert_eq!(ambiguous.input, "s", "stake and slash share only `s`");
        assert!(matches!(ambiguous.run(), Action::Flash(_)));
        let slash = Palette {
            input: "sl".to_owned(),
        };
        assert_eq!(slash.run(), Action::Goto(Screen::Slash));
        let quit = Palette {
            input: "q".to_owned(),
        };
        assert_eq!(quit.run(), Action::Quit);
    }
}
