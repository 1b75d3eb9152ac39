//! What to watch for a file reached through symlinks. A Kubernetes ConfigMap or Secret volume
//! is `DIR/FILE -> ..data/FILE`, `DIR/..data -> ..<stamp>`, and an update renames a new
//! `..data` over the old one: the file is never written, only a link in the chain changes, and
//! that link may sit in another directory than the name hookgate was given
//! (`/etc/hookgate/hookgate.toml -> /config/hookgate.toml`). So every link of the chain is
//! watched in its own directory, and the file where the chain ends; the chain is walked again
//! after each reload, since a swap points it into a new directory.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

/// As the kernel's `ELOOP` limit: a longer chain is a loop, watched only as far as it went.
const MAX_LINKS: usize = 40;

/// The directories to watch for the config file and its secret files, and the paths in them
/// whose change matters (each a directory of the first list joined with a name).
pub fn watch_set(config: &Path, secrets: &[PathBuf]) -> (Vec<PathBuf>, HashSet<PathBuf>) {
    let mut dirs = Vec::new();
    let mut paths = HashSet::new();
    for file in std::iter::once(config).chain(secrets.iter().map(PathBuf::as_path)) {
        for (dir, name) in chain(file) {
            paths.insert(dir.join(name));
            if !dirs.contains(&dir) {
                dirs.push(dir);
            }
        }
    }
    (dirs, paths)
}

/// Each symlink on the way to `path`'s file, as (its directory, its name), then the file's own
/// (directory, name). A file whose folder does not exist yet ends the chain at the nearest
/// folder that does, with the name of the first one missing: its creation is a change (and the
/// next walk goes one folder further down).
fn chain(path: &Path) -> Vec<(PathBuf, OsString)> {
    // Absolute, so that the watcher's event paths compare equal to these.
    let mut rest = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let mut out = Vec::new();
    let mut links = 0;
    'walk: loop {
        // `at` holds no symlink, so a `..` after it is its parent.
        let mut at = PathBuf::new();
        let parts: Vec<Component> = rest.components().collect();
        for (i, part) in parts.iter().enumerate() {
            let name = match part {
                Component::Normal(n) => *n,
                Component::ParentDir => {
                    at.pop();
                    continue;
                }
                Component::CurDir => continue,
                Component::RootDir | Component::Prefix(_) => {
                    at.push(part);
                    continue;
                }
            };
            let next = at.join(name);
            let last = i + 1 == parts.len();
            match std::fs::symlink_metadata(&next) {
                Ok(m) if m.file_type().is_symlink() => {
                    out.push((at.clone(), name.to_os_string()));
                    let Ok(target) = std::fs::read_link(&next) else {
                        break 'walk;
                    };
                    links += 1;
                    if links > MAX_LINKS {
                        break 'walk;
                    }
                    // An absolute target replaces `at` (`join`); the parts after the link follow.
                    let mut next = at.join(target);
                    next.extend(&parts[i + 1..]);
                    rest = next;
                    continue 'walk;
                }
                Ok(m) if !last && m.is_dir() => at = next,
                // The file itself, or the first part missing (or no folder).
                _ => {
                    out.push((at, name.to_os_string()));
                    break 'walk;
                }
            }
        }
        break;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn pairs(path: &Path) -> Vec<(PathBuf, String)> {
        chain(path)
            .into_iter()
            .map(|(d, n)| (d, n.to_string_lossy().into_owned()))
            .collect()
    }

    #[test]
    fn a_secret_in_a_missing_folder_is_watched_from_the_nearest_one_there() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let config = d.join("hookgate.toml");
        let secret = d.join("later/deeper/token");
        let set = |s: &Path| watch_set(&config, &[s.to_path_buf()]);
        assert_eq!(
            set(&secret),
            (
                vec![d.to_path_buf()],
                [config.clone(), d.join("later")].into_iter().collect()
            )
        );
        std::fs::create_dir(d.join("later")).unwrap();
        assert_eq!(set(&secret).0, vec![d.to_path_buf(), d.join("later")]);
        assert!(set(&secret).1.contains(&d.join("later/deeper")));
        std::fs::create_dir(d.join("later/deeper")).unwrap();
        assert_eq!(set(&secret).0[1], d.join("later/deeper"));
        assert!(set(&secret).1.contains(&secret));
    }

    /// `/etc/hookgate.toml -> /cm/hookgate.toml -> ..data/hookgate.toml`, `..data -> ..1`:
    /// each link where it sits, then the file; after a swap to `..2`, the new directory.
    #[test]
    fn a_link_into_a_configmap_volume_is_watched_link_by_link() {
        let root = tempfile::tempdir().unwrap();
        let (etc, cm) = (root.path().join("etc"), root.path().join("cm"));
        for d in [&etc, &cm.join("..1"), &cm.join("..2")] {
            std::fs::create_dir_all(d).unwrap();
        }
        std::fs::write(cm.join("..1/hookgate.toml"), "").unwrap();
        std::fs::write(cm.join("..2/hookgate.toml"), "").unwrap();
        symlink("..1", cm.join("..data")).unwrap();
        symlink("..data/hookgate.toml", cm.join("hookgate.toml")).unwrap();
        symlink(cm.join("hookgate.toml"), etc.join("hookgate.toml")).unwrap();
        let link = |d: &Path, n: &str| (d.to_path_buf(), n.to_string());
        assert_eq!(
            pairs(&etc.join("hookgate.toml")),
            vec![
                link(&etc, "hookgate.toml"),
                link(&cm, "hookgate.toml"),
                link(&cm, "..data"),
                link(&cm.join("..1"), "hookgate.toml"),
            ]
        );
        symlink("..2", cm.join("..data_tmp")).unwrap();
        std::fs::rename(cm.join("..data_tmp"), cm.join("..data")).unwrap();
        std::fs::remove_dir_all(cm.join("..1")).unwrap();
        assert_eq!(
            pairs(&etc.join("hookgate.toml")).last(),
            Some(&link(&cm.join("..2"), "hookgate.toml"))
        );
    }

    #[test]
    fn relative_targets_dot_dot_and_loops() {
        let root = tempfile::tempdir().unwrap();
        let r = root.path();
        std::fs::create_dir_all(r.join("a/b")).unwrap();
        std::fs::write(r.join("a/s"), "").unwrap();
        symlink("../s", r.join("a/b/s")).unwrap();
        assert_eq!(
            pairs(&r.join("a/b/s")).last(),
            Some(&(r.join("a"), "s".into()))
        );
        symlink("y", r.join("x")).unwrap();
        symlink("x", r.join("y")).unwrap();
        let looped = pairs(&r.join("x"));
        assert_eq!(looped.len(), MAX_LINKS + 1);
        assert_eq!(watch_set(&r.join("x"), &[]).0, vec![r.to_path_buf()]);
    }
}
