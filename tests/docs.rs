//! The documentation holds together: the README stays short, every relative link in the
//! README, `docs/`, the chart README and SECURITY.md reaches an existing file, every
//! `#fragment` a heading of its target (GitHub's anchors), `docs/README.md` lists every page,
//! and long pages open with a table of contents. Plain string parsing, no Markdown library.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The README is the newcomer's page: what it is, how to try it, how to set a tenant up.
const README_MAX_LINES: usize = 300;
/// Pages longer than this open with a table of contents.
const TOC_OVER_LINES: usize = 80;

/// The Markdown files checked, relative to the repository root.
fn documents() -> Vec<PathBuf> {
    let mut files = vec![
        PathBuf::from("README.md"),
        PathBuf::from("SECURITY.md"),
        PathBuf::from("charts/entra-cloud-operator/README.md"),
    ];
    files.extend(docs_pages().into_iter().map(|p| Path::new("docs").join(p)));
    files
}

/// The file names of `docs/*.md`, sorted.
fn docs_pages() -> Vec<String> {
    let dir = Path::new(ROOT).join("docs");
    let mut pages: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .filter_map(|entry| entry.ok())
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .filter(|name| name.ends_with(".md"))
        .collect();
    pages.sort();
    pages
}

fn read(relative: &Path) -> String {
    let path = Path::new(ROOT).join(relative);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

/// The lines of a Markdown text outside fenced code blocks, with their 1-based numbers.
fn prose_lines(text: &str) -> Vec<(usize, &str)> {
    let mut fence: Option<&str> = None;
    let mut lines = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let trimmed = line.trim_start();
        let marker = if trimmed.starts_with("```") {
            Some("```")
        } else if trimmed.starts_with("~~~") {
            Some("~~~")
        } else {
            None
        };
        match (fence, marker) {
            (None, Some(m)) => fence = Some(m),
            (Some(open), Some(m)) if open == m => fence = None,
            (None, None) => lines.push((i + 1, line)),
            _ => {}
        }
    }
    lines
}

/// GitHub's anchor for a heading: lowercase; letters, digits, `-` and `_` kept, each space
/// turned into `-`, everything else (punctuation, backticks, symbols) dropped.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            '-' | '_' => Some(c),
            c if c.is_alphanumeric() => Some(c),
            _ => None,
        })
        .collect()
}

/// Every anchor of a Markdown text, with GitHub's `-1`, `-2` suffixes for repeated headings.
fn anchors(text: &str) -> Vec<String> {
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    let mut out = Vec::new();
    for (_, line) in prose_lines(text) {
        let hashes = line.chars().take_while(|&c| c == '#').count();
        if !(1..=6).contains(&hashes) || !line[hashes..].starts_with(' ') {
            continue;
        }
        let base = slug(line[hashes..].trim_end_matches('#'));
        let count = seen.entry(base.clone()).or_insert(0);
        out.push(if *count == 0 {
            base.clone()
        } else {
            format!("{base}-{count}")
        });
        *count += 1;
    }
    out
}

/// A line with its inline code spans blanked out, so that `[a](b)` inside backticks is no link.
fn without_code_spans(line: &str) -> String {
    line.split('`')
        .enumerate()
        .map(|(i, part)| if i % 2 == 0 { part } else { "" })
        .collect::<Vec<_>>()
        .join("``")
}

/// The link targets of a Markdown text, with their line numbers: inline `[text](target)` and
/// reference definitions `[label]: target`.
fn links(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    for (number, line) in prose_lines(text) {
        let line = without_code_spans(line);
        let trimmed = line.trim_start();
        if trimmed.starts_with('[')
            && let Some(end) = trimmed.find(']')
            && trimmed[end..].starts_with("]:")
        {
            let target = trimmed[end + 2..].split_whitespace().next().unwrap_or("");
            out.push((number, target.to_string()));
            continue;
        }
        let mut rest = line.as_str();
        while let Some(start) = rest.find("](") {
            let after = &rest[start + 2..];
            let mut depth = 0usize;
            let mut end = after.len();
            for (i, c) in after.char_indices() {
                match c {
                    '(' => depth += 1,
                    ')' if depth == 0 => {
                        end = i;
                        break;
                    }
                    ')' => depth -= 1,
                    _ => {}
                }
            }
            let target = after[..end].split_whitespace().next().unwrap_or("");
            let target = target.trim_start_matches('<').trim_end_matches('>');
            out.push((number, target.to_string()));
            rest = &after[end.min(after.len())..];
        }
    }
    out
}

/// A path relative to the repository root, `..` and `.` resolved; `None` when it leaves it.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for part in path.components() {
        match part {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::Normal(p) => out.push(p),
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// What is wrong with the links of `text`, the document at `path` (relative to `root`): each
/// problem names the file, the line and the link.
fn link_problems(root: &Path, path: &Path, text: &str) -> Vec<String> {
    let mut problems = Vec::new();
    let own_anchors = anchors(text);
    let dir = path.parent().unwrap_or(Path::new(""));
    for (line, target) in links(text) {
        let at = format!("{}:{line}: link `{target}`", path.display());
        if target.is_empty() {
            problems.push(format!("{at}: empty target"));
            continue;
        }
        if target.contains("://") || target.starts_with("mailto:") {
            continue;
        }
        let (file, fragment) = match target.split_once('#') {
            Some((file, fragment)) => (file, Some(fragment)),
            None => (target.as_str(), None),
        };
        let (resolved, target_anchors) = if file.is_empty() {
            (path.to_path_buf(), own_anchors.clone())
        } else {
            let Some(resolved) = normalise(&dir.join(file)) else {
                problems.push(format!("{at}: leaves the repository"));
                continue;
            };
            let full = root.join(&resolved);
            if !full.exists() {
                problems.push(format!("{at}: {} does not exist", resolved.display()));
                continue;
            }
            let is_markdown = resolved.extension().is_some_and(|e| e == "md");
            match (fragment, is_markdown) {
                (Some(_), true) => match std::fs::read_to_string(&full) {
                    Ok(target_text) => (resolved, anchors(&target_text)),
                    Err(e) => {
                        problems.push(format!("{at}: reading {}: {e}", resolved.display()));
                        continue;
                    }
                },
                _ => (resolved, Vec::new()),
            }
        };
        if let Some(fragment) = fragment {
            let checked = file.is_empty() || resolved.extension().is_some_and(|e| e == "md");
            if checked && !target_anchors.iter().any(|a| a == fragment) {
                problems.push(format!(
                    "{at}: no heading with the anchor #{fragment} in {}",
                    resolved.display()
                ));
            }
        }
    }
    problems
}

#[test]
fn the_readme_is_short() {
    let lines = read(Path::new("README.md")).lines().count();
    assert!(
        lines <= README_MAX_LINES,
        "README.md has {lines} lines, at most {README_MAX_LINES}: move the detail into docs/"
    );
}

#[test]
fn every_relative_link_and_anchor_resolves() {
    let root = Path::new(ROOT);
    let problems: Vec<String> = documents()
        .iter()
        .flat_map(|doc| link_problems(root, doc, &read(doc)))
        .collect();
    assert!(
        problems.is_empty(),
        "broken links:\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_docs_index_lists_every_page() {
    let index = read(Path::new("docs/README.md"));
    let listed: Vec<String> = links(&index).into_iter().map(|(_, t)| t).collect();
    let missing: Vec<String> = docs_pages()
        .into_iter()
        .filter(|page| page != "README.md")
        .filter(|page| {
            !listed
                .iter()
                .any(|t| t == page || t.starts_with(&format!("{page}#")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "docs/README.md does not link {missing:?}: add one line per page"
    );
}

#[test]
fn long_pages_open_with_a_table_of_contents() {
    for page in docs_pages() {
        let path = Path::new("docs").join(&page);
        let text = read(&path);
        if text.lines().count() <= TOC_OVER_LINES {
            continue;
        }
        let before_first_section: String =
            text.split("\n## ").next().unwrap_or_default().to_string();
        let has_toc = links(&before_first_section)
            .iter()
            .any(|(_, target)| target.starts_with('#'));
        assert!(
            has_toc,
            "{} is over {TOC_OVER_LINES} lines: open it with a table of contents \
             (links to its own sections before the first `## ` heading)",
            path.display()
        );
    }
}

/// The checker itself: a broken file, a broken anchor and a code span that looks like a link.
#[test]
fn the_checker_catches_broken_links() {
    let root = Path::new(ROOT);
    let text = "# Title\n\n## Same `name`\n\n## Same name\n\n\
                [ok](#same-name) [ok too](#same-name-1) [ok file](README.md#microsoft-graph-permissions-application-least-privilege)\n\
                [gone](no-such-file.md) [bad anchor](#nowhere) [bad remote anchor](README.md#nowhere)\n\
                `[not a link](nowhere.md)`\n\
                ```\n[in a block](nowhere-either.md)\n```\n";
    let problems = link_problems(root, Path::new("page.md"), text);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(
        problems[0].contains("no-such-file.md does not exist"),
        "{problems:#?}"
    );
    assert!(problems[1].contains("#nowhere in page.md"), "{problems:#?}");
    assert!(
        problems[2].contains("#nowhere in README.md"),
        "{problems:#?}"
    );
}

#[test]
fn anchors_follow_githubs_rules() {
    let text = "# Faults, crashes and `make soak`\n## Throughput: pacing and batching\n\
                ## The on-premises side: `activeDirectory`\n## Two\n## Two\n## Two\n\
                ```\n## Not a heading\n```\n#not-a-heading\n";
    assert_eq!(
        anchors(text),
        [
            "faults-crashes-and-make-soak",
            "throughput-pacing-and-batching",
            "the-on-premises-side-activedirectory",
            "two",
            "two-1",
            "two-2",
        ]
    );
}
