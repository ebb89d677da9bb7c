//! `--targets-file`: the targets listed in a file, one a line, and those added to it later.
//!
//! A line is a socket path, `unix:///path`, `tcp://host:port`, or a bare `host:port` (TCP).
//! Blank lines and lines starting with `#` are skipped. The file is looked at every second: the
//! targets of lines added since are followed (a fleet that scales out), the targets of lines
//! removed are let go (it scales in; a target also named by `--target` stays), and a line
//! that no longer parses is reported with its number and skipped.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use super::follow::Followers;
use super::target::Spec;

/// How often the file is looked at for changes.
const EVERY: Duration = Duration::from_secs(1);

/// The targets of `text` (the file `name`), in order, and the problems of the lines that do
/// not name one (`name:line: why`).
pub(crate) fn parse(name: &str, text: &str) -> (Vec<Spec>, Vec<String>) {
    let mut specs = Vec::new();
    let mut problems = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        match spec_of(line) {
            Ok(spec) => specs.push(spec),
            Err(why) => problems.push(format!("{name}:{}: {why}", i + 1)),
        }
    }
    (specs, problems)
}

/// A line's target: a bare `host:port` is TCP, anything else as `--target` reads it.
fn spec_of(line: &str) -> Result<Spec, String> {
    let bare_tcp = !line.contains("://")
        && !line.contains('/')
        && line.rsplit_once(':').is_some_and(|(host, port)| {
            !host.is_empty() && !port.is_empty() && port.bytes().all(|b| b.is_ascii_digit())
        });
    if bare_tcp {
        return Ok(Spec::Tcp(line.to_owned()));
    }
    Spec::parse(line)
}

/// The file's state, to tell a change.
fn stamp(path: &Path) -> Option<(SystemTime, u64)> {
    let meta = std::fs::metadata(path).ok()?;
    Some((meta.modified().ok()?, meta.len()))
}

/// Follows the targets added to `path` from now on, and lets go of those removed, until the
/// consumer goes away. `listed` are the file's targets followed already (`limit` bounds the
/// bytes read, as for every input file).
pub(crate) fn watch(path: PathBuf, limit: u64, followers: Followers, listed: Vec<Spec>) {
    tokio::spawn(async move {
        let mut listed: Vec<Spec> = listed.iter().map(Spec::identity).collect();
        let mut seen = stamp(&path);
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        tick.tick().await;
        loop {
            tick.tick().await;
            if followers.closed() {
                return;
            }
            let now = stamp(&path);
            if now == seen {
                continue;
            }
            seen = now;
            let name = path.display().to_string();
            let text = match crate::input::read(&path, limit) {
                Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
                Err(e) => {
                    followers.notice(format!("not re-read: {e}")).await;
                    continue;
                }
            };
            let (specs, problems) = parse(&name, &text);
            for text in problems {
                followers.notice(text).await;
            }
            let now_listed: Vec<Spec> = specs.iter().map(Spec::identity).collect();
            for gone in listed.extract_if(.., |s| !now_listed.contains(s)) {
                let why = format!("removed from {name}; no longer followed");
                followers.stop(&gone, &why).await;
            }
            // A target already followed (listed before, or named by `--target`) is not
            // followed twice, nor let go with the file's lines.
            for (spec, identity) in specs.into_iter().zip(now_listed) {
                if followers.spawn(spec, false).is_some() {
                    listed.push(identity);
                }
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_name_sockets_and_tcp_addresses_with_or_without_a_scheme() {
        let text = "# the payments fleet\n\
                    10.0.0.7:7079\n\
                    \n\
                    tcp://[::1]:7080\n\
                    /run/user/1000/recourse/checkout-42.sock\n\
                    unix:///tmp/a.sock\n\
                    http://nope\n\
                    host:port\n";
        let (specs, problems) = parse("fleet.txt", text);
        assert_eq!(
            specs,
            [
                Spec::Tcp("10.0.0.7:7079".into()),
                Spec::Tcp("[::1]:7080".into()),
                Spec::Unix("/run/user/1000/recourse/checkout-42.sock".into()),
                Spec::Unix("/tmp/a.sock".into()),
                // Not a port: read as a socket path, as --target reads it.
                Spec::Unix("host:port".into()),
            ]
        );
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert!(problems[0].starts_with("fleet.txt:7: "), "{problems:?}");
    }
}
