//! Reading input files: every file a command reads comes through here, so a file too large or
//! binary is refused the same way, before anything parses it, and quickly (a file's size is
//! checked before it is read, and at most one byte past the limit is ever read).

use std::io::Read;
use std::path::{Path, PathBuf};

use recourse_engine::policy::{LoadError, PolicySet};
use recourse_engine::tooling::{NO_POLICY_FILES, policy_files};

/// Bytes looked at for a NUL byte, the sign of a binary file.
const SNIFF: usize = 8 * 1024;

/// Why an input file was not read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum InputError {
    /// Larger than the limit.
    #[error("{path}: {reason}", reason = self.reason())]
    TooLarge {
        /// The file.
        path: String,
        /// Its size, when it has one.
        size: Option<u64>,
        /// The limit.
        limit: u64,
    },
    /// A NUL byte: not text.
    #[error("{path}: {reason}", reason = self.reason())]
    Binary {
        /// The file.
        path: String,
        /// Where the NUL byte is.
        offset: usize,
    },
    /// Cannot be read.
    #[error("{path}: {reason}", reason = self.reason())]
    Io {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
}

impl InputError {
    /// What is wrong, without the file's name.
    pub(crate) fn reason(&self) -> String {
        match self {
            InputError::TooLarge { size, limit, .. } => format!(
                "{} is more than the {} an input file may have",
                size.map_or("the file".to_owned(), |s| format!(
                    "the file's {}",
                    human(s)
                )),
                human(*limit)
            ),
            InputError::Binary { offset, .. } => {
                format!("a binary file (a NUL byte at byte {offset}), not text")
            }
            InputError::Io { source, .. } => source.to_string(),
        }
    }

    /// What to do about it.
    pub(crate) fn help(&self) -> Option<&'static str> {
        match self {
            InputError::TooLarge { .. } => Some(
                "if the file is meant to be this large, raise the limit with --max-file-size \
                 (e.g. --max-file-size 64MiB)",
            ),
            InputError::Binary { .. } => Some("name a policy, scenario or Rust source file"),
            InputError::Io { .. } => None,
        }
    }

    /// The stable code a JSON report gives it.
    pub(crate) fn code(&self) -> &'static str {
        match self {
            InputError::TooLarge { .. } => "too-large",
            InputError::Binary { .. } => "binary",
            InputError::Io { .. } => "io",
        }
    }
}

/// `8 MiB`, `47.7 MiB`, `1.5 KiB`, `100 bytes`.
pub(crate) fn human(bytes: u64) -> String {
    let (value, unit) = match bytes {
        b if b >= 1 << 30 => (b as f64 / f64::from(1 << 30), "GiB"),
        b if b >= 1 << 20 => (b as f64 / f64::from(1 << 20), "MiB"),
        b if b >= 1 << 10 => (b as f64 / f64::from(1 << 10), "KiB"),
        b => return format!("{b} bytes"),
    };
    let text = format!("{value:.1}");
    format!("{} {unit}", text.strip_suffix(".0").unwrap_or(&text))
}

/// Parses `--max-file-size`: a number of bytes, or with a unit (`KiB`, `MiB`, `GiB`, or
/// `KB`, `MB`, `GB` in powers of ten).
pub(crate) fn parse_size(text: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size: write a number of bytes, or e.g. 64MiB"))?;
    let scale: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1 << 10,
        "MiB" => 1 << 20,
        "GiB" => 1 << 30,
        "KB" | "kB" => 1_000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit {other:?}: use KiB, MiB, GiB (or KB, MB, GB)"
            ));
        }
    };
    n.checked_mul(scale)
        .filter(|&b| b > 0)
        .ok_or_else(|| format!("{text:?} is not a usable size"))
}

/// Checks bytes already in memory (from `git show`, say) as a file named `name`.
pub(crate) fn check(name: &str, bytes: &[u8], limit: u64) -> Result<(), InputError> {
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: name.to_owned(),
            size: Some(bytes.len() as u64),
            limit,
        });
    }
    match bytes[..bytes.len().min(SNIFF)].iter().position(|&b| b == 0) {
        Some(offset) => Err(InputError::Binary {
            path: name.to_owned(),
            offset,
        }),
        None => Ok(()),
    }
}

/// Reads the file at `path`: at most `limit` bytes, and text.
pub(crate) fn read(path: &Path, limit: u64) -> Result<Vec<u8>, InputError> {
    let name = path.display().to_string();
    let io = |source| InputError::Io {
        path: name.clone(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io)?;
    let meta = file.metadata().map_err(io)?;
    if meta.is_file() && meta.len() > limit {
        return Err(InputError::TooLarge {
            path: name,
            size: Some(meta.len()),
            limit,
        });
    }
    // Whatever the file says of its size (`/dev/zero` says nothing), read one byte past the
    // limit at most.
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes).map_err(io)?;
    if bytes.len() as u64 > limit {
        return Err(InputError::TooLarge {
            path: name,
            size: None,
            limit,
        });
    }
    check(&name, &bytes, limit)?;
    Ok(bytes)
}

/// Why the inputs of a command could not be loaded.
#[derive(Debug, thiserror::Error)]
pub(crate) enum LoadFailure {
    /// A file was refused before it was parsed.
    #[error(transparent)]
    Refused(#[from] InputError),
    /// A policy file did not load, or two define the same thing.
    #[error(transparent)]
    Policy(#[from] LoadError),
    /// Another input (a scenario, a git revision) is not what it should be.
    #[error("{0}")]
    Other(String),
}

impl LoadFailure {
    /// What to do about it, when there is something to say.
    pub(crate) fn help(&self) -> Option<String> {
        match self {
            LoadFailure::Refused(e) => e.help().map(str::to_owned),
            LoadFailure::Policy(e) => e.problem.help.clone(),
            LoadFailure::Other(_) => None,
        }
    }

    /// Whether the input could not be read at all (exit 2), not merely invalid (exit 1).
    pub(crate) fn unreadable(&self) -> bool {
        match self {
            LoadFailure::Refused(_) | LoadFailure::Other(_) => true,
            LoadFailure::Policy(e) => matches!(e.problem.code, "io" | "no-policy-files"),
        }
    }
}

/// The policy files under `paths` (a file, or a directory's `*.yaml`, `*.yml`, `*.json`), each
/// read as [`read`] reads, loaded into one set.
pub(crate) fn policies(paths: &[PathBuf], limit: u64) -> Result<PolicySet, LoadFailure> {
    let mut set = PolicySet::new();
    for path in paths {
        let files = if path.is_dir() {
            let files = policy_files(path).map_err(|source| InputError::Io {
                path: path.display().to_string(),
                source,
            })?;
            if files.is_empty() {
                return Err(InputError::Io {
                    path: path.display().to_string(),
                    source: std::io::Error::new(std::io::ErrorKind::NotFound, NO_POLICY_FILES),
                }
                .into());
            }
            files
        } else {
            vec![path.clone()]
        };
        for f in files {
            let bytes = read(&f, limit)?;
            set.merge(PolicySet::from_bytes(bytes, &f.display().to_string())?)?;
        }
    }
    Ok(set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_default_is_the_engines_limit() {
        // `--max-file-size` defaults to the engine's own limit for policy files.
        let engine = recourse_engine::policy::MAX_FILE_BYTES;
        assert_eq!(parse_size(crate::args::DEFAULT_MAX_FILE_SIZE), Ok(engine));
        assert_eq!(human(engine), "8 MiB");
        assert_eq!(human(50_000_000), "47.7 MiB");
    }

    #[test]
    fn sizes_parse_with_and_without_units() {
        assert_eq!(parse_size("1048576"), Ok(1 << 20));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("2 GiB"), Ok(2 << 30));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("lots").is_err());
        assert!(parse_size("5 parsecs").unwrap_err().contains("KiB"));
        assert!(parse_size("0").is_err());
        assert!(parse_size("99999999999999999999GiB").is_err());
    }

    #[test]
    fn a_file_past_the_limit_or_binary_is_refused_before_parsing() {
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big.yaml");
        std::fs::write(&big, vec![b'a'; 2_000]).unwrap();
        let e = read(&big, 1_024).unwrap_err();
        assert_eq!(e.code(), "too-large");
        assert!(
            e.to_string().contains("2 KiB is more than the 1 KiB"),
            "{e}"
        );
        let bin = dir.path().join("bin.yaml");
        std::fs::write(&bin, b"version: 1\n\0\x01\x02").unwrap();
        let e = read(&bin, 1_000).unwrap_err();
        assert_eq!(e.code(), "binary");
        assert!(e.to_string().contains("byte 11"), "{e}");
        assert_eq!(read(&dir.path().join("none"), 10).unwrap_err().code(), "io");
    }

    #[test]
    fn a_device_without_a_size_is_read_only_to_the_limit() {
        let e = read(Path::new("/dev/zero"), 1 << 20).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { size: None, .. }), "{e}");
    }
}
