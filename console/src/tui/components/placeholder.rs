//! Screens whose work has not arrived yet (the on-chain gateway):
//! they hold their place in the palette and the tabs, and say what comes.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Wrap};

use super::{Command, Component, View, block};
use crate::tui::action::Action;

/// A screen to come.
#[derive(Debug)]
pub struct Placeholder {
    /// Its title.
    pub title: &'static str,
    /// What it will show.
    pub text: &'static str,
}

impl Component for Placeholder {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        frame.render_widget(
            Paragraph::new(Line::styled(self.text, view.theme.muted()))
                .wrap(Wrap { trim: true })
                .block(block(self.title, view.theme)),
            area,
        );
    }

    fn on_key(&mut self, _key: &KeyEvent, _view: &View<'_>) -> Option<Action> {
        None
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        Vec::new()
    }
}
