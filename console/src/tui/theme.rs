//! Colour themes: every colour the TUI draws comes from a [`Theme`], read
//! from `themes/*.toml` (built in) or a file. A bad theme is reported and
//! the default is used.

use std::path::Path;
use std::str::FromStr as _;

use ratatui::style::{Color, Modifier, Style};
use serde::Deserialize;

/// The built-in themes, by name.
const BUILT_IN: [(&str, &str); 3] = [
    ("dark", include_str!("../../../themes/dark.toml")),
    ("light", include_str!("../../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../../themes/high-contrast.toml"),
    ),
];

/// The colours of the TUI.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Theme {
    /// Behind everything.
    pub background: Color,
    /// Text.
    pub foreground: Color,
    /// Secondary text.
    pub muted: Color,
    /// Block borders.
    pub border: Color,
    /// Block titles.
    pub title: Color,
    /// Table headers.
    pub header: Color,
    /// Key names in the help bar.
    pub key: Color,
    /// The selected row's background.
    pub selection_bg: Color,
    /// The selected row's text.
    pub selection_fg: Color,
    /// Good states.
    pub ok: Color,
    /// Degraded states.
    pub warning: Color,
    /// Failures.
    pub error: Color,
    /// The INSECURE banner's background.
    pub insecure_bg: Color,
    /// The INSECURE banner's text.
    pub insecure_fg: Color,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    #[allow(
        dead_code,
        reason = "documents the file; the name given to --theme is what counts"
    )]
    name: Option<String>,
    colors: ColorsFile,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ColorsFile {
    background: String,
    foreground: String,
    muted: String,
    border: String,
    title: String,
    header: String,
    key: String,
    selection_bg: String,
    selection_fg: String,
    ok: String,
    warning: String,
    error: String,
    insecure_bg: String,
    insecure_fg: String,
}

impl Default for Theme {
    /// The `dark` theme.
    fn default() -> Self {
        Self {
            background: Color::Reset,
            foreground: Color::Rgb(0xc0, 0xca, 0xf5),
            muted: Color::Rgb(0x73, 0x7a, 0xa2),
            border: Color::Rgb(0x3b, 0x42, 0x61),
            title: Color::Rgb(0x7a, 0xa2, 0xf7),
            header: Color::Rgb(0xbb, 0x9a, 0xf7),
            key: Color::Rgb(0xe0, 0xaf, 0x68),
            selection_bg: Color::Rgb(0x28, 0x34, 0x57),
            selection_fg: Color::Rgb(0xff, 0xff, 0xff),
            ok: Color::Rgb(0x9e, 0xce, 0x6a),
            warning: Color::Rgb(0xe0, 0xaf, 0x68),
            error: Color::Rgb(0xf7, 0x76, 0x8e),
            insecure_bg: Color::Rgb(0xdb, 0x4b, 0x4b),
            insecure_fg: Color::Rgb(0xff, 0xff, 0xff),
        }
    }
}

impl Theme {
    /// The theme `name` (built in) or at path `name`; on any problem the
    /// default theme and a sentence saying what was wrong.
    pub fn load(name: &str) -> (Self, Option<String>) {
        match Self::try_load(name) {
            Ok(theme) => (theme, None),
            Err(error) => (
                Self::default(),
                Some(format!("using the dark theme: {error}")),
            ),
        }
    }

    /// The theme `name` (built in) or at path `name`.
    ///
    /// # Errors
    /// The file is unreadable or names a bad colour.
    pub fn try_load(name: &str) -> Result<Self, String> {
        if let Some((_, text)) = BUILT_IN.iter().find(|(n, _)| *n == name) {
            return Self::parse(text).map_err(|e| format!("built-in theme {name}: {e}"));
        }
        let path = Path::new(name);
        let text = std::fs::read_to_string(path).map_err(|e| {
            format!(
                "theme `{name}` is not built in (dark, light, high-contrast) and cannot be read as a file: {e}"
            )
        })?;
        Self::parse(&text).map_err(|e| format!("theme {}: {e}", path.display()))
    }

    /// Parses a theme file.
    ///
    /// # Errors
    /// A missing, unknown or unparsable colour, named.
    pub fn parse(text: &str) -> Result<Self, String> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())?;
        let c = &file.colors;
        let color = |key: &str, value: &str| {
            Color::from_str(value.trim()).map_err(|_| {
                format!("colors.{key} = `{value}` is not a colour (#rrggbb or a name)")
            })
        };
        Ok(Self {
            background: color("background", &c.background)?,
            foreground: color("foreground", &c.foreground)?,
            muted: color("muted", &c.muted)?,
            border: color("border", &c.border)?,
            title: color("title", &c.title)?,
            header: color("header", &c.header)?,
            key: color("key", &c.key)?,
            selection_bg: color("selection_bg", &c.selection_bg)?,
            selection_fg: color("selection_fg", &c.selection_fg)?,
            ok: color("ok", &c.ok)?,
            warning: color("warning", &c.warning)?,
            error: color("error", &c.error)?,
            insecure_bg: color("insecure_bg", &c.insecure_bg)?,
            insecure_fg: color("insecure_fg", &c.insecure_fg)?,
        })
    }

    /// Plain text.
    pub fn text(&self) -> Style {
        Style::new().fg(self.foreground).bg(self.background)
    }

    /// Secondary text.
    pub fn muted(&self) -> Style {
        Style::new().fg(self.muted)
    }

    /// A block border.
    pub fn border(&self) -> Style {
        Style::new().fg(self.border)
    }

    /// A block title.
    pub fn title(&self) -> Style {
        Style::new().fg(self.title).add_modifier(Modifier::BOLD)
    }

    /// A table header.
    pub fn header(&self) -> Style {
        Style::new().fg(self.header).add_modifier(Modifier::BOLD)
    }

    /// A key in the help bar.
    pub fn key(&self) -> Style {
        Style::new().fg(self.key).add_modifier(Modifier::BOLD)
    }

    /// The selected row.
    pub fn selected(&self) -> Style {
        Style::new()
            .fg(self.selection_fg)
            .bg(self.selection_bg)
            .add_modifier(Modifier::BOLD)
    }

    /// A good state.
    pub fn ok(&self) -> Style {
        Style::new().fg(self.ok)
    }

    /// A degraded state.
    pub fn warning(&self) -> Style {
        Style::new().fg(self.warning)
    }

    /// A failure.
    pub fn error(&self) -> Style {
        Style::new().fg(self.error).add_modifier(Modifier::BOLD)
    }

    /// The INSECURE banner.
    pub fn insecure(&self) -> Style {
        Style::new()
            .fg(self.insecure_fg)
            .bg(self.insecure_bg)
            .add_modifier(Modifier::BOLD)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn built_in_themes_parse_and_dark_is_the_default() {
        for (name, _) in BUILT_IN {
            Theme::try_load(name).unwrap();
        }
        assert_eq!(Theme::try_load("dark").unwrap(), Theme::default());
    }

    #[test]
    fn bad_themes_are_named_and_fall_back_to_the_default() {
        let dir = tempfile::tempdir().unwrap();
        let bad = dir.path().join("bad.toml");
        let dark = BUILT_IN[0].1;
        for (text, needle) in [
            (
                dark.replace("#9ece6a", "greenish"),
                "colors.ok = `greenish`",
            ),
            (dark.replace("muted = \"#737aa2\"\n", ""), "muted"),
            (format!("{dark}\nsparkle = \"red\""), "sparkle"),
            ("[colors".to_owned(), "bad.toml"),
        ] {
            std::fs::write(&bad, text).unwrap();
            let (theme, error) = Theme::load(bad.to_str().unwrap());
            let error = error.unwrap();
            assert!(error.contains(needle), "{error}");
            assert!(error.contains("using the dark theme"), "{error}");
            assert_eq!(theme, Theme::default());
        }
        let (_, error) = Theme::load("no-such-theme");
        assert!(error.unwrap().contains("not built in"));
    }
}
