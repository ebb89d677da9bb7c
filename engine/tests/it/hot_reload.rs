//! Hot reload on a real file (issue 4): calls keep running while the file is rewritten 100
//! times (valid, invalid, truncated, atomically renamed). Every call runs under one whole
//! version, old or new, never a mix or a default; invalid versions are reported and ignored.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use recourse_engine::Executor;
use recourse_engine::Key;
use recourse_engine::provider::{FileProvider, Provider};

use crate::support::*;

/// The id of the policy `provider` serves for `key` now.
fn served_id(provider: &FileProvider, key: &Key) -> Option<String> {
    let policy = provider
        .policy(key)
        .expect("a file provider always answers");
    policy.id.as_deref().map(str::to_owned)
}

/// Counts `on_policy_rejected`.
#[derive(Debug, Default)]
struct Rejections(AtomicUsize);
impl recourse_engine::Observer for Rejections {
    fn on_policy_rejected(&self, source: &str, problem: &str) {
        assert!(source.ends_with("policies.yaml") && !problem.is_empty());
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn version(i: usize) -> String {
    format!(
        "version: 1\npolicies:\n  svc.op:\n    id: v{i}\n    retry: {{ max_attempts: {}, initial_backoff: 1ms, max_backoff: 1ms }}\n",
        1 + i % 5
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_see_whole_versions_while_the_file_is_rewritten() {
    let dir = std::env::temp_dir().join(format!("recourse-hot-reload-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("policies.yaml");
    std::fs::write(&file, version(0)).unwrap();
    let rejected = Arc::new(AtomicUsize::new(0));
    let r = rejected.clone();
    let observed = Arc::new(Rejections::default());
    let provider = Arc::new(
        FileProvider::load([&file])
            .unwrap()
            .on_rejection(move |_| {
                r.fetch_add(1, Ordering::SeqCst);
            })
            .observer(observed.clone()),
    );
    let exec = Executor::builder()
        .provider_arc(provider.clone())
        .build()
        .unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    // (policy id, attempts) of every call.
    type Seen = Arc<Mutex<Vec<(Option<String>, usize)>>>;
    let seen: Seen = Arc::default();
    let callers: Vec<_> = (0..4)
        .map(|_| {
            let (exec, stop, seen) = (exec.clone(), stop.clone(), seen.clone());
            tokio::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let (_, tl) = exec
                        .call_traced("svc.op", |_| async { Err::<(), _>(E(0)) })
                        .await;
                    seen.lock().unwrap().push((
                        tl.policy_id.as_deref().map(str::to_owned),
                        tl.attempts.len(),
                    ));
                }
            })
        })
        .collect();

    let writer = {
        let (provider, file) = (provider.clone(), file.clone());
        tokio::task::spawn_blocking(move || {
            let mut expected_rejections = 0;
            for i in 1..=100 {
                let text = version(i);
                match i % 4 {
                    0 => {
                        std::fs::write(&file, "version: 1\npolicies: [unclosed\n").unwrap();
                        expected_rejections += 1;
                    }
                    1 => {
                        std::fs::write(&file, &text[..text.len() - 10]).unwrap(); // truncated
                        expected_rejections += 1;
                    }
                    _ => {
                        let tmp = file.with_extension("tmp");
                        std::fs::write(&tmp, &text).unwrap();
                        std::fs::rename(&tmp, &file).unwrap(); // atomic
                    }
                }
                let _ = provider.reload();
                std::thread::sleep(Duration::from_millis(2));
            }
            expected_rejections
        })
    };
    let expected_rejections = writer.await.unwrap();
    stop.store(true, Ordering::Relaxed);
    for c in callers {
        c.await.unwrap();
    }
    std::fs::remove_dir_all(&dir).ok();

    let seen = seen.lock().unwrap();
    assert!(seen.len() > 100, "calls kept running: {}", seen.len());
    let mut versions = HashMap::new();
    for (id, attempts) in seen.iter() {
        let id = id.as_deref().expect("never the default policy");
        let i: usize = id.trim_start_matches('v').parse().unwrap();
        assert_eq!(
            *attempts,
            1 + i % 5,
            "{id} ran with another version's attempts: a mix"
        );
        assert!(
            i == 0 || i % 4 == 2 || i % 4 == 3,
            "{id} was invalid and must never run"
        );
        *versions.entry(i).or_insert(0) += 1;
    }
    assert!(versions.len() > 1, "calls saw the reloads");
    assert_eq!(rejected.load(Ordering::SeqCst), expected_rejections);
    assert_eq!(
        observed.0.load(Ordering::SeqCst),
        expected_rejections,
        "observers saw every rejection"
    );
    assert!(provider.last_rejection().is_some());
    assert_eq!(
        served_id(&provider, &recourse_engine::Key::parse("svc.op")).as_deref(),
        Some("v99")
    );
}

#[test]
fn reload_if_changed_notices_a_rewrite_and_watch_follows_it() {
    let dir = std::env::temp_dir().join(format!("recourse-watch-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("p.yaml");
    std::fs::write(&file, version(0)).unwrap();
    let provider = Arc::new(FileProvider::load([&file]).unwrap());
    assert!(
        !provider.reload_if_changed().unwrap(),
        "nothing changed yet"
    );
    let watch = provider.watch(Duration::from_millis(5));
    std::fs::write(&file, version(7) + "\n# grown\n").unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    let key = recourse_engine::Key::parse("svc.op");
    while served_id(&provider, &key).as_deref() != Some("v7") {
        assert!(
            std::time::Instant::now() < deadline,
            "the watcher did not reload"
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    drop(watch);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn a_directory_emptied_by_mistake_keeps_the_last_good_policies() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, version(3)).unwrap();
    let provider = FileProvider::load([dir.path()]).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::fs::write(dir.path().join("README.md"), "policies live here\n").unwrap();

    let e = provider.reload_if_changed().unwrap_err();
    assert_eq!(e.problem.code, "no-policy-files");
    let key = recourse_engine::Key::parse("svc.op");
    assert_eq!(
        served_id(&provider, &key).as_deref(),
        Some("v3"),
        "still the last good set"
    );
}

#[test]
fn a_note_beside_the_policies_is_no_reason_to_reload() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("p.yaml"), version(1)).unwrap();
    let provider = FileProvider::load([dir.path()]).unwrap();
    std::fs::write(dir.path().join("README.md"), "policies live here\n").unwrap();
    std::fs::create_dir(dir.path().join("old")).unwrap();
    assert!(
        !provider.reload_if_changed().unwrap(),
        "nothing loaded changed"
    );
    std::fs::write(dir.path().join("q.yml"), "version: 1\n").unwrap();
    assert!(
        provider.reload_if_changed().unwrap(),
        "a new policy file is"
    );
}

/// An update that keeps the file's size and modification time (`cp -p`, `rsync -t`, `tar`,
/// or two writes within the same second) was once never noticed.
#[test]
fn an_update_that_keeps_size_and_modification_time_is_reloaded() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("p.yaml");
    std::fs::write(&file, version(1)).unwrap();
    let mtime = std::fs::metadata(&file).unwrap().modified().unwrap();
    let provider = FileProvider::load([&file]).unwrap();
    // Same length (ids v1 and v6 have the same attempts: 1 + 1 % 5 == 1 + 6 % 5).
    assert_eq!(version(1).len(), version(6).len());
    std::fs::write(&file, version(6)).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&file)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    let meta = std::fs::metadata(&file).unwrap();
    assert_eq!(
        (meta.modified().unwrap(), meta.len()),
        (mtime, version(1).len() as u64)
    );
    assert!(provider.reload_if_changed().unwrap(), "the bytes changed");
    let key = recourse_engine::Key::parse("svc.op");
    assert_eq!(served_id(&provider, &key).as_deref(), Some("v6"));
    assert!(!provider.reload_if_changed().unwrap(), "and once only");
}

/// A Kubernetes ConfigMap volume: each file is a link through `..data`, a link to a
/// timestamped directory that an update replaces by renaming a new link over it.
#[cfg(unix)]
#[test]
fn a_configmap_update_through_its_data_link_is_reloaded() {
    use std::os::unix::fs::symlink;
    let dir = tempfile::tempdir().unwrap();
    let volume = dir.path();
    let publish = |stamp: &str, text: &str| {
        let data = volume.join(stamp);
        std::fs::create_dir(&data).unwrap();
        std::fs::write(data.join("p.yaml"), text).unwrap();
        let link = volume.join("..data_tmp");
        symlink(stamp, &link).unwrap();
        std::fs::rename(&link, volume.join("..data")).unwrap();
    };
    publish("..2026_12_01_00_00_00.1", &version(1));
    symlink("..data/p.yaml", volume.join("p.yaml")).unwrap();
    let provider = FileProvider::load([volume]).unwrap();
    let key = recourse_engine::Key::parse("svc.op");
    assert_eq!(served_id(&provider, &key).as_deref(), Some("v1"));
    assert!(!provider.reload_if_changed().unwrap());
    publish("..2026_12_01_00_05_00.2", &version(6));
    assert!(
        provider.reload_if_changed().unwrap(),
        "the link swap is an update"
    );
    assert_eq!(served_id(&provider, &key).as_deref(), Some("v6"));
}
