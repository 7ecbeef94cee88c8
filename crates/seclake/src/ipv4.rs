//! Classifying the address strings OCSF endpoints carry.
//!
//! IP Insights only knows IPv4, so every address string ends up as one of: a usable IPv4 address,
//! a "no value" sentinel, an IPv6 address, or something unparseable.
//!
//! Non-canonical dotted quads such as `12.000.22.33` (in one of AWS's own samples) are read as
//! decimal octets with redundant leading zeros, as the OCSF producers mean them, and normalised
//! to `12.0.22.33`; they are kept and counted as [`IpClass::Ipv4`] with `canonical == false`.
//! Reading them as octal (`inet_aton`) would silently move `010.1.1.1` to `8.1.1.1`. IPv4-mapped
//! IPv6 addresses (`::ffff:1.2.3.4`) are the IPv4 address they map and are normalised likewise.

use std::net::{Ipv4Addr, Ipv6Addr};

/// What an address string holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IpClass {
    /// A usable IPv4 address; `canonical` is false when the text had to be normalised.
    Ipv4 { addr: Ipv4Addr, canonical: bool },
    /// Empty, blank or the VPC Flow Logs sentinel `-`.
    Sentinel,
    /// An IPv6 address (IP Insights cannot score it).
    Ipv6,
    /// Not an address.
    Invalid,
}

/// Classifies one address string.
pub fn classify(text: &str) -> IpClass {
    let trimmed = text.trim();
    if trimmed.is_empty() || trimmed == "-" {
        return IpClass::Sentinel;
    }
    if let Some((addr, canonical)) = parse_dotted_quad(trimmed.as_bytes()) {
        return IpClass::Ipv4 {
            addr,
            canonical: canonical && trimmed.len() == text.len(),
        };
    }
    if trimmed.contains(':') {
        let unbracketed = trimmed
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .unwrap_or(trimmed);
        if let Ok(v6) = unbracketed.parse::<Ipv6Addr>() {
            return match v6.to_ipv4_mapped() {
                Some(addr) => IpClass::Ipv4 {
                    addr,
                    canonical: false,
                },
                None => IpClass::Ipv6,
            };
        }
    }
    IpClass::Invalid
}

/// Parses `a.b.c.d` with decimal octets of one to three digits; returns whether the text was
/// already canonical (no leading zeros).
fn parse_dotted_quad(bytes: &[u8]) -> Option<(Ipv4Addr, bool)> {
    let mut octets = [0u8; 4];
    let mut canonical = true;
    let mut part = 0usize;
    let mut value: u32 = 0;
    let mut digits = 0usize;
    let mut first_digit = 0u8;
    for &b in bytes {
        match b {
            b'0'..=b'9' => {
                if digits == 0 {
                    first_digit = b;
                }
                digits += 1;
                if digits > 3 {
                    return None;
                }
                value = value * 10 + u32::from(b - b'0');
            }
            b'.' => {
                if digits == 0 || part == 3 || value > 255 {
                    return None;
                }
                if digits > 1 && first_digit == b'0' {
                    canonical = false;
                }
                octets[part] = value as u8;
                part += 1;
                value = 0;
                digits = 0;
            }
            _ => return None,
        }
    }
    if part != 3 || digits == 0 || value > 255 {
        return None;
    }
    if digits > 1 && first_digit == b'0' {
        canonical = false;
    }
    octets[3] = value as u8;
    Some((Ipv4Addr::from(octets), canonical))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    #[test]
    fn canonical_ipv4() {
        assert_eq!(
            classify("10.200.21.100"),
            IpClass::Ipv4 {
                addr: v4("10.200.21.100"),
                canonical: true
            }
        );
        assert_eq!(
            classify("0.0.0.0"),
            IpClass::Ipv4 {
                addr: v4("0.0.0.0"),
                canonical: true
            }
        );
        assert_eq!(
            classify("255.255.255.255"),
            IpClass::Ipv4 {
                addr: v4("255.255.255.255"),
                canonical: true
            }
        );
    }

    #[test]
    fn leading_zeros_are_decimal_and_normalised() {
        assert_eq!(
            classify("12.000.22.33"),
            IpClass::Ipv4 {
                addr: v4("12.0.22.33"),
                canonical: false
            }
        );
        assert_eq!(
            classify("010.001.1.09"),
            IpClass::Ipv4 {
                addr: v4("10.1.1.9"),
                canonical: false
            }
        );
        assert_eq!(
            classify(" 1.2.3.4 "),
            IpClass::Ipv4 {
                addr: v4("1.2.3.4"),
                canonical: false
            }
        );
    }

    #[test]
    fn sentinels() {
        for s in ["", "-", "  ", " - "] {
            assert_eq!(classify(s), IpClass::Sentinel, "{s:?}");
        }
    }

    #[test]
    fn ipv6_and_mapped() {
        assert_eq!(classify("2001:db8::1"), IpClass::Ipv6);
        assert_eq!(classify("[fe80::1]"), IpClass::Ipv6);
        assert_eq!(
            classify("::ffff:192.0.2.7"),
            IpClass::Ipv4 {
                addr: v4("192.0.2.7"),
                canonical: false
            }
        );
    }

    #[test]
    fn invalid() {
        for s in [
            "256.1.1.1",
            "1.2.3",
            "1.2.3.4.5",
            "1..2.3",
            "a.b.c.d",
            "1.2.3.4/24",
            "0001.2.3.4",
            "1.2.3.",
            ".1.2.3",
            "not-an-ip",
            "1:2",
        ] {
            assert_eq!(classify(s), IpClass::Invalid, "{s:?}");
        }
    }

    #[test]
    fn agrees_with_std_on_canonical_quads() {
        for a in [0u8, 1, 9, 10, 99, 100, 199, 200, 255] {
            for b in [0u8, 7, 255] {
                let s = format!("{a}.{b}.{a}.{b}");
                let expected: Ipv4Addr = s.parse().unwrap();
                assert_eq!(
                    classify(&s),
                    IpClass::Ipv4 {
                        addr: expected,
                        canonical: true
                    }
                );
            }
        }
    }
}
