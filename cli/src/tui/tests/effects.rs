//! Key presses that ask the driver for something (save, copy, subscribe, follow, quit):
//! `update` returns the effect, and the driver carries it out.

use super::*;

/// `Ctrl-s` writes the event log, as the services sent it and with each line's target, to a
/// new file that `--replay` reads back into the same log; a second save gets its own file.
#[test]
fn ctrl_s_saves_the_log_for_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app();
    let save = |app: &mut App| {
        let effects = ctrl(app, 's');
        assert_eq!(effects, [Effect::Save(None)]);
        carry(app, effects, dir.path());
    };
    save(&mut app);
    let status = app.status().unwrap_or_default().to_owned();
    assert!(
        status.starts_with(&format!("saved {} events to ", app.events.len())),
        "{status}"
    );

    let files: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(files.len(), 1, "{files:?}");
    let name = files[0].file_name().unwrap().to_string_lossy().into_owned();
    assert!(name.starts_with("recourse-tail-") && name.ends_with(".ndjson") && !name.contains(':'));
    let text = std::fs::read_to_string(&files[0]).unwrap();
    assert_eq!(text.lines().count(), app.events.len());
    for line in text.lines() {
        let v: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(v["target"], app.targets[0].name.as_str(), "{line}");
    }

    // Played back, the saved lines make the same log.
    let replayed = app_with(&text);
    let log =
        |app: &App| -> Vec<String> { app.events.iter().map(|e| format!("{:?}", e.kind)).collect() };
    assert_eq!(log(&replayed), log(&app));

    save(&mut app);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 2);
}

/// An empty log writes no file.
#[test]
fn an_empty_log_is_not_saved() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = App::new("*", KeyFilter::default());
    let effects = ctrl(&mut app, 's');
    assert_eq!(effects, [], "nothing to carry out");
    carry(&mut app, effects, dir.path());
    assert_eq!(app.status(), Some("nothing to save yet: the log is empty"));
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// A save that cannot be written says why and leaves nothing behind.
#[test]
fn a_failed_save_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let mut app = app();
    let effects = ctrl(&mut app, 's');
    carry(&mut app, effects, &dir.path().join("no-such-dir"));
    let status = app.status().unwrap_or_default().to_owned();
    assert!(status.starts_with("not saved: "), "{status}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

/// `c` copies the selected event's line, with its target; on the keys table it says how to
/// select one instead.
#[test]
fn c_copies_the_selected_call_with_its_target() {
    let mut app = app();
    assert_eq!(press(&mut app, KeyCode::Char('c')), []);
    assert!(
        app.status()
            .unwrap_or_default()
            .starts_with("nothing to copy")
    );

    press(&mut app, KeyCode::Tab);
    press(&mut app, KeyCode::Char('E'));
    let effects = press(&mut app, KeyCode::Char('c'));
    let [Effect::Copy(copied)] = effects.as_slice() else {
        panic!("{effects:?}")
    };
    let copied = copied.clone();
    let v: serde_json::Value = serde_json::from_str(&copied).unwrap();
    assert_eq!(v["t"], "call");
    assert_ne!(
        v["outcome"], "success",
        "E selected a failed call: {copied}"
    );
    assert_eq!(v["target"], app.targets[0].name.as_str());
    assert_eq!(
        crate::tui::osc52(&copied),
        format!("\x1b]52;c;{}\x07", {
            use base64::Engine as _;
            base64::engine::general_purpose::STANDARD.encode(&copied)
        })
    );
}

#[test]
fn osc52_encodes_the_text_in_base64() {
    assert_eq!(crate::tui::osc52("hi"), "\x1b]52;c;aGk=\x07");
}

/// Types `:text` and Enter; the effects asked for.
fn command(app: &mut App, text: &str) -> Vec<Effect> {
    let mut effects = press(app, KeyCode::Char(':'));
    effects.extend(type_text(app, text));
    effects.extend(press(app, KeyCode::Enter));
    effects
}

#[test]
fn colon_key_narrows_the_view_and_asks_the_services() {
    let mut app = app();
    assert_eq!(
        command(&mut app, "key inventory.*"),
        [Effect::Subscribe(vec!["inventory.*".to_owned()])]
    );
    assert_eq!(app.title, "inventory.*");
    let keys: Vec<String> = app.rows().into_iter().map(|r| r.key).collect();
    assert_eq!(keys, ["inventory.Get"]);
    let visible = app.visible();
    assert!(!visible.is_empty());
    assert!(visible.iter().all(|e| e.key() == "inventory.Get"));
    // Every key again: the log shows what it held all along.
    assert_eq!(command(&mut app, "key *"), [Effect::Subscribe(vec![])]);
    assert_eq!(app.title, "*");
    assert!(app.visible().len() > 300);
    assert!(screen(&app, 80, 24).contains("keys: *"));
}

#[test]
fn colon_commands_set_the_window_save_quit_and_report_mistakes() {
    let mut app = app();
    command(&mut app, "window 15m");
    assert_eq!(app.window, 3);
    assert_eq!(app.status(), Some("rates over the last 15m"));

    let dir = tempfile::tempdir().unwrap();
    let effects = command(&mut app, "save incident.ndjson");
    assert_eq!(effects, [Effect::Save(Some("incident.ndjson".into()))]);
    carry(&mut app, effects, dir.path());
    let saved = std::fs::read_to_string(dir.path().join("incident.ndjson")).unwrap();
    assert_eq!(saved.lines().count(), app.events.len());
    // A file is never overwritten.
    let effects = command(&mut app, "save incident.ndjson");
    carry(&mut app, effects, dir.path());
    let status = app.status().unwrap_or_default().to_owned();
    assert!(
        status.starts_with("not saved: ") && status.ends_with("exists"),
        "{status}"
    );

    assert_eq!(command(&mut app, "target http://nope"), []);
    let status = app.status().unwrap_or_default().to_owned();
    assert!(status.contains("expected a socket path"), "{status}");
    let effects = command(&mut app, "target tcp://127.0.0.1:7079");
    let follow = crate::tail::Spec::Tcp("127.0.0.1:7079".into());
    assert_eq!(effects, [Effect::Follow(follow)]);
    // A replay has no followers to add it to: the driver says so.
    carry(&mut app, effects, dir.path());
    assert_eq!(app.status(), Some("a replay has no targets to add"));

    assert_eq!(command(&mut app, "nonsense"), []);
    assert!(
        app.status()
            .unwrap_or_default()
            .starts_with("no command :nonsense")
    );
    assert_eq!(command(&mut app, "q"), [Effect::Quit(Status::Ok)]);
}

#[test]
fn the_colon_line_shows_what_is_typed_and_esc_leaves_it() {
    let mut app = app();
    press(&mut app, KeyCode::Char(':'));
    type_text(&mut app, "window 5");
    let typed = screen(&app, 120, 30);
    assert!(typed.contains(" :window 5"), "{typed}");
    assert!(typed.contains("key GLOB…"), "{typed}");
    press(&mut app, KeyCode::Esc);
    assert_eq!(app.command, None);
    assert_eq!(app.window, 0, "nothing ran");
    // Keys typed on the line are not actions: `q` did not quit.
    press(&mut app, KeyCode::Char(':'));
    assert_eq!(type_text(&mut app, "q"), []);
    press(&mut app, KeyCode::Backspace);
    press(&mut app, KeyCode::Backspace);
    assert_eq!(app.command, None, "backspace on an empty line closes it");
}
