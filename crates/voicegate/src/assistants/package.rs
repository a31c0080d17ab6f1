//! The assistant download: a zip archive of stored (uncompressed) entries, each with its CRC-32,
//! enough for every unzip tool and Python's `zipfile`.

/// One file of the archive.
#[derive(Debug)]
pub struct Entry<'a> {
    /// Its name in the archive.
    pub name: &'a str,
    /// Its bytes.
    pub bytes: &'a [u8],
}

/// The bytes of a zip archive holding `entries`, stored, dated 1980-01-01 (the same files give
/// the same archive). Sizes over 4 GiB are refused (no ZIP64).
pub fn zip(entries: &[Entry<'_>]) -> Result<Vec<u8>, String> {
    let mut out = Vec::new();
    let mut central = Vec::new();
    let small = |n: usize, what: &str| {
        u32::try_from(n).map_err(|_| format!("{what} is too large for a zip archive"))
    };
    let count = u16::try_from(entries.len()).map_err(|_| "too many files".to_string())?;
    for entry in entries {
        let crc = crc32fast::hash(entry.bytes);
        let size = small(entry.bytes.len(), entry.name)?;
        let name_len = u16::try_from(entry.name.len()).map_err(|_| "a file name is too long")?;
        let offset = small(out.len(), "the archive")?;
        // Local file header: version 2.0, UTF-8 names (bit 11), stored, DOS time 0, date
        // 1980-01-01.
        let common = |buf: &mut Vec<u8>| {
            buf.extend_from_slice(&20u16.to_le_bytes());
            buf.extend_from_slice(&0x0800u16.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
            buf.extend_from_slice(&0x0021u16.to_le_bytes());
            buf.extend_from_slice(&crc.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&size.to_le_bytes());
            buf.extend_from_slice(&name_len.to_le_bytes());
            buf.extend_from_slice(&0u16.to_le_bytes());
        };
        out.extend_from_slice(&0x0403_4b50u32.to_le_bytes());
        common(&mut out);
        out.extend_from_slice(entry.name.as_bytes());
        out.extend_from_slice(entry.bytes);
        // Central directory header: made by version 2.0 (Unix), then the same fields.
        central.extend_from_slice(&0x0201_4b50u32.to_le_bytes());
        central.extend_from_slice(&0x0314u16.to_le_bytes());
        common(&mut central);
        central.extend_from_slice(&0u16.to_le_bytes()); // comment length
        central.extend_from_slice(&0u16.to_le_bytes()); // disk number
        central.extend_from_slice(&0u16.to_le_bytes()); // internal attributes
        central.extend_from_slice(&(0o100_644u32 << 16).to_le_bytes()); // -rw-r--r--
        central.extend_from_slice(&offset.to_le_bytes());
        central.extend_from_slice(entry.name.as_bytes());
    }
    let central_offset = small(out.len(), "the archive")?;
    let central_size = small(central.len(), "the central directory")?;
    out.extend_from_slice(&central);
    out.extend_from_slice(&0x0605_4b50u32.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&central_size.to_le_bytes());
    out.extend_from_slice(&central_offset.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_archive_is_laid_out_as_zip_says() {
        let archive = zip(&[
            Entry {
                name: "a.json",
                bytes: b"{}",
            },
            Entry {
                name: "b.bin",
                bytes: b"\x00\x01",
            },
        ])
        .unwrap();
        assert_eq!(&archive[..4], b"PK\x03\x04");
        // The local header's CRC-32 of "{}".
        assert_eq!(&archive[14..18], &crc32fast::hash(b"{}").to_le_bytes());
        let end = &archive[archive.len() - 22..];
        assert_eq!(&end[..4], b"PK\x05\x06");
        assert_eq!(u16::from_le_bytes([end[10], end[11]]), 2);
        let central = u32::from_le_bytes([end[16], end[17], end[18], end[19]]) as usize;
        assert_eq!(&archive[central..central + 4], b"PK\x01\x02");
    }
}
