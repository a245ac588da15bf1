//! Forms: a few labelled fields (text, masked secret, toggle, choice) in a
//! popup. `tab`/`↑`/`↓` move between fields, `space` or `←`/`→` change
//! toggles and choices, `enter` submits, `esc` cancels. Submitting turns
//! the values into the action the form was opened for.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph, Wrap};
use zeroize::Zeroizing;

use super::{Command, View, block, centered, wrapped_height};
use crate::tui::action::Action;
use crate::tui::keys::Binding;

/// What a field holds.
#[derive(Clone, PartialEq, Eq)]
pub enum Value {
    /// Free text.
    Text(String),
    /// A secret, shown as `•`.
    Secret(Zeroizing<String>),
    /// On or off.
    Toggle(bool),
    /// One of `options`.
    Choice {
        /// The options.
        options: Vec<String>,
        /// The chosen one.
        index: usize,
    },
}

impl fmt::Debug for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Text(text) => write!(f, "Text({text:?})"),
            Self::Secret(_) => f.write_str("Secret(<redacted>)"),
            Self::Toggle(on) => write!(f, "Toggle({on})"),
            Self::Choice { options, index } => write!(f, "Choice({:?})", options.get(*index)),
        }
    }
}

/// One labelled field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field {
    /// Its label.
    pub label: String,
    /// Its value.
    pub value: Value,
}

impl Field {
    /// A text field.
    pub fn text(label: impl Into<String>, initial: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: Value::Text(initial.into()),
        }
    }

    /// A masked field.
    pub fn secret(label: impl Into<String>) -> Self {
        Self {
            label: label.into(),
            value: Value::Secret(Zeroizing::new(String::new())),
        }
    }

    /// A toggle.
    pub fn toggle(label: impl Into<String>, on: bool) -> Self {
        Self {
            label: label.into(),
            value: Value::Toggle(on),
        }
    }

    /// A choice among `options`.
    pub fn choice(label: impl Into<String>, options: &[&str], index: usize) -> Self {
        Self {
            label: label.into(),
            value: Value::Choice {
                options: options.iter().map(|o| (*o).to_owned()).collect(),
                index,
            },
        }
    }
}

/// Turns a submitted form's subject and fields into an action, or says
/// what is wrong.
pub type Submit = fn(&str, &[Field]) -> Result<Action, String>;

/// A form in a popup.
#[derive(Debug, Clone)]
pub struct Form {
    /// The title.
    pub title: String,
    /// A line of explanation under the title.
    pub hint: String,
    /// What the form is about (a node, a seal token); passed to `submit`.
    pub subject: String,
    /// The fields.
    pub fields: Vec<Field>,
    /// The focused field.
    pub focus: usize,
    /// What submitting does.
    pub submit: Submit,
    /// Why the last submit was refused.
    pub error: Option<String>,
}

impl PartialEq for Form {
    /// Forms are equal when they show the same (what `submit` does is
    /// not comparable).
    fn eq(&self, other: &Self) -> bool {
        (
            &self.title,
            &self.hint,
            &self.subject,
            &self.fields,
            self.focus,
            &self.error,
        ) == (
            &other.title,
            &other.hint,
            &other.subject,
            &other.fields,
            other.focus,
            &other.error,
        )
    }
}

impl Form {
    /// A form about `subject` whose `fields` `submit` turns into an action.
    pub fn new(
        title: impl Into<String>,
        hint: impl Into<String>,
        subject: impl Into<String>,
        fields: Vec<Field>,
        submit: Submit,
    ) -> Self {
        Self {
            title: title.into(),
            hint: hint.into(),
            subject: subject.into(),
            fields,
            focus: 0,
            submit,
            error: None,
        }
    }

    /// The text of field `index` (empty if it is not text).
    pub fn text(fields: &[Field], index: usize) -> &str {
        match fields.get(index).map(|f| &f.value) {
            Some(Value::Text(text)) => text.trim(),
            Some(Value::Secret(secret)) => secret.as_str(),
            _ => "",
        }
    }

    /// The toggle of field `index`.
    pub fn toggle(fields: &[Field], index: usize) -> bool {
        matches!(
            fields.get(index).map(|f| &f.value),
            Some(Value::Toggle(true))
        )
    }

    /// The chosen option of field `index`.
    pub fn choice(fields: &[Field], index: usize) -> usize {
        match fields.get(index).map(|f| &f.value) {
            Some(Value::Choice { index, .. }) => *index,
            _ => 0,
        }
    }

    /// Handles a key: `Some(action)` when submitted or cancelled.
    pub fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        if view.is(key, Binding::Back) {
            return Some(Action::Back);
        }
        let count = self.fields.len().max(1);
        match key.code {
            KeyCode::Enter => {
                return match (self.submit)(&self.subject, &self.fields) {
                    Ok(action) => Some(action),
                    Err(error) => {
                        self.error = Some(error);
                        None
                    }
                };
            }
            KeyCode::Tab | KeyCode::Down => self.focus = (self.focus + 1) % count,
            KeyCode::BackTab | KeyCode::Up => self.focus = (self.focus + count - 1) % count,
            _ => self.edit(key),
        }
        None
    }

    fn edit(&mut self, key: &KeyEvent) {
        let Some(field) = self.fields.get_mut(self.focus) else {
            return;
        };
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match (&mut field.value, key.code) {
            (Value::Text(text), KeyCode::Char(c)) if !ctrl => text.push(c),
            (Value::Secret(text), KeyCode::Char(c)) if !ctrl => text.push(c),
            (Value::Text(text), KeyCode::Backspace) => drop(text.pop()),
            (Value::Secret(text), KeyCode::Backspace) => drop(text.pop()),
            (Value::Toggle(on), KeyCode::Char(' ') | KeyCode::Left | KeyCode::Right) => *on = !*on,
            (Value::Choice { options, index }, KeyCode::Right | KeyCode::Char(' ')) => {
                *index = (*index + 1) % options.len().max(1);
            }
            (Value::Choice { options, index }, KeyCode::Left) => {
                *index = (*index + options.len().max(1) - 1) % options.len().max(1);
            }
            _ => {}
        }
    }

    /// Draws the form centred in `area`.
    pub fn draw(&self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let mut lines = vec![
            Line::styled(self.hint.clone(), theme.muted()),
            Line::raw(""),
        ];
        for (i, field) in self.fields.iter().enumerate() {
            let value = match &field.value {
                Value::Text(text) => text.clone(),
                Value::Secret(secret) => "•".repeat(secret.chars().count()),
                Value::Toggle(on) => if *on { "[x]" } else { "[ ]" }.to_owned(),
                Value::Choice { options, index } => {
                    format!("◀ {} ▶", options.get(*index).map_or("", String::as_str))
                }
            };
            let focused = i == self.focus;
            let marker = if focused { "▸ " } else { "  " };
            let cursor = if focused && matches!(field.value, Value::Text(_) | Value::Secret(_)) {
                "▏"
            } else {
                ""
            };
            lines.push(Line::from(vec![
                Span::styled(marker, theme.key()),
                Span::styled(format!("{:<22}", field.label), theme.header()),
                Span::styled(
                    format!("{value}{cursor}"),
                    if focused {
                        theme.selected()
                    } else {
                        theme.text()
                    },
                ),
            ]));
        }
        lines.push(Line::raw(""));
        if let Some(error) = &self.error {
            lines.push(Line::styled(error.clone(), theme.error()));
        }
        lines.push(Line::styled(
            "enter submit · tab next field · space/←/→ change · esc cancel",
            theme.muted(),
        ));
        let paragraph = Paragraph::new(lines).wrap(Wrap { trim: false });
        let popup = centered(area, 76, wrapped_height(&paragraph, 76));
        frame.render_widget(Clear, popup);
        frame.render_widget(paragraph.block(block(self.title.clone(), theme)), popup);
    }

    /// The form's keys.
    pub fn commands() -> Vec<Command> {
        vec![Command::read(Binding::Back, "cancel")]
    }
}
