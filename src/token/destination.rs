//! Where a JWKS fetch may connect: special-purpose networks (loopback, private, link-local, …)
//! are refused unless the operator allows them, and operator deny-lists always win. Checked for
//! IP-literal hosts before a request and, through [`CheckedResolver`], for every address a name
//! resolves to, so DNS cannot lead a fetch to a refused address.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;

use ipnet::IpNet;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// Which destination networks JWKS fetches may reach.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPolicy {
    /// Allow loopback, private, shared (CGNAT), link-local, unique-local and documentation
    /// ranges (tests, on-premises IdPs). Unspecified, multicast and reserved addresses stay
    /// refused.
    pub allow_private: bool,
    /// Networks allowed although they are in a refused special-purpose range (an on-premises
    /// IdP at `10.1.2.3/32`, say), without opening every private range.
    pub allow: Vec<IpNet>,
    /// Networks always refused, whatever else allows them.
    pub deny: Vec<IpNet>,
}

/// Why an address may not be fetched from.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{ip} is {why}")]
pub struct Denied {
    pub ip: IpAddr,
    pub why: &'static str,
}

/// How a special-purpose address is treated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Never a JWKS server: refused even with `allow_private`.
    Never(&'static str),
    /// Internal: refused unless allowed.
    Internal(&'static str),
}

impl NetworkPolicy {
    /// Whether `ip` may be connected to. IPv4-mapped, IPv4-compatible, NAT64 and 6to4 IPv6
    /// addresses are judged by the IPv4 address they carry.
    pub fn check(&self, ip: IpAddr) -> Result<(), Denied> {
        let embedded = embedded_v4(ip).map(IpAddr::V4);
        let judged = embedded.unwrap_or(ip);
        let denied = |why| Err(Denied { ip, why });
        if self
            .deny
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&judged))
        {
            return denied("in a denied network");
        }
        let class = embedded.map_or_else(|| classify(ip), classify);
        match class {
            None => Ok(()),
            Some(Class::Never(why)) => denied(why),
            Some(Class::Internal(_)) if self.allow_private => Ok(()),
            Some(Class::Internal(why)) => {
                if self
                    .allow
                    .iter()
                    .any(|net| net.contains(&ip) || net.contains(&judged))
                {
                    Ok(())
                } else {
                    denied(why)
                }
            }
        }
    }
}

/// The IPv4 address an IPv6 address stands for, when it carries one that the network may route
/// to: `::ffff:a.b.c.d` (mapped), `::a.b.c.d` (compatible), `64:ff9b::a.b.c.d` (NAT64) and
/// `2002:aabb:ccdd::/48` (6to4).
fn embedded_v4(ip: IpAddr) -> Option<Ipv4Addr> {
    let IpAddr::V6(v6) = ip else { return None };
    let s = v6.segments();
    let low = Ipv4Addr::new(
        v6.octets()[12],
        v6.octets()[13],
        v6.octets()[14],
        v6.octets()[15],
    );
    match s {
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // `::` and `::1` are themselves, not IPv4-compatible addresses.
        [0, 0, 0, 0, 0, 0, hi, _] if hi != 0 => Some(low),
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] => Some(low),
        [0x2002, a, b, ..] => {
            let [a1, a2] = a.to_be_bytes();
            let [b1, b2] = b.to_be_bytes();
            Some(Ipv4Addr::new(a1, a2, b1, b2))
        }
        _ => None,
    }
}

fn classify(ip: IpAddr) -> Option<Class> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<Class> {
    use Class::{Internal, Never};
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        (0, ..) => Never("an unspecified (\"this network\") address"),
        (127, ..) => Internal("a loopback address"),
        (10, ..) | (172, 16..=31, _) | (192, 168, _) => Internal("a private address"),
        (100, 64..=127, _) => Internal("a shared (CGNAT) address"),
        (169, 254, _) => Internal("a link-local address"),
        (192, 0, 0) => Internal("an IETF protocol assignment"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => Internal("a documentation address"),
        (198, 18..=19, _) => Internal("a benchmarking address"),
        (224..=239, ..) => Never("a multicast address"),
        (240..=255, ..) => Never("a reserved or broadcast address"),
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<Class> {
    use Class::{Internal, Never};
    let s = ip.segments();
    Some(match s {
        [0, 0, 0, 0, 0, 0, 0, 0] => Never("the unspecified address"),
        [0, 0, 0, 0, 0, 0, 0, 1] => Internal("a loopback address"),
        [0x100, 0, 0, 0, ..] => Never("a discard-only address"),
        [0x64, 0xff9b, 1, ..] => Internal("a local-use NAT64 address"),
        [0x2001, 0xdb8, ..] => Internal("a documentation address"),
        [0x2001, x, ..] if x < 0x200 => Internal("an IETF protocol assignment"),
        [x, ..] if x & 0xfe00 == 0xfc00 => Internal("a unique-local address"),
        [x, ..] if x & 0xffc0 == 0xfe80 => Internal("a link-local address"),
        [x, ..] if x & 0xffc0 == 0xfec0 => Internal("a site-local address"),
        [x, ..] if x & 0xff00 == 0xff00 => Never("a multicast address"),
        _ => return None,
    })
}

/// A name that resolves to an address the policy refuses.
#[derive(Debug, thiserror::Error)]
#[error("{host} resolves to {}, {}", .denied.ip, .denied.why)]
pub(crate) struct DeniedName {
    pub host: String,
    pub denied: Denied,
}

/// The HTTP client's resolver: the system's answer, refused whole when any address in it is
/// refused (a name that mixes public and internal addresses is not an IdP to trust).
#[derive(Debug)]
pub(crate) struct CheckedResolver {
    pub policy: Arc<NetworkPolicy>,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let policy = Arc::clone(&self.policy);
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            for addr in &addrs {
                if let Err(denied) = policy.check(addr.ip()) {
                    return Err(DeniedName { host, denied }.into());
                }
            }
            let addrs: Addrs = Box::new(addrs.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(raw: &str) -> IpAddr {
        raw.parse().expect("address")
    }

    fn nets(raw: &[&str]) -> Vec<IpNet> {
        raw.iter().map(|n| n.parse().expect("network")).collect()
    }

    const INTERNAL: [&str; 21] = [
        "127.0.0.1",
        "127.255.255.254",
        "169.254.169.254",
        "10.0.0.1",
        "10.255.255.255",
        "172.16.0.1",
        "172.31.255.254",
        "192.168.0.1",
        "100.64.0.1",
        "192.0.2.10",
        "198.18.0.1",
        "::1",
        "fd00::1",
        "fc00::1",
        "fe80::1",
        "fec0::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::ffff:10.1.2.3",
        "64:ff9b::a9fe:a9fe",
        "2002:c0a8:0101::1",
    ];
    const NEVER: [&str; 7] = [
        "0.0.0.0",
        "0.1.2.3",
        "224.0.0.1",
        "255.255.255.255",
        "::",
        "ff02::1",
        "::ffff:0.0.0.0",
    ];
    const PUBLIC: [&str; 6] = [
        "93.184.215.14",
        "172.32.0.1",
        "8.8.8.8",
        "2606:4700::1111",
        "::ffff:8.8.8.8",
        "64:ff9b::808:808",
    ];

    #[test]
    fn internal_and_special_addresses_are_refused_by_default() {
        let policy = NetworkPolicy::default();
        for raw in INTERNAL.iter().chain(&NEVER) {
            assert!(policy.check(ip(raw)).is_err(), "{raw}");
        }
        for raw in PUBLIC {
            assert_eq!(policy.check(ip(raw)), Ok(()), "{raw}");
        }
        let why = policy
            .check(ip("::ffff:169.254.169.254"))
            .map_err(|d| d.why);
        assert_eq!(
            why,
            Err("a link-local address"),
            "judged by the IPv4 it carries"
        );
    }

    #[test]
    fn the_allowance_opens_internal_ranges_only() {
        let policy = NetworkPolicy {
            allow_private: true,
            ..NetworkPolicy::default()
        };
        for raw in INTERNAL {
            assert_eq!(policy.check(ip(raw)), Ok(()), "{raw}");
        }
        for raw in NEVER {
            assert!(policy.check(ip(raw)).is_err(), "{raw}");
        }
    }

    #[test]
    fn allow_lists_open_single_networks_and_deny_lists_always_win() {
        let policy = NetworkPolicy {
            allow_private: false,
            allow: nets(&["10.1.2.0/24", "fd12::/16"]),
            deny: nets(&["93.184.215.0/24", "10.1.2.66/32"]),
        };
        assert_eq!(policy.check(ip("10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("::ffff:10.1.2.3")), Ok(()));
        assert_eq!(policy.check(ip("fd12::5")), Ok(()));
        assert!(policy.check(ip("10.1.3.3")).is_err());
        assert!(
            policy.check(ip("10.1.2.66")).is_err(),
            "deny wins over allow"
        );
        assert!(policy.check(ip("93.184.215.14")).is_err());
        assert!(policy.check(ip("::ffff:93.184.215.14")).is_err());
        let everything = NetworkPolicy {
            allow_private: true,
            ..policy
        };
        assert!(
            everything.check(ip("10.1.2.66")).is_err(),
            "deny wins over the allowance"
        );
        assert!(everything.check(ip("0.0.0.0")).is_err());
    }

    #[tokio::test]
    async fn names_resolving_to_refused_addresses_are_refused() {
        let resolver = CheckedResolver {
            policy: Arc::new(NetworkPolicy::default()),
        };
        let name: Name = "localhost".parse().expect("name");
        let error = resolver.resolve(name).await.err().expect("refused");
        assert!(error.downcast_ref::<DeniedName>().is_some(), "{error}");

        let allowed = CheckedResolver {
            policy: Arc::new(NetworkPolicy {
                allow_private: true,
                ..NetworkPolicy::default()
            }),
        };
        let name: Name = "localhost".parse().expect("name");
        let addrs: Vec<SocketAddr> = allowed.resolve(name).await.expect("resolved").collect();
        assert!(addrs.iter().all(|a| a.ip().is_loopback()), "{addrs:?}");
    }
}
