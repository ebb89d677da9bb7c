//! `recourse breaker isolate | close | release | status`: an operator's hand on a key's breaker
//! in running services, sent as a `control` message over their export socket (docs/breaker.md).

use recourse_engine::export::wire::{Hello, control};
use serde_json::{Value, json};

use crate::args::{BreakerCommand, Format};
use crate::exit::Status;
use crate::tail::control::{Answer, send};
use crate::tail::{Spec, discovery};

/// One service's answer, or why it could not be asked.
struct Asked {
    target: String,
    answer: Result<(Hello, Answer), String>,
}

pub(crate) fn run(command: BreakerCommand) -> Status {
    let (action, key, force, targets, token, format) = match command {
        BreakerCommand::Isolate(a) => (
            control::ISOLATE,
            Some(a.key),
            a.force,
            a.targets,
            a.token,
            a.format,
        ),
        BreakerCommand::Close(a) => (
            control::CLOSE,
            Some(a.key),
            a.force,
            a.targets,
            a.token,
            a.format,
        ),
        BreakerCommand::Release(a) => (
            control::RELEASE,
            Some(a.key),
            a.force,
            a.targets,
            a.token,
            a.format,
        ),
        BreakerCommand::Status(a) => (control::STATUS, a.key, false, a.targets, a.token, a.format),
    };
    let token = token.or_else(|| std::env::var("RECOURSE_TAIL_TOKEN").ok());
    let specs = match specs(&targets) {
        Ok(s) => s,
        Err(e) => return crate::exit::fail(&e),
    };
    crate::exit::block_on(async move {
        let mut asked = tokio::task::JoinSet::new();
        for (i, spec) in specs.into_iter().enumerate() {
            let (key, token) = (key.clone(), token.clone());
            asked.spawn(async move {
                let answer = send(&spec, action, key.as_deref(), force, token).await;
                let target = spec.label();
                (i, Asked { target, answer })
            });
        }
        let mut all: Vec<(usize, Asked)> = asked.join_all().await;
        all.sort_by_key(|(i, _)| *i);
        let all: Vec<Asked> = all.into_iter().map(|(_, a)| a).collect();
        match format {
            Format::Json => println!("{}", document(action, key.as_deref(), &all)),
            Format::Human => print!("{}", human(action, &all)),
        }
        status(&all)
    })
}

/// The targets given, or every socket in the socket directory (for `status`).
fn specs(targets: &[String]) -> Result<Vec<Spec>, String> {
    if !targets.is_empty() {
        return targets
            .iter()
            .map(|t| Spec::parse(t).map_err(|e| format!("--target {e}")))
            .collect();
    }
    let dir = recourse_engine::export::socket_dir();
    let found = discovery::sockets(&dir);
    if found.is_empty() {
        return Err(format!(
            "no services found in {}\n  help: start a service with export on, or pass --target",
            dir.display()
        ));
    }
    Ok(found.into_iter().map(Spec::Unix).collect())
}

/// 0 when every service did it, 1 when one refused, 2 when one could not be asked.
fn status(all: &[Asked]) -> Status {
    if all.iter().any(|a| a.answer.is_err()) {
        Status::Usage
    } else if all
        .iter()
        .any(|a| matches!(a.answer, Ok((_, Answer::Refused { .. }))))
    {
        Status::Findings
    } else {
        Status::Ok
    }
}

/// A breaker's state in the status table (`none` on the wire is a key without a breaker).
fn shown(state: &str) -> &str {
    if state == control::NO_BREAKER {
        "no breaker"
    } else {
        state
    }
}

/// The same in a sentence about the key.
fn said(state: &str) -> String {
    if state == control::NO_BREAKER {
        "has no breaker".to_owned()
    } else {
        format!("is {state}")
    }
}

fn name(hello: &Hello) -> &str {
    hello.instance.as_deref().unwrap_or(&hello.service)
}

/// What people read: per service, the key's breaker after the action, or the refusal.
fn human(action: &str, all: &[Asked]) -> String {
    let mut out = String::new();
    for a in all {
        match &a.answer {
            Err(why) => out.push_str(&format!("{}: not reached: {why}\n", a.target)),
            Ok((hello, Answer::Refused { code, msg })) => out.push_str(&format!(
                "{} ({}): refused ({code}): {msg}\n",
                name(hello),
                a.target
            )),
            Ok((hello, Answer::Done(done))) if action == control::STATUS => {
                let control = if hello.control {
                    "control allowed"
                } else {
                    "control not allowed"
                };
                out.push_str(&format!("{} ({}), {control}\n", name(hello), a.target));
                if done.keys.is_empty() {
                    out.push_str("  no keys called yet\n");
                }
                let width = done.keys.keys().map(String::len).max().unwrap_or(0);
                for (key, state) in &done.keys {
                    out.push_str(&format!("  {key:<width$}  {}\n", shown(state)));
                }
                if done.more > 0 {
                    out.push_str(&format!(
                        "  ... and {} more keys (ask for one: recourse breaker status KEY)\n",
                        done.more
                    ));
                }
            }
            Ok((hello, Answer::Done(done))) => {
                for (key, state) in &done.keys {
                    out.push_str(&format!(
                        "{} ({}): {key} {}\n",
                        name(hello),
                        a.target,
                        said(state)
                    ));
                }
            }
        }
    }
    out
}

/// One JSON document: the action, and each target's answer.
fn document(action: &str, key: Option<&str>, all: &[Asked]) -> Value {
    let targets: Vec<Value> = all
        .iter()
        .map(|a| match &a.answer {
            Err(why) => json!({"target": a.target, "error": why}),
            Ok((hello, answer)) => {
                let mut t = json!({
                    "target": a.target,
                    "service": hello.service,
                    "instance": hello.instance,
                    "control": hello.control,
                });
                match answer {
                    Answer::Done(done) => {
                        t["keys"] = json!(done.keys);
                        if done.more > 0 {
                            t["more"] = json!(done.more);
                        }
                    }
                    Answer::Refused { code, msg } => {
                        t["refused"] = json!({"code": code, "msg": msg});
                    }
                }
                t
            }
        })
        .collect();
    json!({"action": action, "key": key, "targets": targets})
}
