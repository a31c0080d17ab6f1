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
    pub signature: Vec<u8>,
    /// The client's nonce.
    pub nonce: String,
    /// The timestamp as sent.
    pub timestamp: String,
}

/// Whether an `Authorization` value is a signature header (rather than `Bearer …`).
pub fn is_signature_header(value: &str) -> bool {
    value.trim_start().starts_with("signature=")
}

/// Parses `signature=<hex>, nonce=<nonce>, timestamp=<ts>` (in any order).
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
        if slot.replace(content.trim().to_string()).is_some() {
            return None;
        }
    }
    let signature = decode_hex(&signature?)?;
    let (nonce, timestamp) = (nonce?, timestamp?);
    if nonce.is_empty() || nonce.len() > 128 || timestamp.len() > 40 {
        return None;
    }
    Some(SignatureHeader {
        signature,
        nonce,
        timestamp,
    })
}

fn decode_hex(text: &str) -> Option<Vec<u8>> {
    if text.len() != 64 {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Lowercase hex of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        text.push(char::from(DIGITS[usize::from(byte >> 4)]));
        text.push(char::from(DIGITS[usize::from(byte & 0x0f)]));
    }
    text
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
    let body_digest = hex(&Sha256::digest(body));
    let data = format!("{method}\n{path}\n{query}\n{nonce}\n{body_digest}\n{timestamp}");
    hex(&Sha256::digest(data.as_bytes()))
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
