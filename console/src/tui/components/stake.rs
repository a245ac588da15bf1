//! Stake: the tiers and what each may do, the session key's seal tokens
//! with their state and the unbonding countdown; stake as a user (a tier)
//! or a worker (a node name), add stake, refresh, request unstake,
//! withdraw. Every transaction is shown and confirmed before it is signed.

use crossterm::event::KeyEvent;
use daas_core::package::{Mist, Tier};
use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Row, Table};

use super::form::{Field, Form};
use super::table::{self, Cursor};
use super::{Command, Component, View, block, draw_load_state, short, time};
use crate::ops::stake::{
    StakeKind, TokenAction, TokenState, TokenView, UserAmount, added_amount, tier_powers,
};
use crate::tui::action::{Action, Mutation};
use crate::tui::keys::Binding;
use daas_core::clock::format_span;

/// The Stake screen.
#[derive(Debug, Default)]
pub struct Stake {
    cursor: Cursor,
}

const TIER_NAMES: [&str; 4] = ["viewer", "developer", "admin", "super"];

/// The form of a new stake.
pub fn stake_form() -> Form {
    Form::new(
        "Stake",
        "a user stakes for a tier; a worker stakes for its node name",
        "",
        vec![
            Field::choice("as", &["user", "worker"], 0),
            Field::choice("tier (user)", &TIER_NAMES, 0),
            Field::text("node name (worker)", ""),
            Field::text("amount SUI (optional)", ""),
        ],
        |_, fields| {
            let amount = match Form::text(fields, 3) {
                "" => None,
                text => Some(text.parse::<Mist>().map_err(|e| format!("amount: {e}"))?),
            };
            let kind = if Form::choice(fields, 0) == 0 {
                StakeKind::User(match amount {
                    Some(amount) => UserAmount::Amount(amount),
                    None => UserAmount::Tier(
                        Tier::ALL
                            .get(Form::choice(fields, 1))
                            .copied()
                            .unwrap_or(Tier::Viewer),
                    ),
                })
            } else {
                let node = Form::text(fields, 2);
                if node.is_empty() {
                    return Err("a worker stake needs its node's name".to_owned());
                }
                StakeKind::Worker {
                    node: node.to_owned(),
                    amount,
                }
            };
            Ok(Action::Ask(Mutation::Stake(kind)))
        },
    )
}

/// The form of an added stake on `token`.
pub fn add_form(token: &str) -> Form {
    Form::new(
        "Add stake",
        format!("to seal token {token}"),
        token,
        vec![Field::text("amount SUI", "")],
        |token, fields| {
            let amount = added_amount(Form::text(fields, 0)).map_err(|e| format!("amount: {e}"))?;
            let token = token
                .parse()
                .map_err(|_| format!("`{token}` is not a seal token"))?;
            Ok(Action::Ask(Mutation::Token(
                token,
                TokenAction::Add(amount),
            )))
        },
    )
}

fn state_text(token: &TokenView, now_ms: u64) -> String {
    match token.state {
        TokenState::Active => format!(
            "active, expires in {}",
            format_span(token.expires_at_ms.saturating_sub(now_ms) / 1000)
        ),
        TokenState::Unbonding { until_ms } if until_ms > now_ms => {
            format!(
                "unbonding, withdrawable in {}",
                format_span((until_ms - now_ms) / 1000)
            )
        }
        TokenState::Unbonding { .. } => "unbonding over: withdraw".to_owned(),
        TokenState::Expired { at_ms } => format!("expired {}: refresh", time(at_ms)),
        TokenState::Understaked { required } => format!("understaked: needs {required}"),
        TokenState::Slashed { slashed } => format!("slashed {slashed}: unstake, stake anew"),
        TokenState::Withdrawn => "withdrawn".to_owned(),
    }
}

impl Component for Stake {
    fn draw(&mut self, frame: &mut Frame<'_>, area: Rect, view: &View<'_>) {
        let theme = view.theme;
        let [tiers, tokens] =
            Layout::vertical([Constraint::Length(7), Constraint::Min(4)]).areas(area);
        let params = view.data.pool;
        let rows = Tier::ALL.iter().map(|tier| {
            Row::new(vec![
                Span::styled(tier.as_str(), theme.header()),
                Span::raw(
                    params.map_or_else(|| "-".to_owned(), |p| p.tiers.threshold(*tier).to_string()),
                ),
                Span::raw(tier_powers(*tier)),
            ])
        });
        frame.render_widget(
            Table::new(
                rows,
                [
                    Constraint::Length(10),
                    Constraint::Length(10),
                    Constraint::Min(20),
                ],
            )
            .header(Row::new(["TIER", "STAKE", "MAY"]).style(theme.header()))
            .block(block("Tiers", theme)),
            tiers,
        );
        if draw_load_state(
            frame,
            tokens,
            &view.data.stake,
            "stake",
            "Seal tokens",
            theme,
        ) {
            return;
        }
        let Some(status) = &view.data.stake.value else {
            return;
        };
        if status.tokens.is_empty() {
            frame.render_widget(
                Paragraph::new(Line::styled(
                    "no seal token: press n to stake for a tier or a node",
                    theme.muted(),
                ))
                .block(block("Seal tokens", theme)),
                tokens,
            );
            return;
        }
        table::draw(
            frame,
            tokens,
            block(format!("Seal tokens of {}", status.owner), theme),
            theme,
            Row::new(["SEAL TOKEN", "ROLE", "STAKE", "TIER", "STATE"]),
            &[
                Constraint::Length(66),
                Constraint::Length(18),
                Constraint::Length(10),
                Constraint::Length(10),
                Constraint::Min(20),
            ],
            &mut self.cursor,
            status.tokens.len(),
            |i| {
                let t = &status.tokens[i];
                let role = if t.node.is_empty() {
                    t.role.as_str().to_owned()
                } else {
                    format!("{} {}", t.role.as_str(), t.node)
                };
                Row::new(vec![
                    t.seal_token.to_string(),
                    role,
                    t.stake.to_string(),
                    t.tier.map_or("-", |t| t.as_str()).to_owned(),
                    state_text(t, view.now_ms),
                ])
            },
        );
    }

    fn on_key(&mut self, key: &KeyEvent, view: &View<'_>) -> Option<Action> {
        if view.is(key, Binding::New) {
            return Some(if view.readonly() {
                Action::Ask(Mutation::Stake(StakeKind::User(UserAmount::Tier(
                    Tier::Viewer,
                ))))
            } else {
                Action::Form(stake_form())
            });
        }
        let tokens = tokens(view);
        if self.cursor.on_key(key, view, tokens.len()) {
            return Some(Action::Status(String::new()));
        }
        let token = tokens.get(self.cursor.selected(tokens.len())?)?;
        let binding = TOKEN_BINDINGS
            .iter()
            .find(|(binding, _)| view.is(key, *binding))?
            .0;
        let action = token_action(binding)?;
        // Refused here, before a confirmation that could only end in the
        // chain's abort; read-only sessions are refused by the ask itself.
        if let Some(why) = token.state.refusal(action, view.now_ms) {
            return Some(Action::Refused(format!(
                "seal token {} {why}",
                short(&token.seal_token.to_string())
            )));
        }
        if binding == Binding::AddStake && !view.readonly() {
            return Some(Action::Form(add_form(&token.seal_token.to_string())));
        }
        Some(Action::Ask(Mutation::Token(token.seal_token, action)))
    }

    /// Stake, and the actions the selected token's state allows.
    fn commands(&self, view: &View<'_>) -> Vec<Command> {
        let tokens = tokens(view);
        let selected = self
            .cursor
            .selected(tokens.len())
            .and_then(|i| tokens.get(i));
        let allowed = |binding| {
            selected.is_some_and(|token| {
                token_action(binding)
                    .is_some_and(|action| token.state.refusal(action, view.now_ms).is_none())
            })
        };
        std::iter::once(Command::write(Binding::New, "stake"))
            .chain(
                TOKEN_BINDINGS
                    .iter()
                    .filter(|(binding, _)| allowed(*binding))
                    .map(|(binding, label)| Command::write(*binding, label)),
            )
            .collect()
    }
}

/// The keys that act on the selected seal token, with their labels.
const TOKEN_BINDINGS: [(Binding, &str); 4] = [
    (Binding::AddStake, "add stake"),
    (Binding::RefreshToken, "refresh token"),
    (Binding::Unstake, "unstake"),
    (Binding::Withdraw, "withdraw"),
];

/// The action a token key stands for (an added stake's amount is asked
/// for afterwards).
fn token_action(binding: Binding) -> Option<TokenAction> {
    match binding {
        Binding::AddStake => Some(TokenAction::Add(Mist::new(0))),
        Binding::RefreshToken => Some(TokenAction::Refresh),
        Binding::Unstake => Some(TokenAction::Unstake),
        Binding::Withdraw => Some(TokenAction::Withdraw),
        _ => None,
    }
}

/// The session key's seal tokens, as last loaded.
fn tokens<'a>(view: &'a View<'_>) -> &'a [TokenView] {
    view.data
        .stake
        .value
        .as_ref()
        .map_or(&[][..], |s| s.tokens.as_slice())
}
