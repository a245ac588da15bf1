//! Wallets: the keys with their balances and which key store holds them;
//! create, import (`suiprivkey`, mnemonic), select, the devnet faucet,
//! export behind a confirmation.

use crossterm::event::KeyEvent;
use ratatui::Frame;
use ratatui::layout::Constraint;
use ratatui::layout::Rect;
use ratatui::text::Line;
use ratatui::widgets::{Paragraph, Row};

use super::form::{Field, Form};
use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state};
use crate::tui::action::{Action, Mutation};
use crate::tui::keys::Binding;

/// The Wallets screen.
#[derive(Debug, Default)]
pub struct Wallets {
    cursor: Cursor,
}

/// The form of a new key.
pub fn new_key_form() -> Form {
    Form::new(
        "New key",
        "an Ed25519 key, generated here",
        "",
        vec![Field::text("alias", "")],
        |_, fields| {
            let alias = Form::text(fields, 0);
            if alias.is_empty() {
                return Err("name the key".to_owned());
            }
            Ok(Action::Ask(Mutation::CreateKey {
                alias: alias.to_owned(),
            }))
        },
    )
}

/// The form of an imported key.
pub fn import_form() -> Form {
    Form::new(
        "Import a key",
        "paste a suiprivkey1… string or a BIP-39 mnemonic; it is masked and never logged",
        "",
        vec![
            Field::text("alias", ""),
            Field::secret("suiprivkey or mnemonic"),
        ],
        |_, fields| {
            let alias = Form::text(fields, 0);
            let secret = Form::text(fields, 1);
            if alias.is_empty() || secret.trim().is_empty() {
                return Err("name the key and give its secret".to_owned());
            }
            Ok(Action::Ask(Mutation::ImportKey {
                alias: alias.to_owned(),
                secret: zeroize::Zeroizing::new(secret.trim().to_owned()),
            }))
        },
    )
}

impl Component for Wallets {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        if draw_load_state(frame, area, &view.data.wallet, "wallet", "Wallet", theme) {
            return;
        }
        let Some(wallet) = &view.data.wallet.value else {
            return;
        };
        let Some(summary) = &wallet.summary else {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "no wallet yet: n creates a key, i imports one",
                    theme.muted(),
                ))
                .block(block("Wallet", theme)),
                area,
            );
            return;
        };
        table::draw(
            frame,
            area,
            block(format!("Wallet · keys in the {}", summary.backend), theme),
            theme,
            Row::new(["", "ALIAS", "ADDRESS", "SCHEME", "BALANCE"]),
            &[
                Constraint::Length(1),
                Constraint::Length(16),
                Constraint::Length(66),
                Constraint::Length(10),
                Constraint::Min(10),
            ],
            &mut self.cursor,
            summary.keys.len(),
            |i| {
                let entry = &summary.keys[i];
                Row::new(vec![
                    if Some(entry.address) == wallet.current {
                        "*"
                    } else {
                        " "
                    }
                    .to_owned(),
                    entry.alias.clone(),
                    entry.address.to_string(),
                    entry.scheme.to_string(),
                    wallet
                        .balances
                        .get(&entry.address)
                        .map_or_else(|| "-".to_owned(), ToString::to_string),
                ])
            },
        );
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        if view.is(key, Binding::New) {
            return Some(if view.readonly() {
                Action::Ask(Mutation::CreateKey {
                    alias: String::new(),
                })
            } else {
                Action::Form(new_key_form())
            });
        }
        if view.is(key, Binding::Import) {
            return Some(if view.readonly() {
                Action::Ask(Mutation::ImportKey {
                    alias: String::new(),
                    secret: zeroize::Zeroizing::new(String::new()),
                })
            } else {
                Action::Form(import_form())
            });
        }
        if view.is(key, Binding::Faucet) {
            return Some(Action::Ask(Mutation::Faucet));
        }
        let keys = view
            .data
            .wallet
            .value
            .as_ref()
            .and_then(|w| w.summary.as_ref())
            .map_or(&[][..], |s| s.keys.as_slice());
        if self.cursor.on_key(key, view, keys.len()) {
            return Some(Action::Status(String::new()));
        }
        let entry = keys.get(self.cursor.selected(keys.len())?)?;
        if view.is(key, Binding::Use) {
            return Some(Action::Ask(Mutation::UseKey(entry.alias.clone())));
        }
        if view.is(key, Binding::Export) {
            return Some(Action::Ask(Mutation::ExportKey(entry.alias.clone())));
        }
        None
    }

    fn commands(&self, _view: &View<'_>) -> Vec<Command> {
        vec![
            Command::write(Binding::New, "new key"),
            Command::write(Binding::Import, "import key"),
            Command::write(Binding::Use, "use key"),
            Command::write(Binding::Faucet, "faucet"),
            Command::write(Binding::Export, "export secret"),
        ]
    }
}
