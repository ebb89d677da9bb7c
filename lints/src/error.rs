use std::path::PathBuf;

/// What can stop a scan. A finding is data, not an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LintError {
    /// A path could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A file is larger than [`Config::max_file_size`](crate::Config::max_file_size).
    #[error(
        "{path} is larger than {limit} bytes, the most a scanned file may be: raise the limit \
         (recourse lint --max-file-size) or exclude the file in recourse.toml"
    )]
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit.
        limit: u64,
    },
    /// The `[lint]` table of the configuration file is invalid.
    #[error("invalid lint configuration in {path}: {message}")]
    Config {
        /// The configuration file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
}
