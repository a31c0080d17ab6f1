//! Where the server may connect on a client's behalf: which addresses are public, and the
//! allowlist of private destinations an administrator permits (`voices.put_url_allow`).
//!
//! A client-given URL must not turn the server into a proxy into its own network: outbound
//! connections go only to public addresses unless the allowlist names the host or a block that
//! holds the address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An allowlist entry that is neither a host name, an address nor a CIDR block.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a host name, address or CIDR block: {reason}")]
pub struct AllowEntryError {
    /// The entry.
    pub entry: String,
    /// What is wrong with it.
    pub reason: String,
}

/// An address block, `addr/prefix`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX
                    .checked_shl(32 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u32::from(net) ^ u32::from(ip)) & mask == 0
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX
                    .checked_shl(128 - u32::from(self.prefix))
                    .unwrap_or(0);
                (u128::from(net) ^ u128::from(ip)) & mask == 0
            }
            _ => false,
        }
    }
}

/// Destinations permitted although they are not public (`voices.put_url_allow`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    hosts: Vec<String>,
    blocks: Vec<Cidr>,
}

impl Allowlist {
    /// Reads the entries: host names (`minio.lan`, matched exactly, case-insensitively),
    /// addresses (`10.0.0.5`, `fd00::5`) and CIDR blocks (`127.0.0.1/32`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<Self, AllowEntryError> {
        let mut list = Self::default();
        for entry in entries {
            let bad = |reason: &str| AllowEntryError {
                entry: entry.clone(),
                reason: reason.into(),
            };
            let text = entry.trim();
            if let Some((addr, prefix)) = text.split_once('/') {
                let addr: IpAddr = addr.parse().map_err(|_| bad("not an IP address"))?;
                let most = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|p| *p <= most)
                    .ok_or_else(|| bad(&format!("the prefix length must be 0 to {most}")))?;
                list.blocks.push(Cidr { addr, prefix });
            } else if let Ok(addr) = text.trim_matches(['[', ']']).parse::<IpAddr>() {
                let prefix = if addr.is_ipv4() { 32 } else { 128 };
                list.blocks.push(Cidr { addr, prefix });
            } else {
                let host = text.trim_end_matches('.').to_ascii_lowercase();
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
                if host.is_empty() || !host.chars().all(valid) || host.starts_with('.') {
                    return Err(bad("host names are letters, digits, '.', '-' and '_'"));
                }
                list.hosts.push(host);
            }
        }
        Ok(list)
    }

    /// Whether the host name is listed.
    pub fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a listed block holds the address (an IPv4-mapped IPv6 address also as IPv4).
    pub fn allows_addr(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.blocks
            .iter()
            .any(|block| block.contains(ip) || block.contains(canonical))
    }
}

/// What kind of non-public address `ip` is, or `None` for a public one. IPv4-mapped and NAT64
/// (`64:ff9b::/96`) addresses are judged by the IPv4 address they carry.
pub fn refused_range(ip: IpAddr) -> Option<&'static str> {
    match ip {
        IpAddr::V4(v4) => refused_v4(v4),
        IpAddr::V6(v6) => refused_v6(v6),
    }
}

fn refused_v4(ip: Ipv4Addr) -> Option<&'static str> {
    const RANGES: &[([u8; 4], u8, &str)] = &[
        ([0, 0, 0, 0], 8, "unspecified (0.0.0.0/8)"),
        ([10, 0, 0, 0], 8, "private (RFC 1918)"),
        (
            [100, 64, 0, 0],
            10,
            "shared address space (CGNAT, 100.64.0.0/10)",
        ),
        ([127, 0, 0, 0], 8, "loopback"),
        ([169, 254, 0, 0], 16, "link-local"),
        ([172, 16, 0, 0], 12, "private (RFC 1918)"),
        (
            [192, 0, 0, 0],
            24,
            "reserved for IETF protocols (192.0.0.0/24)",
        ),
        ([192, 0, 2, 0], 24, "documentation (TEST-NET-1)"),
        ([192, 168, 0, 0], 16, "private (RFC 1918)"),
        ([198, 18, 0, 0], 15, "benchmarking (198.18.0.0/15)"),
        ([198, 51, 100, 0], 24, "documentation (TEST-NET-2)"),
        ([203, 0, 113, 0], 24, "documentation (TEST-NET-3)"),
        ([224, 0, 0, 0], 4, "multicast"),
        ([255, 255, 255, 255], 32, "broadcast"),
        ([240, 0, 0, 0], 4, "reserved (240.0.0.0/4)"),
    ];
    RANGES.iter().find_map(|(net, prefix, name)| {
        let block = Cidr {
            addr: IpAddr::from(*net),
            prefix: *prefix,
        };
        block.contains(IpAddr::V4(ip)).then_some(*name)
    })
}

fn refused_v6(ip: Ipv6Addr) -> Option<&'static str> {
    if let Some(v4) = ip.to_ipv4_mapped() {
        return refused_v4(v4);
    }
    let bits = u128::from(ip);
    let within = |net: u128, prefix: u32| (bits ^ net) >> (128 - prefix) == 0;
    if within(0x0064_ff9b << 96, 96) {
        return refused_v4(Ipv4Addr::from(bits as u32));
    }
    if ip.is_unspecified() {
        Some("unspecified")
    } else if ip.is_loopback() {
        Some("loopback")
    } else if within(0, 96) {
        Some("IPv4-compatible (deprecated, ::/96)")
    } else if within(0x0100 << 112, 64) {
        Some("discard-only (100::/64)")
    } else if within(0x2001_0db8 << 96, 32) {
        Some("documentation (2001:db8::/32)")
    } else if within(0xfc00 << 112, 7) {
        Some("unique local (fc00::/7)")
    } else if within(0xfe80 << 112, 10) {
        Some("link-local (fe80::/10)")
    } else if within(0xfec0 << 112, 10) {
        Some("site-local (deprecated, fec0::/10)")
    } else if within(0xff00 << 112, 8) {
        Some("multicast")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_are_classified() {
        let refused = [
            ("0.0.0.0", "unspecified"),
            ("0.1.2.3", "unspecified"),
            ("127.0.0.1", "loopback"),
            ("127.255.255.254", "loopback"),
            ("10.1.2.3", "private"),
            ("172.16.0.1", "private"),
            ("172.31.255.255", "private"),
            ("192.168.1.10", "private"),
            ("169.254.169.254", "link-local"),
            ("100.64.0.1", "CGNAT"),
            ("100.127.255.255", "CGNAT"),
            ("224.0.0.251", "multicast"),
            ("239.255.255.250", "multicast"),
            ("255.255.255.255", "broadcast"),
            ("240.0.0.1", "reserved"),
            ("192.0.0.8", "IETF"),
            ("192.0.2.1", "documentation"),
            ("198.51.100.7", "documentation"),
            ("203.0.113.9", "documentation"),
            ("198.18.0.1", "benchmarking"),
            ("::", "unspecified"),
            ("::1", "loopback"),
            ("fc00::1", "unique local"),
            ("fd12:3456::1", "unique local"),
            ("fe80::1", "link-local"),
            ("febf::1", "link-local"),
            ("fec0::1", "site-local"),
            ("ff02::1", "multicast"),
            ("2001:db8::1", "documentation"),
            ("100::1", "discard-only"),
            ("::7f00:1", "IPv4-compatible"),
            ("::ffff:127.0.0.1", "loopback"),
            ("::ffff:10.0.0.1", "private"),
            ("::ffff:169.254.169.254", "link-local"),
            ("::ffff:100.64.0.1", "CGNAT"),
            ("::ffff:0.0.0.0", "unspecified"),
            ("64:ff9b::a9fe:a9fe", "link-local"),
            ("64:ff9b::7f00:1", "loopback"),
        ];
        for (addr, expected) in refused {
            let ip: IpAddr = addr.parse().unwrap();
            let range = refused_range(ip);
            assert!(
                range.is_some_and(|r| r.contains(expected)),
                "{addr}: {range:?}, expected {expected}"
            );
        }
        for addr in [
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.169.0.1",
            "223.255.255.255",
            "2606:4700:4700::1111",
            "2a00:1450:4001:80b::200e",
            "::ffff:8.8.8.8",
            "64:ff9b::808:808",
            "fbff::1",
            "fe7f::1",
        ] {
            let ip: IpAddr = addr.parse().unwrap();
            assert_eq!(refused_range(ip), None, "{addr}");
        }
    }

    #[test]
    fn allowlist_entries_are_hosts_addresses_or_blocks() {
        let list = Allowlist::parse(&[
            "127.0.0.1/32".into(),
            "10.0.0.0/8".into(),
            "fd00::/8".into(),
            "192.168.1.5".into(),
            "[fe80::1]".into(),
            "Minio.LAN.".into(),
        ])
        .unwrap();
        let allowed = |a: &str| list.allows_addr(a.parse().unwrap());
        assert!(allowed("127.0.0.1"));
        assert!(!allowed("127.0.0.2"));
        assert!(allowed("10.200.3.4"));
        assert!(allowed("::ffff:10.200.3.4"));
        assert!(!allowed("11.0.0.1"));
        assert!(allowed("fd00::1234"));
        assert!(!allowed("fc00::1"));
        assert!(allowed("192.168.1.5"));
        assert!(!allowed("192.168.1.6"));
        assert!(allowed("fe80::1"));
        assert!(list.allows_host("minio.lan"));
        assert!(list.allows_host("MINIO.lan."));
        assert!(!list.allows_host("evil-minio.lan"));
        assert!(!list.allows_host("minio.lan.evil.example"));
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "10.0.0/8",
            "",
            "a b",
            "http://x",
            "*.lan",
        ] {
            assert!(
                matches!(
                    Allowlist::parse(&[bad.to_string()]),
                    Err(AllowEntryError { .. })
                ),
                "{bad:?}"
            );
        }
    }
}
