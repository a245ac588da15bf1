//! The console's components: screens and popups. Each draws from the
//! shared [`View`], turns keys into [`Action`]s, and lists its keys for the
//! help bar ([`Component::commands`]); none talks to another directly.

pub mod attestation;
pub mod audit;
pub mod confirm;
pub mod form;
pub mod gateway;
pub mod help;
pub mod node_detail;
pub mod nodes;
pub mod overview;
pub mod palette;
pub mod slash;
pub mod stake;
pub mod table;
pub mod wallets;

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::{Constraint, Flex, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, BorderType, Borders, Paragraph, Wrap};

use super::action::Action;
use super::data::{Data, Loaded};
use super::keys::{Binding, KeyBindings};
use super::theme::Theme;
use crate::config::Settings;

/// What every component reads to draw and decide.
#[derive(Clone, Copy)]
pub struct View<'a> {
    /// The data.
    pub data: &'a Data,
    /// The colours.
    pub theme: &'a Theme,
    /// The keys.
    pub keys: &'a KeyBindings,
    /// The settings.
    pub settings: &'a Settings,
    /// Unix time in milliseconds, for ages and countdowns.
    pub now_ms: u64,
}

impl View<'_> {
    /// Whether mutating actions are hidden and refused.
    pub fn readonly(&self) -> bool {
        self.settings.readonly
    }

    /// Whether `key` is `binding`'s key.
    pub fn is(&self, key: &KeyEvent, binding: Binding) -> bool {
        self.keys.is(key, binding)
    }
}

/// One entry of the help bar and the help popup.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    /// The key.
    pub binding: Binding,
    /// What it does.
    pub label: &'static str,
    /// Whether it changes state (hidden in read-only sessions).
    pub mutating: bool,
}

impl Command {
    /// A command that only reads.
    pub const fn read(binding: Binding, label: &'static str) -> Self {
        Self {
            binding,
            label,
            mutating: false,
        }
    }

    /// A command that changes state.
    pub const fn write(binding: Binding, label: &'static str) -> Self {
        Self {
            binding,
            label,
            mutating: true,
        }
    }
}

/// A screen or popup.
pub trait Component {
    /// Draws into `area`.
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>);

    /// Handles a key; `None` if the key means nothing here.
    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action>;

    /// The keys this component answers, for the help bar.
    fn commands(&self, view: &View<'_>) -> Vec<Command>;
}

/// A bordered block titled `title`, in the theme's colours.
pub fn block<'a>(title: impl Into<String>, theme: &Theme) -> Block<'a> {
    Block::default()
        .borders(Borders::ALL)
        .border_type(BorderType::Rounded)
        .border_style(theme.border())
        .style(theme.text())
        .title(Span::styled(format!(" {} ", title.into()), theme.title()))
}

/// A `width`×`height` rectangle centred in `area` (clamped to it).
pub fn centered(area: Rect, width: u16, height: u16) -> Rect {
    let [row] = Layout::vertical([Constraint::Length(height.min(area.height))])
        .flex(Flex::Center)
        .areas(area);
    let [cell] = Layout::horizontal([Constraint::Length(width.min(area.width))])
        .flex(Flex::Center)
        .areas(row);
    cell
}

/// The state line of a source that has nothing to show yet, or failed.
pub fn load_state<T>(loaded: &Loaded<T>, what: &str) -> Option<String> {
    match (&loaded.value, &loaded.error) {
        (None, None) => Some(format!("loading {what}…")),
        (None, Some(error)) => Some(format!("{what} unavailable: {error}")),
        _ => None,
    }
}

/// Draws `loaded`'s [`load_state`], wrapped, in a box titled `title`;
/// `true` when it did, and there is nothing else to draw.
pub fn draw_load_state<T>(
    frame: &mut Frame<'_>,
    area: Rect,
    loaded: &Loaded<T>,
    what: &str,
    title: impl Into<String>,
    theme: &Theme,
) -> bool {
    let Some(state) = load_state(loaded, what) else {
        return false;
    };
    frame.render_widget(
        Paragraph::new(Line::styled(state, theme.muted()))
            .wrap(Wrap { trim: true })
            .block(block(title, theme)),
        area,
    );
    true
}

/// `ms` since the epoch as `2026-12-04 05:51:02Z`.
pub fn time(ms: u64) -> String {
    i64::try_from(ms / 1000)
        .ok()
        .and_then(|s| jiff::Timestamp::from_second(s).ok())
        .map_or_else(
            || "-".to_owned(),
            |t| t.strftime("%Y-%m-%d %H:%M:%SZ").to_string(),
        )
}

/// An object id, address or digest shortened to `0x1234…abcd` (its first
/// six and last four characters).
pub fn short(id: &str) -> String {
    let chars: Vec<char> = id.chars().collect();
    if chars.len() <= 14 {
        return id.to_owned();
    }
    let head: String = chars[..6].iter().collect();
    let tail: String = chars[chars.len() - 4..].iter().collect();
    format!("{head}…{tail}")
}

/// A byte count as `512 B`, `3.4 KiB`, `665.2 MiB`, `1.2 GiB`.
pub fn bytes(count: u64) -> String {
    const UNITS: [&str; 4] = ["KiB", "MiB", "GiB", "TiB"];
    if count < 1024 {
        return format!("{count} B");
    }
    // Display only: the f64 rounding of a byte count is invisible at one
    // decimal.
    #[allow(clippy::cast_precision_loss)]
    let mut value = count as f64 / 1024.0;
    let mut unit = 0;
    while value >= 1024.0 && unit + 1 < UNITS.len() {
        value /= 1024.0;
        unit += 1;
    }
    format!("{value:.1} {}", UNITS[unit])
}

/// The height of `paragraph` wrapped in a bordered box `width` wide.
pub fn wrapped_height(paragraph: &ratatui::widgets::Paragraph<'_>, width: u16) -> u16 {
    let rows = paragraph.line_count(width.saturating_sub(2).max(1));
    u16::try_from(rows + 2).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_shorten_to_their_ends_and_short_text_is_kept() {
        let id = format!("0x{}", "ab".repeat(32));
        assert_eq!(short(&id), "0xabab…abab");
        assert_eq!(short("0x12"), "0x12");
        // Characters, not bytes: never a cut inside one.
        assert_eq!(short("ééééééééééééééé"), "éééééé…éééé");
    }

    #[test]
    fn byte_counts_read_in_binary_units() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(1023), "1023 B");
        assert_eq!(bytes(1024), "1.0 KiB");
        assert_eq!(bytes(697_497_896), "665.2 MiB");
        assert_eq!(bytes(3 * 1024 * 1024 * 1024), "3.0 GiB");
        assert_eq!(bytes(u64::MAX), "16777216.0 TiB");
    }
}
