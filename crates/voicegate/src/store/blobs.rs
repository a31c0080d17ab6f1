//! The blob store: large bytes (recordings, voices, trained models) as content-addressed files,
//! `<root>/<first two hex digits>/<sha256 hex>`, beside the database in `data_dir/blobs`.
//!
//! A blob is written to a temporary file in its final directory, synced and renamed into place,
//! so a blob file is either absent or complete; one that exists is never written again.

use std::fmt;
use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::store::io_disk_full;
use crate::store::temporaries::temporary_name;

/// Directory of the blob store inside `data_dir`.
pub const BLOB_DIR: &str = "blobs";

/// A blob's name: the lowercase hex SHA-256 of its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(transparent)]
pub struct BlobId(String);

impl BlobId {
    /// Accepts exactly 64 lowercase hex digits, so an id can never name a path outside the store.
    pub fn parse(text: &str) -> Result<Self, BlobError> {
        let hex = |b: u8| b.is_ascii_digit() || (b'a'..=b'f').contains(&b);
        if text.len() == 64 && text.bytes().all(hex) {
            Ok(Self(text.to_string()))
        } else {
            Err(BlobError::BadId(text.chars().take(80).collect()))
        }
    }

    /// The id of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        let digest = Sha256::digest(bytes);
        let mut hex = String::with_capacity(64);
        for byte in digest {
            hex.push_str(&format!("{byte:02x}"));
        }
        Self(hex)
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for BlobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A blob-store failure.
#[derive(Debug, thiserror::Error)]
pub enum BlobError {
    /// Not 64 lowercase hex digits.
    #[error("not a blob id: {0:?}")]
    BadId(String),
    /// No blob has this id.
    #[error("no blob {0}")]
    NotFound(BlobId),
    /// The file system.
    #[error("blob store: {what}: {source}")]
    Io {
        /// What was being done, with the path.
        what: String,
        /// The OS error.
        source: std::io::Error,
    },
}

impl BlobError {
    /// Whether the failure is the disk being full.
    pub fn is_disk_full(&self) -> bool {
        matches!(self, Self::Io { source, .. } if io_disk_full(source))
    }
}

/// Bytes with their id computed, so that storing them does not hash them again.
#[derive(Debug)]
pub struct Hashed {
    id: BlobId,
    bytes: Vec<u8>,
}

impl Hashed {
    /// Hashes `bytes` (CPU work: on the blocking pool for large buffers).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self {
            id: BlobId::of(&bytes),
            bytes,
        }
    }

    /// The id the bytes will be stored under.
    pub fn id(&self) -> &BlobId {
        &self.id
    }

    /// The number of bytes.
    pub fn size(&self) -> u64 {
        self.bytes.len() as u64
    }
}

async fn run_blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, BlobError> + Send + 'static,
) -> Result<T, BlobError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| BlobError::Io {
            what: "writing a blob".into(),
            source: std::io::Error::other(e),
        })?
}

/// What storing bytes did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Put {
    /// The blob's id.
    pub id: BlobId,
    /// `true` when this call wrote the file, `false` when the same bytes were stored already.
    pub created: bool,
}

/// The blob store rooted at one directory. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Blobs {
    root: PathBuf,
}

impl Blobs {
    /// The store rooted at `root` (usually `data_dir/blobs`); directories are created on the
    /// first write.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Self { root: root.into() }
    }

    /// The file a blob lives in (whether or not it exists).
    pub fn path(&self, id: &BlobId) -> PathBuf {
        self.root.join(&id.0[..2]).join(&id.0)
    }

    /// Stores `bytes` (a slice, or an owned buffer that is then not copied) and answers their id.
    /// Bytes already stored are not written again. Hashing, writing and syncing run on the
    /// blocking pool.
    pub async fn put(&self, bytes: impl Into<Vec<u8>>) -> Result<BlobId, BlobError> {
        let bytes = bytes.into();
        let root = self.clone();
        run_blocking(move || root.write(Hashed::new(bytes)).map(|put| put.id)).await
    }

    /// Stores bytes already hashed (on the blocking pool with other work) and answers their id
    /// and whether this call wrote the file, so that a caller whose row is then not committed
    /// can take back a file nobody else stored.
    pub async fn put_hashed(&self, hashed: Hashed) -> Result<Put, BlobError> {
        let root = self.clone();
        run_blocking(move || root.write(hashed)).await
    }

    fn write(&self, hashed: Hashed) -> Result<Put, BlobError> {
        let created = write_new(&self.path(&hashed.id), &hashed.bytes)?;
        Ok(Put {
            id: hashed.id,
            created,
        })
    }

    /// Deletes the blob's file; one already gone is not an error.
    pub async fn remove(&self, id: &BlobId) -> Result<(), BlobError> {
        let path = self.path(id);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(source) => Err(BlobError::Io {
                what: format!("removing {}", path.display()),
                source,
            }),
        }
    }

    /// The blob's size in bytes; `None` when it is not stored.
    pub async fn size(&self, id: &BlobId) -> Result<Option<u64>, BlobError> {
        let path = self.path(id);
        match tokio::fs::metadata(&path).await {
            Ok(meta) => Ok(Some(meta.len())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(source) => Err(BlobError::Io {
                what: format!("measuring {}", path.display()),
                source,
            }),
        }
    }

    /// The blob's bytes.
    pub async fn read(&self, id: &BlobId) -> Result<Vec<u8>, BlobError> {
        let path = self.path(id);
        tokio::fs::read(&path).await.map_err(|source| {
            if source.kind() == std::io::ErrorKind::NotFound {
                BlobError::NotFound(id.clone())
            } else {
                BlobError::Io {
                    what: format!("reading {}", path.display()),
                    source,
                }
            }
        })
    }

    /// Whether the blob is stored.
    pub async fn exists(&self, id: &BlobId) -> Result<bool, BlobError> {
        let path = self.path(id);
        tokio::fs::try_exists(&path)
            .await
            .map_err(|source| BlobError::Io {
                what: format!("looking for {}", path.display()),
                source,
            })
    }
}

/// Writes `bytes` to `path` unless it exists: temporary file in the same directory, fsync,
/// rename, fsync of the directory. Answers whether it wrote the file; a file it renamed into
/// place but could not make durable is taken back.
fn write_new(path: &Path, bytes: &[u8]) -> Result<bool, BlobError> {
    let io = |what: &str, path: &Path| {
        let what = format!("{what} {}", path.display());
        move |source| BlobError::Io { what, source }
    };
    if path.exists() {
        return Ok(false);
    }
    let dir = path.parent().expect("a blob path has a directory");
    fs::create_dir_all(dir).map_err(io("creating", dir))?;
    let temporary = dir.join(temporary_name());
    let written = (|| {
        let mut file = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temporary)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&temporary, path)
    })();
    if written.is_err() {
        let _ = fs::remove_file(&temporary);
    }
    written.map_err(io("writing", path))?;
    // The rename is durable once the directory entry is.
    let synced = fs::File::open(dir).and_then(|d| d.sync_all());
    if synced.is_err() {
        let _ = fs::remove_file(path);
    }
    synced.map_err(io("syncing", dir)).map(|()| true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names = Vec::new();
        for entry in fs::read_dir(dir).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name().into_string().unwrap();
            if entry.file_type().unwrap().is_dir() {
                names.extend(
                    entries(&entry.path())
                        .into_iter()
                        .map(|n| format!("{name}/{n}")),
                );
            } else {
                names.push(name);
            }
        }
        names.sort();
        names
    }

    #[tokio::test]
    async fn bytes_round_trip_under_their_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path().join(BLOB_DIR));
        let id = blobs.put(b"abc").await.unwrap();
        // SHA-256("abc"), FIPS 180-2 example.
        assert_eq!(
            id.as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            blobs.path(&id),
            dir.path().join("blobs/ba").join(id.as_str())
        );
        assert_eq!(blobs.read(&id).await.unwrap(), b"abc");
        assert!(blobs.exists(&id).await.unwrap());
        assert_eq!(blobs.size(&id).await.unwrap(), Some(3));
        let absent = BlobId::of(b"never stored");
        assert!(!blobs.exists(&absent).await.unwrap());
        assert_eq!(blobs.size(&absent).await.unwrap(), None);
        let hashed = Hashed::new(b"hashed first".to_vec());
        let expected = hashed.id().clone();
        let put = blobs.put_hashed(hashed).await.unwrap();
        assert_eq!((&put.id, put.created), (&expected, true));
        assert_eq!(blobs.read(&expected).await.unwrap(), b"hashed first");
        let again = blobs
            .put_hashed(Hashed::new(b"hashed first".to_vec()))
            .await
            .unwrap();
        assert_eq!((&again.id, again.created), (&expected, false));
        blobs.remove(&expected).await.unwrap();
        assert!(!blobs.exists(&expected).await.unwrap());
        blobs.remove(&expected).await.unwrap();
        assert!(matches!(
            blobs.read(&absent).await,
            Err(BlobError::NotFound(_))
        ));
    }

    #[tokio::test]
    async fn the_same_bytes_are_stored_once_and_not_rewritten() {
        let dir = tempfile::tempdir().unwrap();
        let blobs = Blobs::new(dir.path());
        let first = blobs.put(b"same bytes").await.unwrap();
        let inode = fs::metadata(blobs.path(&first)).unwrap().ino();
        blobs.put(b"same bytes").await.unwrap();
        assert_eq!(fs::metadata(blobs.path(&first)).unwrap().ino(), inode);
        let other = blobs.put(b"other bytes").await.unwrap();
        assert_ne!(first, other);
        // Only the blobs themselves: no temporary file is left behind.
        let mut expected = vec![
            format!("{}/{}", &first.as_str()[..2], first),
            format!("{}/{}", &other.as_str()[..2], other),
        ];
        expected.sort();
        assert_eq!(entries(dir.path()), expected);
    }

    #[test]
    fn only_64_lowercase_hex_digits_are_ids() {
        let good = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(BlobId::parse(good).unwrap().as_str(), good);
        for bad in [
            "",
            "ba",
            &good[..63],
            &format!("{good}0"),
            &good.to_uppercase(),
            &format!("../{}", &good[3..]),
            &format!("{}/{}", &good[..2], &good[3..]),
            &format!("{}g", &good[..63]),
            &format!("{}\0", &good[..63]),
            "../../../../../../../../../../../../../../../../../../etc/passwd.",
        ] {
            assert!(
                matches!(BlobId::parse(bad), Err(BlobError::BadId(_))),
                "{bad:?}"
            );
        }
    }
}
