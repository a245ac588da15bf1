//! Every action that changes state, pressed as a user would: it opens a
//! confirmation (after its form, if it has one) and does nothing until
//! `y`; in a read-only session it is refused and nothing is asked.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use daas_console::ops::drain::DrainOptions;
use daas_console::ops::slash::Decision;
use daas_console::ops::stake::{StakeKind, TokenAction, UserAmount};
use daas_console::tui::action::{Action, Mutation, Screen};
use daas_console::tui::app::App;
use daas_console::tui::data::DataEvent;
use daas_console::tui::tasks::TaskEvent;
use daas_core::package::{Mist, Tier};
use support::fixtures::{self, NOW_MS};

fn app(readonly: bool, screen: Screen) -> App {
    let mut app = fixtures::app(fixtures::settings(readonly));
    for event in fixtures::full(12, false) {
        app.on_data(event);
    }
    app.apply(Action::Goto(screen));
    app
}

fn press(app: &mut App, keys: &str) {
    for c in keys.chars() {
        let code = match c {
            '\n' => KeyCode::Enter,
            '\t' => KeyCode::Tab,
            c => KeyCode::Char(c),
        };
        app.on_key(&KeyEvent::new(code, KeyModifiers::NONE), NOW_MS);
    }
}

/// `(screen, keys, the mutation it must ask to confirm)`; the keys include
/// any form's input.
fn cases() -> Vec<(Screen, &'static str, Mutation)> {
    let node = "worker-00000".to_owned();
    let seal = fixtures::token(0x21);
    vec![
        (Screen::Nodes, "c", Mutation::Cordon(node.clone(), true)),
        (Screen::Nodes, "u", Mutation::Cordon(node.clone(), false)),
        (
            Screen::Nodes,
            "d\n",
            Mutation::Drain(node, DrainOptions::default()),
        ),
        (
            Screen::Nodes,
            "pflapping\n",
            Mutation::ProposeSlash {
                token: fixtures::token(1),
                reason: "flapping".to_owned(),
            },
        ),
        (
            Screen::Slash,
            "a",
            Mutation::DecideSlash(3, Decision::Approve),
        ),
        (
            Screen::Slash,
            "r",
            Mutation::DecideSlash(3, Decision::Reject),
        ),
        (
            Screen::Stake,
            "a1.5\n",
            Mutation::Token(seal, TokenAction::Add(Mist::new(1_500_000_000))),
        ),
        (
            Screen::Stake,
            "r",
            Mutation::Token(seal, TokenAction::Refresh),
        ),
        (
            Screen::Stake,
            "u",
            Mutation::Token(seal, TokenAction::Unstake),
        ),
        (
            Screen::Wallets,
            "nops2\n",
            Mutation::CreateKey {
                alias: "ops2".to_owned(),
            },
        ),
        (
            Screen::Wallets,
            "ik\tsuiprivkey1xyz\n",
            Mutation::ImportKey {
                alias: "k".to_owned(),
                secret: zeroize::Zeroizing::new("suiprivkey1xyz".to_owned()),
            },
        ),
        (Screen::Wallets, " ", Mutation::UseKey("ops".to_owned())),
        (Screen::Wallets, "f", Mutation::Faucet),
        (Screen::Wallets, "x", Mutation::ExportKey("ops".to_owned())),
    ]
}

#[test]
fn every_mutation_waits_for_confirmation() {
    for (screen, keys, expected) in cases() {
        let mut app = app(false, screen);
        press(&mut app, keys);
        assert_eq!(app.confirming(), Some(&expected), "{screen:?} {keys:?}");
        // Anything but `y` cancels: nothing runs.
        press(&mut app, "n");
        assert_eq!(app.confirming(), None);
        let (status, _) = app.status();
        assert!(
            status.contains("cancelled"),
            "{screen:?} {keys:?}: {status}"
        );
    }
}

#[test]
fn read_only_sessions_refuse_every_mutation() {
    for (screen, keys, expected) in cases() {
        let mut app = app(true, screen);
        // Only the first key: read-only sessions open no form either.
        press(&mut app, &keys[..1]);
        assert_eq!(app.confirming(), None, "{screen:?} {keys:?}");
        assert!(!app.form_open(), "{screen:?} {keys:?}");
        let (status, error) = app.status();
        assert!(
            error && status.contains("read-only"),
            "{screen:?} {keys:?}: {status}"
        );
        // A confirmed action that reaches a read-only app is refused too.
        app.apply(Action::Run(expected.clone()));
        assert!(app.status().0.contains("read-only"), "{expected:?}");
    }
}

#[test]
fn token_keys_follow_the_selected_tokens_state() {
    let footer = |app: &mut App| {
        let text = fixtures::render(app, 140, 40);
        text.lines().rev().nth(1).unwrap_or_default().to_owned()
    };
    // The active user token: anything but withdraw, which is refused at
    // once, saying why, and not offered.
    let mut app = app(false, Screen::Stake);
    assert!(footer(&mut app).contains("<u> unstake"));
    assert!(!footer(&mut app).contains("<w> withdraw"));
    press(&mut app, "w");
    assert_eq!(app.confirming(), None);
    let (status, error) = app.status();
    assert!(error && status.contains("was not unstaked"), "{status}");

    // The unbonding worker token: nothing until it has unbonded, then
    // only withdraw.
    app.on_key(&KeyEvent::new(KeyCode::Down, KeyModifiers::NONE), NOW_MS);
    let offered = footer(&mut app);
    for label in ["<a>", "<r>", "<u>", "<w>"] {
        assert!(!offered.contains(label), "{label}: {offered}");
    }
    for key in ["r", "u", "a"] {
        press(&mut app, key);
        assert_eq!(app.confirming(), None, "{key}");
        assert!(!app.form_open(), "{key}");
        assert!(app.status().0.contains("is unbonding"), "{key}");
    }
    press(&mut app, "w");
    assert!(
        app.status().0.contains("withdraw then"),
        "{:?}",
        app.status()
    );
    // Another screen: the refusal was about this one, and is gone.
    press(&mut app, "4");
    assert_eq!(app.status(), ("? for help, : for commands", false));
    press(&mut app, "3");
    // A screen with nothing more to say (closing a filter, a detail) is
    // back to the hint too, not blank.
    app.apply(Action::Status("something".to_owned()));
    app.apply(Action::Status(String::new()));
    assert_eq!(app.status(), ("? for help, : for commands", false));
    let unbonded = NOW_MS + 4 * 86_400_000;
    app.on_key(
        &KeyEvent::new(KeyCode::Char('w'), KeyModifiers::NONE),
        unbonded,
    );
    assert_eq!(
        app.confirming(),
        Some(&Mutation::Token(
            fixtures::token(0x22),
            TokenAction::Withdraw
        ))
    );
}

#[tokio::test]
async fn a_node_listed_without_its_seal_token_is_slashed_by_finding_it_first() {
    let mut app = app(false, Screen::Nodes);
    // A public listing: the master leaves the seal tokens out.
    let mut public = fixtures::nodes(1);
    public.nodes[0].seal_token = None;
    app.on_data(DataEvent::Nodes(Ok(public)));
    press(&mut app, "p");
    assert!(!app.form_open());
    assert!(
        app.status()
            .0
            .contains("finding the seal token of worker-00000")
    );
    // The public staking status names it: the form opens for it.
    let node = "worker-00000".to_owned();
    app.on_task(TaskEvent::SlashTarget(node.clone(), Ok(fixtures::token(7))));
    assert!(app.form_open());
    press(&mut app, "flapping\n");
    assert_eq!(
        app.confirming(),
        Some(&Mutation::ProposeSlash {
            token: fixtures::token(7),
            reason: "flapping".to_owned(),
        })
    );
    press(&mut app, "n");
    // It does not: the reason, as an error.
    press(&mut app, "p");
    app.on_task(TaskEvent::SlashTarget(
        node,
        Err("cannot slash worker-00000: no seal token".to_owned()),
    ));
    assert!(!app.form_open());
    assert_eq!(
        app.status(),
        ("cannot slash worker-00000: no seal token", true)
    );
    // Read-only: refused before anything is looked up.
    let mut readonly = self::app(true, Screen::Nodes);
    let mut public = fixtures::nodes(1);
    public.nodes[0].seal_token = None;
    readonly.on_data(DataEvent::Nodes(Ok(public)));
    press(&mut readonly, "p");
    assert!(readonly.status().0.contains("read-only"));
}

#[tokio::test]
async fn staking_is_planned_then_confirmed() {
    let mut app = app(false, Screen::Stake);
    // n opens the form; enter asks for a viewer stake, which is planned in
    // the background (what it will sign) before the confirmation opens.
    press(&mut app, "n\n");
    assert_eq!(app.confirming(), None);
    assert!(app.status().0.contains("planning"), "{:?}", app.status());
    let kind = StakeKind::User(UserAmount::Tier(Tier::Viewer));
    app.on_task(TaskEvent::Planned(
        Mutation::Stake(kind.clone()),
        vec!["stake 0.5 SUI".to_owned()],
    ));
    assert_eq!(app.confirming(), Some(&Mutation::Stake(kind.clone())));
    press(&mut app, "n");
    assert_eq!(app.confirming(), None);

    let mut readonly = self::app(true, Screen::Stake);
    press(&mut readonly, "n");
    assert!(!readonly.form_open());
    assert!(readonly.status().0.contains("read-only"));
}

#[test]
fn forms_refuse_bad_input_and_say_why() {
    let mut app = app(false, Screen::Nodes);
    // A drain with a bad timeout.
    press(&mut app, "d\t");
    app.on_key(
        &KeyEvent::new(KeyCode::Backspace, KeyModifiers::NONE),
        NOW_MS,
    );
    press(&mut app, "x\n");
    assert!(app.form_open());
    assert_eq!(app.confirming(), None);
    let text = fixtures::render(&mut app, 140, 40);
    assert!(text.contains("timeout: a number of seconds"), "{text}");
    // A slash without a reason.
    let mut app = self::app(false, Screen::Nodes);
    press(&mut app, "p\n");
    assert!(app.form_open());
    let text = fixtures::render(&mut app, 140, 40);
    assert!(text.contains("say why"), "{text}");
}

#[test]
fn q_quits_and_digits_switch_screens() {
    let mut app = app(false, Screen::Overview);
    press(&mut app, "4");
    assert_eq!(app.screen(), Screen::Nodes);
    press(&mut app, "6");
    assert_eq!(app.screen(), Screen::Slash);
    press(&mut app, "q");
    assert!(app.quit);
}

#[test]
fn results_flash_while_progress_and_errors_stay() {
    use daas_console::tui::app::FLASH_MS;
    let hint = ("? for help, : for commands", false);
    let mut app = app(false, Screen::Nodes);

    // A result stays for FLASH_MS from the tick that first shows it.
    app.on_task(TaskEvent::Done(Ok("cordoned worker-00000".to_owned())));
    app.on_tick(NOW_MS);
    app.on_tick(NOW_MS + FLASH_MS - 1);
    assert_eq!(app.status(), ("cordoned worker-00000", false));
    app.on_tick(NOW_MS + FLASH_MS);
    assert_eq!(app.status(), hint);

    // Progress stays while its task runs, however long.
    app.on_task(TaskEvent::Progress(
        "draining worker-00000: 3 pods left".to_owned(),
    ));
    app.on_tick(NOW_MS);
    app.on_tick(NOW_MS + 60 * FLASH_MS);
    assert_eq!(app.status(), ("draining worker-00000: 3 pods left", false));

    // An error stays until something replaces it.
    app.on_task(TaskEvent::Done(Err("drain failed: timed out".to_owned())));
    app.on_tick(NOW_MS);
    app.on_tick(NOW_MS + 60 * FLASH_MS);
    assert_eq!(app.status(), ("drain failed: timed out", true));

    // A mode's instructions stay while the mode lasts.
    press(&mut app, "/");
    let filtering = app.status().0.to_owned();
    assert!(filtering.starts_with("filter:"), "{filtering}");
    app.on_tick(NOW_MS);
    app.on_tick(NOW_MS + 60 * FLASH_MS);
    assert_eq!(app.status().0, filtering);
}
