//! `?`: every key of the current screen, and the global ones.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Clear, Paragraph};

use super::{Command, View, block, centered};
use crate::tui::keys::Binding;

/// The keys every screen answers.
pub fn global() -> Vec<Command> {
    vec![
        Command::read(Binding::Palette, "command palette (:nodes, :stake, …)"),
        Command::read(Binding::Filter, "filter"),
        Command::read(Binding::Help, "help"),
        Command::read(Binding::Back, "back"),
        Command::read(Binding::Refresh, "refresh now"),
        Command::read(Binding::Quit, "quit"),
    ]
}

/// Draws `commands` (those a read-only session may use) in a popup.
pub fn draw(frame: &mut Frame<'_>, area: Rect, view: &View<'_>, title: &str, commands: &[Command]) {
    let theme = view.theme;
    let mut lines = Vec::new();
    for command in commands.iter().chain(global().iter()) {
        if command.mutating && view.readonly() {
            continue;
        }
        lines.push(Line::from(vec![
            Span::styled(
                format!("{:>10}  ", view.keys.key(command.binding).to_string()),
                theme.key(),
            ),
            Span::styled(command.label, theme.text()),
        ]));
    }
    if view.readonly() {
        lines.push(Line::raw(""));
        lines.push(Line::styled(
            "read-only session: actions that change state are hidden and refused",
            theme.warning(),
        ));
    }
    let height = u16::try_from(lines.len() + 2).unwrap_or(u16::MAX);
    let popup = centered(area, 64, height);
    frame.render_widget(Clear, popup);
    frame.render_widget(
        Paragraph::new(lines).block(block(format!("Help: {title}"), theme)),
        popup,
    );
}
