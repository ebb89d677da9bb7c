//! The footer's notices. Every notice is shown, in the order it came, for a few seconds; a
//! reply to the operator's own key press goes first.

use std::collections::VecDeque;

/// Notices waiting at most; past it the oldest waiting one is dropped (and counted).
const MAX_WAITING: usize = 64;
/// Ticks (seconds) a notice stays while nothing waits behind it...
const ALONE: u32 = 6;
/// ...and while others wait.
const QUEUED: u32 = 2;

/// Notices, the shown one first.
#[derive(Debug, Default)]
pub(crate) struct Notices {
    queue: VecDeque<Notice>,
    /// Ticks the shown notice has been up.
    age: u32,
    /// Notices dropped because too many waited.
    pub(crate) dropped: u64,
}

/// Targets named in a joined notice; past it they are counted.
const NAMED: usize = 3;

/// One notice, and the targets that said the same.
#[derive(Debug)]
struct Notice {
    text: String,
    /// What follows `target: `, when it came from a target.
    what: Option<String>,
    targets: Vec<String>,
}

impl Notice {
    fn new(text: String) -> Notice {
        let (targets, what) = match text.split_once(": ") {
            Some((target, what)) => (vec![target.to_owned()], Some(what.to_owned())),
            None => (Vec::new(), None),
        };
        Notice {
            text,
            what,
            targets,
        }
    }

    /// The text of a notice its targets all said.
    fn join(&mut self) {
        let what = self.what.as_deref().unwrap_or_default();
        self.text = match self.targets.len() {
            n if n > NAMED => format!("{n} targets: {what}"),
            _ => format!("{}: {what}", self.targets.join(", ")),
        };
    }
}

impl Notices {
    /// A notice about the feeds: shown after those already waiting. One that says what the
    /// last one said, of another target, joins it: `a, b: connection refused; reconnecting`,
    /// or, for fifty services confirming the same subscription, `50 targets: matching 4 keys`.
    pub(crate) fn push(&mut self, text: String) {
        if self.queue.is_empty() {
            self.age = 0;
        }
        let mut notice = Notice::new(text);
        if let Some(last) = self.queue.back_mut()
            && notice.what.is_some()
            && last.what == notice.what
        {
            last.targets.append(&mut notice.targets);
            last.join();
            return;
        }
        self.queue.push_back(notice);
        self.bound();
    }

    /// Takes back what `target` said (`what`) once it no longer holds: the target leaves
    /// every notice that says it, and a notice no target says any more goes, shown or not.
    pub(crate) fn withdraw(&mut self, target: &str, what: &str) {
        let mut i = 0;
        while i < self.queue.len() {
            let notice = &mut self.queue[i];
            if notice.what.as_deref() == Some(what)
                && let Some(at) = notice.targets.iter().position(|t| t == target)
            {
                notice.targets.remove(at);
                if notice.targets.is_empty() {
                    self.queue.remove(i);
                    if i == 0 {
                        self.age = 0;
                    }
                    continue;
                }
                notice.join();
            }
            i += 1;
        }
    }

    /// A reply to a key press: shown now, before what waits.
    pub(crate) fn reply(&mut self, text: String) {
        self.queue.push_front(Notice {
            text,
            what: None,
            targets: Vec::new(),
        });
        self.age = 0;
        self.bound();
    }

    /// Drops the oldest waiting notice past [`MAX_WAITING`], keeping the shown one.
    fn bound(&mut self) {
        if self.queue.len() > MAX_WAITING {
            self.queue.remove(1);
            self.dropped += 1;
        }
    }

    /// What the footer shows.
    pub(crate) fn current(&self) -> Option<&str> {
        self.queue.front().map(|n| n.text.as_str())
    }

    /// Notices waiting behind the shown one.
    pub(crate) fn waiting(&self) -> usize {
        self.queue.len().saturating_sub(1)
    }

    /// A second went by: the shown notice goes once it has been up long enough.
    pub(crate) fn tick(&mut self) {
        self.age += 1;
        let limit = if self.queue.len() > 1 { QUEUED } else { ALONE };
        if self.age >= limit {
            self.queue.pop_front();
            self.age = 0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_is_shown_in_order_and_a_reply_goes_first() {
        let mut n = Notices::default();
        for i in 0..3 {
            n.push(format!("feed {i}"));
        }
        n.reply("saved".into());
        let mut seen = Vec::new();
        while let Some(c) = n.current() {
            if seen.last().map(String::as_str) != Some(c) {
                seen.push(c.to_owned());
            }
            n.tick();
        }
        assert_eq!(seen, ["saved", "feed 0", "feed 1", "feed 2"]);
    }

    #[test]
    fn targets_saying_the_same_are_one_notice() {
        let mut n = Notices::default();
        n.push("svc-1: connected".into());
        for i in 0..50 {
            n.push(format!("fleet-{i:02}: matching 4 keys: a.B, c.D"));
        }
        n.push("svc-1: reconnecting".into());
        assert_eq!(n.waiting(), 2);
        n.tick();
        n.tick();
        assert_eq!(n.current(), Some("50 targets: matching 4 keys: a.B, c.D"));
    }

    #[test]
    fn a_notice_taken_back_leaves_the_targets_it_still_holds_for() {
        let waiting = "no key called so far matches; waiting";
        let mut n = Notices::default();
        for t in ["a", "b"] {
            n.push(format!("{t}: {waiting}"));
        }
        n.push("c: connected".into());
        n.withdraw("a", waiting);
        assert_eq!(
            n.current(),
            Some("b: no key called so far matches; waiting")
        );
        // Another notice's target, or another text, is left alone.
        n.withdraw("c", waiting);
        n.withdraw("b", "connected");
        assert_eq!(n.waiting(), 1);
        n.withdraw("b", waiting);
        assert_eq!(n.current(), Some("c: connected"));
        assert_eq!(n.waiting(), 0);
    }

    #[test]
    fn a_flood_keeps_the_shown_notice_and_counts_what_it_drops() {
        let mut n = Notices::default();
        for i in 0..MAX_WAITING + 10 {
            n.push(format!("{i}"));
        }
        assert_eq!(n.current(), Some("0"));
        assert_eq!(n.waiting(), MAX_WAITING - 1);
        assert_eq!(n.dropped, 10);
    }
}
