//! Which files of a source a metadata run reads: the kind's files of a file or a directory,
//! narrowed by `--include` / `--exclude` globs; and where COPY members are found.

use std::path::{Path, PathBuf};

use intake_actors::metadata::{self, Kind};

/// COPY members from directories: the first file named as the member, with or without a
/// copybook extension, in the order the directories were given.
pub struct CopyDirs(pub Vec<PathBuf>);

impl metadata::cobol::CopyLibrary for CopyDirs {
    fn member(&self, name: &str) -> Option<String> {
        if name.contains(['/', '\\']) || name.starts_with('.') {
            return None;
        }
        const EXTENSIONS: [&str; 8] = ["", ".cpy", ".cob", ".cbl", ".copy", ".CPY", ".COB", ".CBL"];
        let path = self
            .0
            .iter()
            .flat_map(|dir| EXTENSIONS.iter().map(move |ext| dir.join(format!("{name}{ext}"))))
            .find(|p| p.is_file())?;
        let bytes = std::fs::read(path).ok()?;
        Some(Kind::Cobol.text(&bytes))
    }
}

/// Whether `path` (relative, `/`-separated) matches a glob: `*` and `?` within one segment, `**`
/// across segments. A pattern without `/` is matched against the file name alone, as
/// `.gitignore` does.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    fn matches(p: &[u8], s: &[u8]) -> bool {
        match p.split_first() {
            None => s.is_empty(),
            Some((b'*', rest)) if rest.first() == Some(&b'*') => {
                let rest = rest[1..].strip_prefix(b"/").unwrap_or(&rest[1..]);
                (0..=s.len()).any(|i| matches(rest, &s[i..]))
            }
            Some((b'*', rest)) => {
                let segment = s.iter().position(|&c| c == b'/').unwrap_or(s.len());
                (0..=segment).any(|i| matches(rest, &s[i..]))
            }
            Some((b'?', rest)) => s.first().is_some_and(|&c| c != b'/') && matches(rest, &s[1..]),
            Some((c, rest)) => s.first() == Some(c) && matches(rest, &s[1..]),
        }
    }
    let subject = if pattern.contains('/') {
        path
    } else {
        path.rsplit('/').next().unwrap_or(path)
    };
    matches(pattern.as_bytes(), subject.as_bytes())
}

/// Whether a file passes `--include` (any, when given) and `--exclude` (none).
pub fn selected(relative: &str, include: &[String], exclude: &[String]) -> bool {
    (include.is_empty() || include.iter().any(|g| glob_matches(g, relative)))
        && !exclude.iter().any(|g| glob_matches(g, relative))
}

/// The files of a source: the file itself, or the directory's files of the kind, sorted.
pub fn files(source: &Path, kind: Kind, recursive: bool) -> Result<Vec<PathBuf>, String> {
    let unreadable = |path: &Path, e: std::io::Error| format!("reading {}: {e}", path.display());
    let meta = std::fs::metadata(source).map_err(|e| unreadable(source, e))?;
    if meta.is_file() {
        return Ok(vec![source.to_path_buf()]);
    }
    let mut out = Vec::new();
    let mut dirs = vec![source.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).map_err(|e| unreadable(&dir, e))? {
            let entry = entry.map_err(|e| unreadable(&dir, e))?;
            let path = entry.path();
            // A linked directory is not followed (a link to an ancestor would never end); a
            // linked file is read like any other.
            let is_dir = entry.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                // Tool and environment folders (`.git`, `.venv`, caches) are not the project's.
                let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
                let skipped = name.starts_with('.') || matches!(name, "__pycache__" | "node_modules" | "site-packages");
                if (recursive || kind == Kind::Fastapi) && !skipped {
                    dirs.push(path);
                }
            } else if path.is_file() && path.file_name().and_then(|n| n.to_str()).is_some_and(|n| kind.reads(n)) {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::glob_matches;

    #[test]
    fn globs_match_as_a_shell_and_gitignore_do() {
        assert!(
            glob_matches("*.yaml", "deploy/web.yaml"),
            "a bare pattern matches the file name"
        );
        assert!(!glob_matches("*.yaml", "deploy/web.yml"));
        assert!(glob_matches("deploy/*.yaml", "deploy/web.yaml"));
        assert!(
            !glob_matches("deploy/*.yaml", "deploy/prod/web.yaml"),
            "* stays in one segment"
        );
        assert!(glob_matches("deploy/**/*.yaml", "deploy/prod/eu/web.yaml"));
        assert!(
            glob_matches("deploy/**/*.yaml", "deploy/web.yaml"),
            "** matches no segment too"
        );
        assert!(glob_matches("**/templates/**", "chart/templates/a.yaml"));
        assert!(glob_matches("v?.cpy", "v1.cpy"));
        assert!(!glob_matches("v?.cpy", "v12.cpy"));
    }
}
