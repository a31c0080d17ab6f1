//! HMAC-signed requests, the VocaliD scheme exactly: `Authorization: signature=<hex>,
//! nonce=<nonce>, timestamp=<ISO 8601>`, where the signature is hex HMAC-SHA256(secret, hex
//! SHA-256 of "METHOD\nPATH\nQUERY-AS-SENT\nNONCE\nhex SHA-256(raw body)\nTIMESTAMP"), and the key is
//! named by the request's `api_key` parameter.

use hmac::{KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::clock::UnixTime;

/// Prefix of public API key ids.
pub const KEY_PREFIX: &str = "vgk_";

/// How far a request's timestamp may be from the server's clock, in seconds.
pub const WINDOW_SECS: i64 = 300;

/// The parts of a signed request's `Authorization` header.
#[derive(Debug, PartialEq, Eq)]
pub struct SignatureHeader {
    /// The signature, decoded from hex.
    pub signature: [u8; 32],
    /// The client's nonce.
    pub nonce: String,
    /// The timestamp as sent.
    pub timestamp: String,
}

/// Whether an `Authorization` value is a signature header (rather than `Bearer …`).
pub fn is_signature_header(value: &str) -> bool {
    value.trim_start().starts_with("signature=")
}

/// Parses `signature=<hex>, nonce=<nonce>, timestamp=<ISO 8601>` (any order, each part once).
pub fn parse_header(value: &str) -> Option<SignatureHeader> {
    let (mut signature, mut nonce, mut timestamp) = (None, None, None);
    for part in value.split(',') {
        let (name, content) = part.trim().split_once('=')?;
        let slot = match name.trim() {
            "signature" => &mut signature,
            "nonce" => &mut nonce,
            "timestamp" => &mut timestamp,
            _ => return None,
        };
        if slot.replace(content.trim()).is_some() {
            return None;
        }
    }
    let signature = decode_hex(signature?)?;
    let (nonce, timestamp) = (nonce?, timestamp?);
    if nonce.is_empty() || nonce.len() > 128 || timestamp.len() > 40 {
        return None;
    }
    Some(SignatureHeader {
        signature,
        nonce: nonce.to_string(),
        timestamp: timestamp.to_string(),
    })
}

fn decode_hex(text: &str) -> Option<[u8; 32]> {
    fn digit(c: u8) -> Option<u8> {
        match c {
            b'0'..=b'9' => Some(c - b'0'),
            b'a'..=b'f' => Some(c - b'a' + 10),
            b'A'..=b'F' => Some(c - b'A' + 10),
            _ => None,
        }
    }
    let text = text.as_bytes();
    if text.len() != 64 {
        return None;
    }
    let mut bytes = [0u8; 32];
    for (byte, pair) in bytes.iter_mut().zip(text.chunks_exact(2)) {
        *byte = digit(pair[0])? << 4 | digit(pair[1])?;
    }
    Some(bytes)
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    let mut text = vec![0u8; bytes.len() * 2];
    hex_into(bytes, &mut text);
    String::from_utf8(text).expect("hex digits are ASCII")
}

/// Writes the lowercase hex of `bytes` into `out`, which holds twice as many bytes.
fn hex_into(bytes: &[u8], out: &mut [u8]) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for (byte, pair) in bytes.iter().zip(out.chunks_exact_mut(2)) {
        pair[0] = DIGITS[usize::from(byte >> 4)];
        pair[1] = DIGITS[usize::from(byte & 0x0f)];
    }
}

/// Parses an ISO 8601 UTC timestamp, with or without `Z` (or `+00:00`) and fractional seconds,
/// as Unix seconds.
pub fn parse_timestamp(text: &str) -> Option<UnixTime> {
    let text = text
        .strip_suffix('Z')
        .or_else(|| text.strip_suffix("+00:00"))
        .unwrap_or(text);
    let (date, time) = text.split_once('T')?;
    let mut date_parts = date.split('-');
    let year: i64 = date_parts.next()?.parse().ok()?;
    let month: i64 = date_parts.next()?.parse().ok()?;
    let day: i64 = date_parts.next()?.parse().ok()?;
    let time = time.split_once('.').map_or(time, |(whole, fraction)| {
        if fraction.chars().all(|c| c.is_ascii_digit()) {
            whole
        } else {
            ""
        }
    });
    let mut time_parts = time.split(':');
    let hour: i64 = time_parts.next()?.parse().ok()?;
    let minute: i64 = time_parts.next()?.parse().ok()?;
    let second: i64 = time_parts.next()?.parse().ok()?;
    // Years 1 to 9999 only, as RFC 3339 has them: every sum below then stays far from overflow.
    let valid = date_parts.next().is_none()
        && time_parts.next().is_none()
        && (1..=9999).contains(&year)
        && (1..=12).contains(&month)
        && (1..=31).contains(&day)
        && (0..24).contains(&hour)
        && (0..60).contains(&minute)
        && (0..=60).contains(&second);
    if !valid {
        return None;
    }
    // Days from the civil date (Howard Hinnant's algorithm).
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * (month + if month > 2 { -3 } else { 9 }) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3600 + minute * 60 + second)
}

/// The hex SHA-256 of the string the signature covers.
pub fn digest_to_sign(
    method: &str,
    path: &str,
    query: &str,
    nonce: &str,
    body: &[u8],
    timestamp: &str,
) -> String {
    let mut data = Sha256::new();
    for part in [method, path, query, nonce] {
        data.update(part.as_bytes());
        data.update(b"\n");
    }
    let mut body_digest = [0u8; 64];
    hex_into(&Sha256::digest(body), &mut body_digest);
    data.update(body_digest);
    data.update(b"\n");
    data.update(timestamp.as_bytes());
    hex(&data.finalize())
}

/// The stored form of an API secret: its SHA-256. The secrets voicegate makes are longer than
/// HMAC-SHA256's 64-byte block, and HMAC keys with the SHA-256 of such a key, so this is the very
/// key HMAC uses.
pub fn secret_hash(secret: &str) -> [u8; 32] {
    Sha256::digest(secret.as_bytes()).into()
}

/// Checks `signature` against the digest, keyed with the secret's hash, in constant time.
pub fn signature_matches(secret_hash: &[u8; 32], digest_hex: &str, signature: &[u8]) -> bool {
    let mut mac =
        <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret_hash).expect("any key length");
    mac.update(digest_hex.as_bytes());
    mac.verify_slice(signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_with_and_without_zone_and_fraction() {
        assert_eq!(parse_timestamp("1970-01-01T00:00:00"), Some(0));
        assert_eq!(
            parse_timestamp("2026-11-25T15:53:10.123456"),
            Some(1_795_621_990)
        );
        assert_eq!(parse_timestamp("2026-11-25T15:53:10Z"), Some(1_795_621_990));
        assert_eq!(
            parse_timestamp("2026-11-25T15:53:10.5+00:00"),
            Some(1_795_621_990)
        );
        assert_eq!(parse_timestamp("2024-02-29T12:00:00"), Some(1_709_208_000));
        for bad in [
            "2026-13-01T00:00:00",
            "2026-11-25 15:53:10",
            "yesterday",
            "2026-11-25T15:53",
            "2026-11-25T15:53:10.x",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad}");
        }
    }

    #[test]
    fn headers_parse_in_any_order_and_junk_is_refused() {
        let sig = "ab".repeat(32);
        let parsed = parse_header(&format!(
            "nonce=n1, timestamp=2026-01-01T00:00:00, signature={sig}"
        ))
        .unwrap();
        assert_eq!((parsed.nonce.as_str(), parsed.signature.len()), ("n1", 32));
        assert!(parse_header(&format!("signature={sig}, nonce=n1")).is_none());
        assert!(parse_header("signature=zz, nonce=n1, timestamp=t").is_none());
        assert!(parse_header(&format!("signature={sig}, nonce=a, nonce=b, timestamp=t")).is_none());
        let upper = parse_header(&format!(
            "signature={}, nonce=n, timestamp=t",
            "AB".repeat(32)
        ));
        assert_eq!(upper.unwrap().signature, [0xab; 32]);
        let signed = format!("signature=+{}, nonce=n, timestamp=t", "a".repeat(63));
        assert!(parse_header(&signed).is_none(), "a sign is not a hex digit");
    }

    #[test]
    fn the_signed_string_is_the_documented_one() {
        let body_digest = hex(&Sha256::digest(b"{}"));
        let expected = format!("POST\n/p\na=1\nn1\n{body_digest}\n2026-01-01T00:00:00Z");
        assert_eq!(
            digest_to_sign("POST", "/p", "a=1", "n1", b"{}", "2026-01-01T00:00:00Z"),
            hex(&Sha256::digest(expected.as_bytes()))
        );
    }

    #[test]
    fn a_hashed_long_secret_keys_hmac_like_the_secret_itself() {
        let secret = "s".repeat(86);
        let mut direct =
            <hmac::Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).unwrap();
        direct.update(b"digest");
        let signature = direct.finalize().into_bytes();
        assert!(signature_matches(
            &secret_hash(&secret),
            "digest",
            &signature
        ));
    }

    /// Any year, month, day and time of day, well-formed or not: parsing never overflows, and a
    /// time it accepts lies between years 1 and 9999.
    #[test]
    fn any_timestamp_parses_without_overflow() {
        let years = [
            "0",
            "1",
            "1969",
            "1970",
            "2026",
            "9999",
            "10000",
            "-1",
            "-9999999",
            "9223372036854775807",
            "9223372036854775808",
            "-9223372036854775808",
            "1000000000000000000",
            "0000000000000000002026",
        ];
        let numbers = [
            "0",
            "1",
            "2",
            "12",
            "13",
            "28",
            "31",
            "59",
            "60",
            "61",
            "-1",
            "99999999999",
        ];
        let mut seen = 0;
        for year in years {
            for (i, month) in numbers.iter().enumerate() {
                let day = numbers[(i + 3) % numbers.len()];
                for second in ["00", "60", "59.999", "5x"] {
                    let text = format!("{year}-{month}-{day}T23:{}:{second}Z", numbers[i % 6]);
                    if let Some(at) = parse_timestamp(&text) {
                        assert!(
                            (-62_135_596_800..=253_402_300_800).contains(&at),
                            "{text} gave {at}"
                        );
                    }
                    seen += 1;
                }
            }
        }
        assert!(seen > 500);
        // Random bytes too.
        for _ in 0..2000 {
            let bytes = crate::ids::random_bytes::<24>();
            let text: String = bytes
                .iter()
                .map(|b| char::from(b"0123456789-:TZ.+"[usize::from(b % 16)]))
                .collect();
            let _ = parse_timestamp(&text);
        }
        assert_eq!(parse_timestamp("2026-12-01T22:48:39Z"), Some(1_796_165_319));
    }
}
