//! Reading files named on the command line, bounded: a file is read through a reader that stops
//! one byte past a cap, so `/dev/zero`, a FIFO fed forever or a runaway file ends with an
//! error naming the file and the cap instead of exhausting memory. A directory where a file is
//! expected is refused with the same kind of error.

use std::io::Read as _;
use std::path::Path;

/// The most a manifest, tenant file or other input file may hold: 8 MiB (a tenant dump of
/// tens of thousands of users fits; manifests are kilobytes).
pub const MAX_FILE_BYTES: u64 = 8 * 1024 * 1024;

/// A file named on the command line that could not be used.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("cannot read {path}")]
    Read {
        /// The path.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A directory where a file is expected.
    #[error("{path} is a directory; give a file")]
    Directory {
        /// The path.
        path: String,
    },
    /// Longer than the cap.
    #[error(
        "{path} is larger than {cap} bytes, the most this tool reads from one file; split it or give a smaller file"
    )]
    TooLarge {
        /// The path.
        path: String,
        /// The cap, in bytes.
        cap: u64,
    },
    /// Not UTF-8 text (a binary file, say).
    #[error("{path} is not UTF-8 text; give a YAML, JSON or PEM text file")]
    NotText {
        /// The path.
        path: String,
    },
}

/// The bytes of `path`, at most `cap` of them (more is [`InputError::TooLarge`]).
pub fn read_bounded(path: &Path, cap: u64) -> Result<Vec<u8>, InputError> {
    let shown = || path.display().to_string();
    let read_err = |source| InputError::Read {
        path: shown(),
        source,
    };
    let file = std::fs::File::open(path).map_err(read_err)?;
    if file.metadata().map_err(read_err)?.is_dir() {
        return Err(InputError::Directory { path: shown() });
    }
    let mut bytes = Vec::new();
    // One byte past the cap tells "exactly the cap" from "more".
    file.take(cap.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|source| match source.raw_os_error() {
            // EISDIR: some platforms only say so on read.
            Some(21) => InputError::Directory { path: shown() },
            _ => read_err(source),
        })?;
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > cap {
        return Err(InputError::TooLarge { path: shown(), cap });
    }
    Ok(bytes)
}

/// The text of `path`, at most `cap` bytes of UTF-8.
pub fn read_text(path: &Path, cap: u64) -> Result<String, InputError> {
    String::from_utf8(read_bounded(path, cap)?).map_err(|_| InputError::NotText {
        path: path.display().to_string(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn caps_endless_and_refuses_directories_and_binaries() {
        let e = read_text(Path::new("/dev/zero"), 1024).unwrap_err();
        assert!(matches!(e, InputError::TooLarge { cap: 1024, .. }), "{e:?}");
        assert!(
            e.to_string()
                .contains("/dev/zero is larger than 1024 bytes")
        );
        let dir = std::env::temp_dir();
        let e = read_text(&dir, 1024).unwrap_err();
        assert!(matches!(e, InputError::Directory { .. }), "{e:?}");
        let bin = dir.join(format!(
            "eco-input-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        std::fs::write(&bin, [0xff, 0xfe, 0x00]).unwrap();
        assert!(matches!(
            read_text(&bin, 1024),
            Err(InputError::NotText { .. })
        ));
        std::fs::write(&bin, "x".repeat(1024)).unwrap();
        assert_eq!(read_text(&bin, 1024).unwrap().len(), 1024);
        std::fs::remove_file(&bin).unwrap();
        let e = read_text(&dir.join("eco-input-missing-file"), 1024).unwrap_err();
        assert!(e.to_string().contains("eco-input-missing-file"), "{e}");
    }

    #[test]
    fn a_fifo_fed_forever_is_cut_at_the_cap() {
        let fifo = std::env::temp_dir().join(format!(
            "eco-input-fifo-{}-{}",
            std::process::id(),
            fastrand::u64(..)
        ));
        let made = std::process::Command::new("mkfifo").arg(&fifo).status();
        if !made.is_ok_and(|s| s.success()) {
            eprintln!("skipped: mkfifo is not available");
            return;
        }
        let path = fifo.clone();
        // Writes until the reader goes away (EPIPE: Rust ignores SIGPIPE).
        let writer = std::thread::spawn(move || {
            let mut w = std::fs::OpenOptions::new().write(true).open(path).unwrap();
            let chunk = [b'a'; 4096];
            while std::io::Write::write_all(&mut w, &chunk).is_ok() {}
        });
        let e = read_text(&fifo, 64 * 1024).unwrap_err();
        assert!(
            matches!(e, InputError::TooLarge { cap: 65536, .. }),
            "{e:?}"
        );
        writer.join().unwrap();
        std::fs::remove_file(&fifo).unwrap();
    }
}
