//! Where the server may connect on a client's behalf: which addresses are public, and the
//! allowlist of private destinations an administrator permits (`voices.put_url_allow`).
//!
//! A client-given URL must not turn the server into a proxy into its own network: outbound
//! connections go only to public addresses unless the allowlist names the host or a block that
//! holds the address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// An allowlist entry that is neither a host name, an address nor a CIDR block (each with an
/// optional port).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not a host name, address or CIDR block (with an optional :port): {reason}")]
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
    /// The block of the one address `addr`.
    fn single(addr: IpAddr) -> Self {
        let prefix = if addr.is_ipv4() { 32 } else { 128 };
        Self { addr, prefix }
    }

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

/// One allowed destination: a host name or a block, on one port or (`None`) on any.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry<T> {
    target: T,
    port: Option<u16>,
}

impl<T> Entry<T> {
    fn allows_port(&self, port: u16) -> bool {
        self.port.is_none_or(|p| p == port)
    }
}

/// Destinations permitted although they are not public (`voices.put_url_allow`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Allowlist {
    hosts: Vec<Entry<String>>,
    blocks: Vec<Entry<Cidr>>,
}

impl Allowlist {
    /// Reads the entries: host names (`minio.lan`, matched exactly, case-insensitively),
    /// addresses (`10.0.0.5`, `fd00::5`) and CIDR blocks (`127.0.0.1/32`, `fd00::/8`), each
    /// with an optional port that then is the only one allowed (`minio.lan:9000`,
    /// `10.0.0.5:9000`, `[fd00::5]:9000`, `10.0.0.0/8:9000`, `fd00::/8:9000`). An IPv6 address
    /// with a port needs its brackets: `fd00::5:9000` is an address.
    pub fn parse(entries: &[String]) -> Result<Self, AllowEntryError> {
        let mut list = Self::default();
        for entry in entries {
            let bad = |reason: &str| AllowEntryError {
                entry: entry.clone(),
                reason: reason.into(),
            };
            let text = entry.trim();
            if let Some((addr, rest)) = text.split_once('/') {
                let (prefix, port) = match rest.split_once(':') {
                    Some((prefix, port)) => (prefix, Some(parse_port(port).map_err(bad)?)),
                    None => (rest, None),
                };
                let addr: IpAddr = unbracketed(addr)
                    .parse()
                    .map_err(|_| bad("not an IP address"))?;
                let most = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = prefix
                    .parse()
                    .ok()
                    .filter(|p| *p <= most)
                    .ok_or_else(|| bad(&format!("the prefix length must be 0 to {most}")))?;
                let target = Cidr { addr, prefix };
                list.blocks.push(Entry { target, port });
                continue;
            }
            let (head, port) = split_port(text).map_err(bad)?;
            if let Ok(addr) = unbracketed(head).parse::<IpAddr>() {
                let target = Cidr::single(addr);
                list.blocks.push(Entry { target, port });
            } else {
                let host = head.trim_end_matches('.').to_ascii_lowercase();
                let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_');
                if host.is_empty() || !host.chars().all(valid) || host.starts_with('.') {
                    return Err(bad("host names are letters, digits, '.', '-' and '_'"));
                }
                list.hosts.push(Entry { target: host, port });
            }
        }
        Ok(list)
    }

    /// Whether the host name is listed for `port`.
    pub fn allows_host(&self, host: &str, port: u16) -> bool {
        let host = host.trim_end_matches('.');
        self.hosts
            .iter()
            .any(|h| h.target.eq_ignore_ascii_case(host) && h.allows_port(port))
    }

    /// Whether a block listed for `port` holds the address (an IPv4-mapped IPv6 address also as
    /// IPv4).
    pub fn allows_addr(&self, ip: IpAddr, port: u16) -> bool {
        let canonical = ip.to_canonical();
        self.blocks.iter().any(|block| {
            block.allows_port(port)
                && (block.target.contains(ip) || block.target.contains(canonical))
        })
    }
}

/// Addresses and CIDR blocks, without host names or ports (`http.trusted_proxies`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AddressBlocks(Vec<Cidr>);

impl AddressBlocks {
    /// Reads addresses (`10.0.0.5`, `fd00::5`) and CIDR blocks (`172.16.0.0/12`, `fd00::/8`).
    pub fn parse(entries: &[String]) -> Result<Self, AllowEntryError> {
        let list = Allowlist::parse(entries)?;
        let no_names_or_ports = AllowEntryError {
            entry: entries.join(", "),
            reason: "only addresses and CIDR blocks, without ports".into(),
        };
        if !list.hosts.is_empty() || list.blocks.iter().any(|b| b.port.is_some()) {
            return Err(no_names_or_ports);
        }
        Ok(Self(list.blocks.into_iter().map(|b| b.target).collect()))
    }

    /// Whether no block is listed.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether every listed block lies inside loopback (`127.0.0.0/8`, `::1`): nothing but this
    /// machine is let in (also when none is listed).
    pub fn only_loopback(&self) -> bool {
        self.0.iter().all(|block| match block.addr {
            IpAddr::V4(v4) => v4.is_loopback() && block.prefix >= 8,
            IpAddr::V6(v6) => v6.is_loopback() && block.prefix == 128,
        })
    }

    /// Whether a block is the whole address space (`0.0.0.0/0`, `::/0`).
    pub fn has_everything(&self) -> bool {
        self.0.iter().any(|block| block.prefix == 0)
    }

    /// Whether a block holds the address (an IPv4-mapped IPv6 address also as IPv4).
    pub fn contains(&self, ip: IpAddr) -> bool {
        let canonical = ip.to_canonical();
        self.0
            .iter()
            .any(|block| block.contains(ip) || block.contains(canonical))
    }
}

/// `text` without the brackets of an IPv6 address (`[::1]`).
fn unbracketed(text: &str) -> &str {
    text.strip_prefix('[')
        .and_then(|t| t.strip_suffix(']'))
        .unwrap_or(text)
}

/// Splits `host:port`, `1.2.3.4:port` or `[v6]:port` into the host and the port; a bare IPv6
/// address (more than one colon) has no port.
fn split_port(text: &str) -> Result<(&str, Option<u16>), &'static str> {
    if let Some(rest) = text.strip_prefix('[') {
        let (addr, after) = rest.split_once(']').ok_or("an unclosed '['")?;
        return match after {
            "" => Ok((addr, None)),
            _ => {
                let port = after.strip_prefix(':').ok_or("only :port may follow ']'")?;
                Ok((addr, Some(parse_port(port)?)))
            }
        };
    }
    match text.split_once(':') {
        Some((head, port)) if !port.contains(':') => Ok((head, Some(parse_port(port)?))),
        _ => Ok((text, None)),
    }
}

fn parse_port(text: &str) -> Result<u16, &'static str> {
    text.parse::<u16>()
        .ok()
        .filter(|p| *p != 0)
        .ok_or("the port must be 1 to 65535")
}

/// What kind of non-public address `ip` is, or `None` for a public one. IPv4-mapped and NAT64
/// (`64:ff9b::/96`) addresses are judged by the IPv4 address they carry. Local-use NAT64
/// (`64:ff9b:1::/48`, RFC 8215) translates into a site's own network and 6to4 (`2002::/16`)
/// relays to any IPv4 address, so both are refused whole.
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
    } else if within(0x0064_ff9b_0001 << 80, 48) {
        Some("local-use NAT64 (64:ff9b:1::/48)")
    } else if within(0x2002 << 112, 16) {
        Some("6to4 (2002::/16)")
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
    fn local_use_nat64_and_6to4_are_internal() {
        for (addr, expected) in [
            ("64:ff9b:1::a00:1", "local-use NAT64"),
            ("64:ff9b:1::808:808", "local-use NAT64"),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", "local-use NAT64"),
            ("2002:7f00:1::1", "6to4"),
            ("2002:a00:1::", "6to4"),
            ("2002:808:808::1", "6to4"),
            ("2002:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "6to4"),
        ] {
            let range = refused_range(addr.parse().unwrap());
            assert!(
                range.is_some_and(|r| r.contains(expected)),
                "{addr}: {range:?}, expected {expected}"
            );
        }
        // Their neighbours stay public; the well-known NAT64 prefix is judged by its IPv4 part.
        for addr in ["64:ff9b:2::1", "64:ff9a:1::1", "2001:ffff::1", "2003::1"] {
            assert_eq!(refused_range(addr.parse().unwrap()), None, "{addr}");
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
        let allowed = |a: &str| list.allows_addr(a.parse().unwrap(), 443);
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
        assert!(list.allows_host("minio.lan", 9000));
        assert!(list.allows_host("MINIO.lan.", 80));
        assert!(!list.allows_host("evil-minio.lan", 80));
        assert!(!list.allows_host("minio.lan.evil.example", 80));
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

    #[test]
    fn an_entry_with_a_port_allows_only_that_port() {
        let list = Allowlist::parse(&[
            "minio.lan:9000".into(),
            "10.0.0.5:9000".into(),
            "[fd00::5]:9000".into(),
            "172.16.0.0/12:8443".into(),
            "fd10::/16:8443".into(),
            "[fd20::]/16:8080".into(),
            "fd30::5:9000".into(),
        ])
        .unwrap();
        let addr = |a: &str, port| list.allows_addr(a.parse().unwrap(), port);
        assert!(list.allows_host("minio.lan", 9000));
        assert!(list.allows_host("MINIO.LAN.", 9000));
        assert!(!list.allows_host("minio.lan", 9001));
        assert!(!list.allows_host("minio.lan", 80));
        assert!(addr("10.0.0.5", 9000));
        assert!(addr("::ffff:10.0.0.5", 9000));
        assert!(!addr("10.0.0.5", 22));
        assert!(addr("fd00::5", 9000));
        assert!(!addr("fd00::5", 9001));
        assert!(addr("172.20.1.2", 8443));
        assert!(!addr("172.20.1.2", 443));
        assert!(addr("fd10::1", 8443));
        assert!(!addr("fd10::1", 8080));
        assert!(addr("fd20::1", 8080));
        assert!(!addr("fd20::1", 8443));
        // Without brackets, the last group of an IPv6 address is the address's, not a port.
        assert!(addr("fd30::5:9000", 1));
        for bad in [
            "minio.lan:0",
            "minio.lan:65536",
            "minio.lan:",
            "minio.lan:http",
            "10.0.0.5:-1",
            "[fd00::5]9000",
            "[fd00::5",
            "10.0.0.0/8:",
            "10.0.0.0/8:99999",
        ] {
            assert!(Allowlist::parse(&[bad.to_string()]).is_err(), "{bad:?}");
        }
    }
}
