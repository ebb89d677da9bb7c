//! The fuzz targets (`fuzz/fuzz_targets/`), run briefly on every `cargo test`: each
//! target's body (`recourse_cli::fuzzing`) over the committed test data and a few thousand
//! deterministic mutants of it
//! (byte flips, insertions of interesting bytes, deletions, duplications, splices of two inputs,
//! truncations). Real fuzzing is `fuzz/run` (README, Checks); this keeps CI honest between
//! fuzzing sessions, with the same invariants.
//!
//! A failing input is written to `target/tmp/fuzz-smoke/<target>-<n>` and named in the failure,
//! ready for `fuzz/run <target> <file>`.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

use recourse_cli::fuzzing;

/// Mutants per target (deterministic: the same inputs on every run).
const MUTANTS: usize = 10_000;

/// xorshift64*: small, deterministic, good enough to pick mutations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }
}

/// Bytes that tend to matter to YAML, JSON and Rust tokenizers.
const INTERESTING: &[&[u8]] = &[
    b"\n",
    b":",
    b"- ",
    b"{",
    b"}",
    b"[",
    b"]",
    b"\"",
    b"'",
    b"#",
    b"\\",
    b"*",
    b"&a",
    b"!!",
    b"---",
    b"\t",
    b"\0",
    b"\xff",
    b"\xc3",
    b"r#\"",
    b"/*",
    b"*/",
    b"//",
    b"1e999",
    b"-1",
    b"18446744073709551616",
    b"null",
    b"~",
    b"\xe2\x80\xae",
];

fn mutate(rng: &mut Rng, seeds: &[Vec<u8>]) -> Vec<u8> {
    let mut data = seeds[rng.below(seeds.len())].clone();
    for _ in 0..=rng.below(4) {
        let at = rng.below(data.len() + 1);
        match rng.below(6) {
            0 if !data.is_empty() => {
                let i = rng.below(data.len());
                data[i] ^= 1 << rng.below(8);
            }
            1 => {
                let bytes = INTERESTING[rng.below(INTERESTING.len())];
                data.splice(at..at, bytes.iter().copied());
            }
            2 => {
                let end = (at + rng.below(16)).min(data.len());
                data.drain(at..end);
            }
            3 => {
                let end = (at + rng.below(64)).min(data.len());
                let copy = data[at..end].to_vec();
                data.splice(at..at, copy);
            }
            4 => {
                let other = &seeds[rng.below(seeds.len())];
                let from = rng.below(other.len() + 1);
                data.truncate(at);
                data.extend_from_slice(&other[from..]);
            }
            _ => data.truncate(at),
        }
    }
    data
}

fn seeds(dir: &str, ext: &str) -> Vec<Vec<u8>> {
    fn walk(dir: &Path, ext: &str, out: &mut Vec<Vec<u8>>) {
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, ext, out);
            } else if p.extension().is_some_and(|e| e == ext) {
                out.push(std::fs::read(&p).unwrap());
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../testdata")
        .join(dir);
    let mut out = Vec::new();
    walk(&root, ext, &mut out);
    assert!(!out.is_empty(), "no seeds in {}", root.display());
    out
}

/// Runs `body` on every seed and on `MUTANTS` mutants; a panic fails the test with the input
/// saved to a file.
fn smoke(target: &str, seeds: &[Vec<u8>], body: impl Fn(&[u8])) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ target.len() as u64);
    let inputs = seeds
        .iter()
        .cloned()
        .chain((0..MUTANTS).map(|_| mutate(&mut rng, seeds)));
    for (n, input) in inputs.enumerate() {
        if catch_unwind(AssertUnwindSafe(|| body(&input))).is_err() {
            let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("fuzz-smoke");
            std::fs::create_dir_all(&dir).unwrap();
            let file = dir.join(format!("{target}-{n}"));
            std::fs::write(&file, &input).unwrap();
            panic!(
                "{target} panicked on input {n}, saved to {} \
                 (fuzz/run {target} {})",
                file.display(),
                file.display()
            );
        }
    }
}

/// `fuzz/fuzz_targets/policy_loader.rs`.
#[test]
fn policy_loader() {
    let mut seeds = seeds("policies", "yaml");
    seeds.extend(self::seeds("diff", "yaml"));
    smoke("policy_loader", &seeds, fuzzing::policy_loader);
}

/// Every line of the recorded streams.
fn event_lines() -> Vec<Vec<u8>> {
    seeds("events", "ndjson")
        .iter()
        .flat_map(|f| f.split(|&b| b == b'\n').map(<[u8]>::to_vec))
        .filter(|l| !l.is_empty())
        .collect()
}

/// `fuzz/fuzz_targets/event_line.rs`.
#[test]
fn event_line() {
    smoke("event_line", &event_lines(), fuzzing::event_line);
}

/// `fuzz/fuzz_targets/lint_scanner.rs`.
#[test]
fn lint_scanner() {
    smoke("lint_scanner", &seeds("lint", "rs"), fuzzing::lint_scanner);
}

/// `fuzz/fuzz_targets/validate_render.rs`.
#[test]
fn validate_render() {
    let mut seeds = seeds("policies", "yaml");
    seeds.extend(self::seeds("policies", "json"));
    smoke("validate_render", &seeds, fuzzing::validate_and_render);
}

/// `fuzz/fuzz_targets/lint_render.rs`.
#[test]
fn lint_render() {
    smoke(
        "lint_render",
        &seeds("lint", "rs"),
        fuzzing::lint_and_render,
    );
}

/// `fuzz/fuzz_targets/tail_reader.rs`: whole recordings, and single lines.
#[test]
fn tail_reader() {
    let mut seeds = seeds("events", "ndjson");
    seeds.extend(event_lines());
    smoke("tail_reader", &seeds, fuzzing::tail_reader);
}

/// `fuzz/fuzz_targets/traffic_replay.rs`: recordings replayed through the demo's policies.
#[test]
fn traffic_replay() {
    smoke(
        "traffic_replay",
        &seeds("events", "ndjson"),
        fuzzing::traffic_replay,
    );
}
