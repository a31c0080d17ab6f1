//! Hub media: the audio files of `speakers.media_dir` (and its subfolders, to
//! `speakers.media_max_depth`), with their tags, as the contract's media list.
//!
//! A file's `PersistentID` is derived from its path relative to the folder alone (decimal
//! digits of the first 63 bits of its SHA-256), so it stays the same across restarts and
//! whatever happens to other files; renaming or moving the file itself gives it a new one.
//!
//! Every scan walks the folder (names and sizes only) but reads the tags of a file only when
//! it is new or its size or modification time changed, so listing a folder of thousands of
//! files again is quick and always current. At most `speakers.media_max_files` files are
//! listed.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use lofty::config::ParseOptions;
use lofty::file::{AudioFile, TaggedFileExt};
use lofty::probe::Probe;
use lofty::tag::Accessor;
use sha2::{Digest, Sha256};

/// The extensions of the files listed: the formats the decoder plays.
pub const EXTENSIONS: [&str; 5] = ["mp3", "flac", "ogg", "oga", "wav"];

/// One file of the media list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaItem {
    /// Its id: decimal digits, stable while its path in the folder is.
    pub persistent_id: String,
    /// Its title tag, else its file name without the extension.
    pub title: String,
    /// Its artist tag, if it has one.
    pub artist: Option<String>,
    /// Its album tag, if it has one.
    pub album: Option<String>,
    /// Its length in whole seconds (rounded).
    pub duration_secs: u64,
    /// Where it is.
    pub path: PathBuf,
}

/// The limits of a scan.
#[derive(Debug, Clone, Copy)]
pub struct ScanLimits {
    /// The most files listed.
    pub max_files: usize,
    /// How deep into subfolders (0: the folder alone).
    pub max_depth: usize,
}

/// What a file was like when its tags were read.
#[derive(Debug, Clone)]
struct Known {
    size: u64,
    modified: Option<SystemTime>,
    /// Its item, or `None` when its tags could not be read (it is not listed).
    item: Option<MediaItem>,
}

/// The files found so far, by path relative to the folder.
#[derive(Debug, Default)]
struct Cache {
    known: HashMap<PathBuf, Known>,
    /// Tag reads over the cache's life (tests check that rescans read none).
    reads: u64,
    /// Whether the last scan found more files than it may list (warned once).
    cut: bool,
}

/// The hub media folder and what was last read from it. Clones share the cache.
#[derive(Debug, Clone)]
pub struct Library {
    dir: Option<PathBuf>,
    limits: ScanLimits,
    cache: Arc<Mutex<Cache>>,
}

impl Library {
    /// The library of `dir` (`None`: no hub media).
    pub fn new(dir: Option<PathBuf>, limits: ScanLimits) -> Self {
        Self {
            dir,
            limits,
            cache: Arc::default(),
        }
    }

    /// Scans the folder (in a blocking thread) and answers its files in the order of their
    /// paths. A folder that does not exist is an empty list.
    pub async fn scan(&self) -> Vec<MediaItem> {
        let library = self.clone();
        tokio::task::spawn_blocking(move || library.scan_blocking())
            .await
            .unwrap_or_default()
    }

    /// The file with `persistent_id`, scanning the folder for it.
    pub async fn find(&self, persistent_id: &str) -> Option<MediaItem> {
        let id = persistent_id.trim();
        self.scan()
            .await
            .into_iter()
            .find(|item| item.persistent_id == id)
    }

    /// [`Self::scan`], in the caller's thread.
    pub fn scan_blocking(&self) -> Vec<MediaItem> {
        let Some(dir) = &self.dir else {
            return Vec::new();
        };
        let (files, cut) = walk(dir, self.limits);
        let mut cache = self
            .cache
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if cut && !cache.cut {
            tracing::warn!(
                folder = %dir.display(),
                listed = self.limits.max_files,
                "the media folder holds more audio files than speakers.media_max_files: the rest are not listed"
            );
        }
        cache.cut = cut;
        let mut items = Vec::with_capacity(files.len());
        let mut present = HashMap::with_capacity(files.len());
        for (relative, size, modified) in files {
            let known = match cache.known.remove(&relative) {
                Some(known) if known.size == size && known.modified == modified => known,
                _ => {
                    cache.reads += 1;
                    Known {
                        size,
                        modified,
                        item: read_item(dir, &relative),
                    }
                }
            };
            if let Some(item) = &known.item {
                items.push(item.clone());
            }
            present.insert(relative, known);
        }
        // Files gone since the last scan are forgotten.
        cache.known = present;
        items
    }

    /// How many times tags were read.
    #[cfg(test)]
    fn reads(&self) -> u64 {
        self.cache.lock().map(|c| c.reads).unwrap_or(0)
    }
}

/// The id of the file at `relative` (its path in the folder): the first 63 bits of the
/// SHA-256 of the path's bytes (components joined by `/`), as decimal digits.
pub fn persistent_id(relative: &Path) -> String {
    let mut hasher = Sha256::new();
    for (n, component) in relative.components().enumerate() {
        if n > 0 {
            hasher.update(b"/");
        }
        hasher.update(component.as_os_str().as_encoded_bytes());
    }
    let digest = hasher.finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    (u64::from_be_bytes(first) >> 1).to_string()
}

/// A file found: its path relative to the folder, its size and modification time.
type Found = (PathBuf, u64, Option<SystemTime>);

/// The audio files under `dir` as (relative path, size, modification time), sorted by path:
/// the first `limits.max_files` found (each folder's files in name order, then its subfolders),
/// at most `limits.max_depth` folders deep; and whether there were more. Hidden files and
/// folders (a leading `.`) and linked folders are skipped; unreadable folders are skipped.
fn walk(dir: &Path, limits: ScanLimits) -> (Vec<Found>, bool) {
    let mut found = Vec::new();
    // Folders to read, with their depth; read in order so that the cut at max_files is the
    // same every time.
    let mut pending = vec![(PathBuf::new(), 0usize)];
    // One file past the limit tells that there are more.
    'walk: while let Some((relative, depth)) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(dir.join(&relative)) else {
            continue;
        };
        let mut entries: Vec<_> = entries.filter_map(Result::ok).collect();
        entries.sort_by_key(|e| e.file_name());
        let mut subfolders = Vec::new();
        for entry in entries {
            let name = entry.file_name();
            if name.as_encoded_bytes().starts_with(b".") {
                continue;
            }
            let Ok(kind) = entry.file_type() else {
                continue;
            };
            let path = relative.join(&name);
            if kind.is_dir() {
                if depth < limits.max_depth {
                    subfolders.push((path, depth + 1));
                }
                continue;
            }
            if !is_audio(&path) {
                continue;
            }
            // A linked file counts as the file it names.
            let Ok(meta) = std::fs::metadata(dir.join(&path)) else {
                continue;
            };
            if meta.is_file() {
                found.push((path, meta.len(), meta.modified().ok()));
                if found.len() > limits.max_files {
                    break 'walk;
                }
            }
        }
        // Depth first, in name order: the stack takes the last pushed first.
        pending.extend(subfolders.into_iter().rev());
    }
    let cut = found.len() > limits.max_files;
    found.truncate(limits.max_files);
    found.sort_by(|a, b| a.0.cmp(&b.0));
    (found, cut)
}

/// Whether the file's extension is one the decoder plays.
fn is_audio(path: &Path) -> bool {
    path.extension()
        .and_then(|e| e.to_str())
        .is_some_and(|e| EXTENSIONS.iter().any(|x| x.eq_ignore_ascii_case(e)))
}

/// The item of the file at `relative` in `dir`, from its tags; `None` when it cannot be read.
fn read_item(dir: &Path, relative: &Path) -> Option<MediaItem> {
    let path = dir.join(relative);
    let mut options = ParseOptions::new();
    options = options.read_cover_art(false);
    let tagged = Probe::open(&path)
        .and_then(|probe| Ok(probe.options(options).guess_file_type()?))
        .and_then(Probe::read);
    let tagged = match tagged {
        Ok(tagged) => tagged,
        Err(e) => {
            tracing::info!(file = %path.display(), error = %e, "a media file is not listed: its tags cannot be read");
            return None;
        }
    };
    let tag = tagged.primary_tag().or_else(|| tagged.first_tag());
    let text = |value: Option<std::borrow::Cow<'_, str>>| {
        value
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
    };
    let stem = relative
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let duration = tagged.properties().duration();
    Some(MediaItem {
        persistent_id: persistent_id(relative),
        title: text(tag.and_then(|t| t.title())).unwrap_or(stem),
        artist: text(tag.and_then(|t| t.artist())),
        album: text(tag.and_then(|t| t.album())),
        duration_secs: (duration.as_millis() as u64).saturating_add(500) / 1000,
        path,
    })
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::speakers::media::test_files::{sox, tag, wav};

    const LIMITS: ScanLimits = ScanLimits {
        max_files: 100,
        max_depth: 8,
    };

    #[tokio::test]
    async fn audio_files_are_listed_with_their_tags_in_path_order() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("Album/Disc 1")).unwrap();
        wav(&root.join("a.wav"), 44_100, 2.0);
        tag(&root.join("a.wav"), "Morning", "Ana", "Tests");
        sox(&root.join("Album/Disc 1/b.flac"), 3.0);
        tag(&root.join("Album/Disc 1/b.flac"), "Evening", "Bo", "Nights");
        wav(&root.join("untagged.WAV"), 22_050, 1.4);
        wav(&root.join(".hidden.wav"), 8_000, 1.0);
        std::fs::write(root.join("notes.txt"), "not audio").unwrap();
        std::fs::write(root.join("broken.mp3"), "not audio either").unwrap();

        let items = Library::new(Some(root.to_path_buf()), LIMITS).scan().await;
        let seen: Vec<(&str, Option<&str>, Option<&str>, u64)> = items
            .iter()
            .map(|i| {
                (
                    i.title.as_str(),
                    i.artist.as_deref(),
                    i.album.as_deref(),
                    i.duration_secs,
                )
            })
            .collect();
        assert_eq!(
            seen,
            [
                ("Evening", Some("Bo"), Some("Nights"), 3),
                ("Morning", Some("Ana"), Some("Tests"), 2),
                ("untagged", None, None, 1),
            ]
        );
        assert_eq!(items[0].path, root.join("Album/Disc 1/b.flac"));
        for item in &items {
            let id: u64 = item.persistent_id.parse().expect("decimal digits");
            assert!(id < 1 << 63, "{id}");
        }
        assert_eq!(
            items[1].persistent_id,
            persistent_id(Path::new("a.wav")),
            "the id is the relative path's"
        );
    }

    #[test]
    fn ids_depend_on_the_relative_path_alone() {
        // Fixed values: an id must not change between versions or restarts.
        assert_eq!(persistent_id(Path::new("a.wav")), ID_OF_A_WAV);
        assert_eq!(
            persistent_id(Path::new("Album/Disc 1/b.flac")),
            persistent_id(&Path::new("Album").join("Disc 1").join("b.flac"))
        );
        assert_ne!(
            persistent_id(Path::new("a.wav")),
            persistent_id(Path::new("b.wav"))
        );
    }

    /// The id of `a.wav`: the first 63 bits of SHA-256("a.wav").
    const ID_OF_A_WAV: &str = "6780277662805422354";

    #[tokio::test]
    async fn ids_survive_a_restart_and_renaming_other_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        for name in ["one.wav", "two.wav", "three.wav"] {
            wav(&root.join(name), 8_000, 0.5);
        }
        let before = Library::new(Some(root.to_path_buf()), LIMITS).scan().await;
        let id_of = |items: &[MediaItem], title: &str| {
            items
                .iter()
                .find(|i| i.title == title)
                .map(|i| i.persistent_id.clone())
        };
        std::fs::rename(root.join("two.wav"), root.join("zwei.wav")).unwrap();
        std::fs::remove_file(root.join("three.wav")).unwrap();
        // A new library: as after a restart.
        let after = Library::new(Some(root.to_path_buf()), LIMITS).scan().await;
        assert_eq!(after.len(), 2);
        assert_eq!(id_of(&before, "one"), id_of(&after, "one"));
        assert!(id_of(&after, "one").is_some());
        assert_ne!(id_of(&before, "two"), id_of(&after, "zwei"));
        let library = Library::new(Some(root.to_path_buf()), LIMITS);
        let one = id_of(&after, "one").unwrap();
        assert_eq!(
            library.find(&one).await.map(|i| i.title),
            Some("one".into())
        );
        assert_eq!(library.find("12345").await, None);
    }

    #[tokio::test]
    async fn rescans_read_only_changed_files_and_the_list_is_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir(root.join("sub")).unwrap();
        let short = crate::speakers::media::test_files::wav_bytes(8_000, 1, 0.01, 440.0);
        for n in 0..1000 {
            let folder = if n % 2 == 0 { "" } else { "sub" };
            std::fs::write(root.join(folder).join(format!("{n:04}.wav")), &short).unwrap();
        }
        let limits = ScanLimits {
            max_files: 10_000,
            max_depth: 1,
        };
        let library = Library::new(Some(root.to_path_buf()), limits);
        let started = Instant::now();
        assert_eq!(library.scan().await.len(), 1000);
        let first = started.elapsed();
        assert_eq!(library.reads(), 1000);
        let started = Instant::now();
        assert_eq!(library.scan().await.len(), 1000);
        let again = started.elapsed();
        assert_eq!(library.reads(), 1000, "nothing changed: no tags read");
        assert!(
            first < Duration::from_secs(20) && again < Duration::from_secs(2),
            "{first:?} then {again:?}"
        );
        let longer = crate::speakers::media::test_files::wav_bytes(8_000, 1, 0.02, 440.0);
        std::fs::write(root.join("0000.wav"), longer).unwrap();
        std::fs::remove_file(root.join("0002.wav")).unwrap();
        assert_eq!(library.scan().await.len(), 999);
        assert_eq!(library.reads(), 1001, "only the changed file is read again");

        let bounded = |max_files, max_depth| {
            Library::new(
                Some(root.to_path_buf()),
                ScanLimits {
                    max_files,
                    max_depth,
                },
            )
            .scan_blocking()
            .len()
        };
        assert_eq!(bounded(600, 1), 600);
        assert_eq!(bounded(10_000, 0), 499, "the folder alone");
    }

    #[tokio::test]
    async fn no_folder_is_an_empty_list() {
        let none = Library::new(None, LIMITS);
        assert!(none.scan().await.is_empty());
        let missing = Library::new(Some(PathBuf::from("/nonexistent/media")), LIMITS);
        assert!(missing.scan().await.is_empty());
    }
}
