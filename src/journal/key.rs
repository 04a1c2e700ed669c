//! The journal key: 32 random bytes that make every link of the chain an HMAC-SHA256, so
//! whoever can edit the journal but not read the key cannot recompute the chain.
//!
//! The key is never written into the journal. Locally it is a file beside the journal
//! (`<journal>.key`, mode 0600, created when absent) or wherever `--journal-key` says; in a
//! cluster it is a Secret of the journal namespace (see `controller::journal_key`).

use std::path::Path;

use aws_lc_rs::hmac;
use base64::Engine as _;

/// Key length in bytes.
pub const KEY_LEN: usize = 32;

/// A journal key. `Debug` never shows the key.
#[derive(Clone)]
pub struct JournalKey {
    key: std::sync::Arc<hmac::Key>,
    id: String,
}

impl std::fmt::Debug for JournalKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "JournalKey({})", self.id)
    }
}

/// Why a key could not be had.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The key file could not be read or created.
    #[error("journal key {path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The material is not a key.
    #[error(
        "journal key {origin}: not a journal key (expected {KEY_LEN} bytes, raw or base64); restore the key this journal was written with"
    )]
    Malformed {
        /// Where it came from.
        origin: String,
    },
    /// The random generator failed.
    #[error("journal key: the system random generator failed")]
    Random,
}

impl JournalKey {
    /// A new random key.
    pub fn generate() -> Result<Self, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(Self::from_bytes(&bytes))
    }

    /// The key made of exactly these bytes.
    pub fn from_bytes(bytes: &[u8; KEY_LEN]) -> Self {
        let key = hmac::Key::new(hmac::HMAC_SHA256, bytes);
        let id = hex(&hmac::sign(&key, b"entra-cloud-operator journal key id").as_ref()[..8]);
        JournalKey {
            key: std::sync::Arc::new(key),
            id,
        }
    }

    /// Parse `material`: the 32 raw bytes, or their base64 (surrounding whitespace ignored).
    /// `origin` names where it came from, for the error.
    pub fn parse(material: &[u8], origin: &str) -> Result<Self, KeyError> {
        let malformed = || KeyError::Malformed {
            origin: origin.to_string(),
        };
        if let Ok(raw) = <[u8; KEY_LEN]>::try_from(material) {
            return Ok(Self::from_bytes(&raw));
        }
        let text = std::str::from_utf8(material).map_err(|_| malformed())?;
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| malformed())?;
        let raw = <[u8; KEY_LEN]>::try_from(decoded.as_slice()).map_err(|_| malformed())?;
        Ok(Self::from_bytes(&raw))
    }

    /// Random key material as a key file holds it (base64 and a newline).
    fn new_file_material() -> Result<String, KeyError> {
        let mut bytes = [0u8; KEY_LEN];
        aws_lc_rs::rand::fill(&mut bytes).map_err(|_| KeyError::Random)?;
        Ok(format!(
            "{}\n",
            base64::engine::general_purpose::STANDARD.encode(bytes)
        ))
    }

    /// Read the key file at `path`, or, when it does not exist and `create` is true, create it
    /// (mode 0600, never overwriting a file that appears meanwhile) with a new random key.
    pub fn load_or_create_file(path: &Path, create: bool) -> Result<Self, KeyError> {
        let shown = path.display().to_string();
        let io = |source| KeyError::Io {
            path: shown.clone(),
            source,
        };
        match std::fs::read(path) {
            Ok(bytes) => return Self::parse(&bytes, &shown),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && create => {}
            Err(e) => return Err(io(e)),
        }
        let material = Self::new_file_material()?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt as _;
            options.mode(0o600);
        }
        match options.open(path) {
            Ok(mut f) => {
                use std::io::Write as _;
                f.write_all(material.as_bytes()).map_err(io)?;
                f.sync_all().map_err(io)?;
                Self::parse(material.as_bytes(), &shown)
            }
            // Another process created it first: use theirs.
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let bytes = std::fs::read(path).map_err(io)?;
                Self::parse(&bytes, &shown)
            }
            Err(e) => Err(io(e)),
        }
    }

    /// A public fingerprint (a MAC of a constant): names the key in entries and errors
    /// without revealing it, so a wrong key is told apart from an altered journal.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Lowercase hex HMAC-SHA256 over `parts`, each followed by a newline.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> String {
        let mut ctx = hmac::Context::with_key(&self.key);
        for p in parts {
            ctx.update(p);
            ctx.update(b"\n");
        }
        hex(ctx.sign().as_ref())
    }

    /// Whether `tag` is the MAC of `parts` (compared in constant time).
    pub(crate) fn verify(&self, parts: &[&[u8]], tag: &str) -> bool {
        let mut msg = Vec::new();
        for p in parts {
            msg.extend_from_slice(p);
            msg.push(b'\n');
        }
        let Some(tag) = unhex(tag) else { return false };
        hmac::verify(&self.key, &msg, &tag).is_ok()
    }
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| s.get(i..i + 2).and_then(|h| u8::from_str_radix(h, 16).ok()))
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn parses_raw_and_base64_and_refuses_the_rest() {
        let raw = [7u8; KEY_LEN];
        let a = JournalKey::parse(&raw, "t").unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(raw);
        let b = JournalKey::parse(format!(" {b64}\n").as_bytes(), "t").unwrap();
        assert_eq!(a.id(), b.id());
        assert_eq!(a.mac(&[b"x"]), b.mac(&[b"x"]));
        assert!(a.verify(&[b"x"], &a.mac(&[b"x"])));
        assert!(!a.verify(&[b"y"], &a.mac(&[b"x"])));
        let err = JournalKey::parse(b"short", "the file").unwrap_err();
        assert!(err.to_string().contains("the file"), "{err}");
        assert!(
            !format!("{a:?}").contains("0707"),
            "Debug shows only the id"
        );
    }

    #[test]
    fn a_key_file_is_created_once_with_mode_0600() {
        let dir = std::env::temp_dir().join(format!("eco-key-{}", fastrand::u64(..)));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("j.key");
        assert!(JournalKey::load_or_create_file(&p, false).is_err());
        let a = JournalKey::load_or_create_file(&p, true).unwrap();
        let b = JournalKey::load_or_create_file(&p, true).unwrap();
        assert_eq!(a.id(), b.id());
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            let mode = std::fs::metadata(&p).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
