use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use indexmap::IndexMap;

pub struct App {
    keys: Vec<KeyEvent>,
}

impl App {
    pub fn key(&mut self, event: KeyEvent) {
        self.keys.push(event);
    }
}

pub fn drive(app: &mut App, map: &IndexMap<String, u32>) -> u32 {
    app.key(KeyEvent::new(KeyCode::Char('q'), KeyModifiers::NONE));
    let first = map.first().map(|(k, _)| k.len()).unwrap_or(0) as u32;
    let entries: u32 = map.iter().map(|(k, v)| k.len() as u32 + v).sum();
    call(first, entries)
}

fn call(a: u32, b: u32) -> u32 {
    a + b
}
