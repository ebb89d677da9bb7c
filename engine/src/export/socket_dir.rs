//! Where services put their sockets, and when a directory is safe to put them in (or, for
//! `recourse tail`, to find them in): a socket in a directory another user can write to can
//! be replaced by theirs.

use std::path::{Path, PathBuf};

/// Where services put their sockets and where `recourse tail` looks for them:
/// `$RECOURSE_SOCKET_DIR`, else `$XDG_RUNTIME_DIR/recourse`, else `/tmp/recourse-<uid>`.
pub fn socket_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("RECOURSE_SOCKET_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(dir) = std::env::var_os("XDG_RUNTIME_DIR").filter(|d| !d.is_empty()) {
        return PathBuf::from(dir).join("recourse");
    }
    std::env::temp_dir().join(format!("recourse-{}", uid()))
}

/// The user id of this process.
pub(crate) fn uid() -> u32 {
    #[cfg(unix)]
    {
        rustix::process::getuid().as_raw()
    }
    #[cfg(not(unix))]
    {
        0
    }
}

/// Why a directory is not safe for sockets.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} is not a safe place for sockets: {why}")]
pub struct UnsafeDir {
    /// The directory.
    pub path: PathBuf,
    /// What is wrong with it, and what to do.
    pub why: String,
}

/// How strict to be about a directory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Rule {
    /// The socket directory (`socket_dir()`): this user's own, writable by nobody else.
    Private,
    /// The directory of a socket path the service chose: owned by this user or root, and
    /// writable by others only with the sticky bit (as `/tmp` is), so nobody else can
    /// replace a socket in it.
    Chosen,
}

/// Checks `dir` without following a symbolic link: it must be a directory owned by this user
/// that no other user can replace files in.
///
/// # Errors
///
/// [`UnsafeDir`] says what is wrong, or that the directory cannot be examined.
pub fn check_dir(dir: &Path) -> Result<(), UnsafeDir> {
    check(dir, Rule::Private)
}

pub(crate) fn check(dir: &Path, rule: Rule) -> Result<(), UnsafeDir> {
    let unsafe_dir = |why: String| UnsafeDir {
        path: dir.to_owned(),
        why,
    };
    let meta = std::fs::symlink_metadata(dir).map_err(|e| unsafe_dir(e.to_string()))?;
    if meta.file_type().is_symlink() {
        return Err(unsafe_dir(
            "it is a symbolic link; a socket directory must be a real directory".into(),
        ));
    }
    if !meta.is_dir() {
        return Err(unsafe_dir("it is not a directory".into()));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt;
        let me = uid();
        let owner = meta.uid();
        let mode = meta.mode() & 0o7777;
        let owner_ok = owner == me || (rule == Rule::Chosen && owner == 0);
        if !owner_ok {
            return Err(unsafe_dir(format!(
                "it belongs to uid {owner}, not to this user (uid {me}); remove it, or set \
                 RECOURSE_SOCKET_DIR to a directory of your own"
            )));
        }
        let shared = mode & 0o022 != 0;
        let sticky = mode & 0o1000 != 0;
        if shared && !(rule == Rule::Chosen && sticky) {
            return Err(unsafe_dir(format!(
                "other users can write to it (mode {mode:04o}); make it private with \
                 `chmod 700 {}`",
                dir.display()
            )));
        }
    }
    #[cfg(not(unix))]
    let _ = rule;
    Ok(())
}

/// Creates `dir` (and its missing parents) private to this user, or checks an existing one
/// with `rule`.
pub(crate) fn prepare(dir: &Path, rule: Rule) -> Result<(), UnsafeDir> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let mut builder = std::fs::DirBuilder::new();
            builder.recursive(true);
            #[cfg(unix)]
            std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
            builder.create(dir).map_err(|e| UnsafeDir {
                path: dir.to_owned(),
                why: format!("it cannot be created: {e}"),
            })?;
            // Created now, or by someone else in the meantime: check it either way.
            check(dir, rule)
        }
        _ => check(dir, rule),
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn chmod(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_new_directory_is_made_private() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("a/b");
        prepare(&dir, Rule::Private).unwrap();
        let mode = std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o700);
    }

    #[test]
    fn a_directory_others_can_write_to_is_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("shared");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o777);
        let e = prepare(&dir, Rule::Private).unwrap_err();
        assert!(e.why.contains("mode 0777"), "{e}");
        chmod(&dir, 0o1777);
        assert!(check(&dir, Rule::Private).is_err(), "sticky is not enough");
        assert!(
            check(&dir, Rule::Chosen).is_ok(),
            "as /tmp is, for a chosen path"
        );
        chmod(&dir, 0o750);
        assert!(check(&dir, Rule::Private).is_ok());
    }

    #[test]
    fn a_symbolic_link_is_refused_even_to_a_good_directory() {
        let tmp = tempfile::tempdir().unwrap();
        let real = tmp.path().join("real");
        std::fs::create_dir(&real).unwrap();
        chmod(&real, 0o700);
        let link = tmp.path().join("link");
        std::os::unix::fs::symlink(&real, &link).unwrap();
        let e = check(&link, Rule::Private).unwrap_err();
        assert!(e.why.contains("symbolic link"), "{e}");
    }

    #[test]
    fn a_directory_of_another_user_is_refused() {
        if uid() != 0 {
            return; // only root can give a directory away; the rule is the same code path
        }
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("theirs");
        std::fs::create_dir(&dir).unwrap();
        chmod(&dir, 0o700);
        std::os::unix::fs::chown(&dir, Some(12345), None).unwrap();
        let e = check(&dir, Rule::Private).unwrap_err();
        assert!(e.why.contains("uid 12345"), "{e}");
    }
}
