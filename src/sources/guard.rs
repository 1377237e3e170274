//! What a queued task may download from. Anyone who can add to the queue can name a URL, so a
//! URL must not reach this machine, the private network it sits in, or a cloud's metadata
//! service: every address a host name resolves to is checked, on every hop, before a
//! connection is made, and a redirect to another host is refused unless the operator allowed
//! that host.
//!
//! Refusals name the rule, never what answered: a task cannot probe which ports are open.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};

/// The operator's exceptions to the rules.
#[derive(Debug, Clone, Default)]
pub struct NetworkGuard {
    /// When not empty, the only hosts a task may download from (and be redirected to).
    allowed_hosts: Vec<String>,
    /// Networks reachable although they are private, loopback or link-local.
    allowed_networks: Vec<(IpAddr, u8)>,
}

impl NetworkGuard {
    pub fn new(allowed_hosts: &[String], allowed_networks: &[String]) -> Result<Self, String> {
        let allowed_networks = allowed_networks
            .iter()
            .map(|n| {
                parse_cidr(n)
                    .ok_or_else(|| format!("sources.allowed_networks: {n:?} is not a network like 10.1.0.0/16"))
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            allowed_hosts: allowed_hosts.iter().map(|h| h.trim().to_ascii_lowercase()).collect(),
            allowed_networks,
        })
    }

    /// Whether a task may connect to this address.
    pub fn permits(&self, ip: IpAddr) -> bool {
        is_public(ip) || self.allowed_networks.iter().any(|&(net, bits)| contains(net, bits, ip))
    }

    /// Whether a task may name this host at all.
    pub fn host_allowed(&self, host: &str) -> bool {
        self.allowed_hosts.is_empty() || self.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(host))
    }

    /// Whether a redirect from `from` to `to` may be followed.
    pub fn redirect_allowed(&self, from: &str, to: &str) -> bool {
        from.eq_ignore_ascii_case(to) || (!self.allowed_hosts.is_empty() && self.host_allowed(to))
    }

    /// Checks a URL's host before any connection: its name against the host list and, when it
    /// is an address, the address against the network rules.
    pub fn check_url(&self, url: &reqwest::Url) -> Result<(), String> {
        let host = url.host_str().unwrap_or_default();
        if !self.host_allowed(host) {
            return Err(format!("host {host} is not in sources.allowed_hosts"));
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal {
            Some(ip) if !self.permits(ip) => Err(REFUSED.to_owned()),
            _ => Ok(()),
        }
    }
}

/// The one answer for an address a task may not reach.
pub const REFUSED: &str = "the address is loopback, private, link-local or otherwise not public; queued tasks may not download from it (sources.allowed_networks)";

/// Resolves names for downloads, keeping only the addresses the guard permits.
pub struct GuardedResolver(pub Arc<NetworkGuard>);

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let guard = self.0.clone();
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let permitted: Vec<SocketAddr> = resolved.into_iter().filter(|a| guard.permits(a.ip())).collect();
            if permitted.is_empty() {
                return Err(REFUSED.into());
            }
            Ok(Box::new(permitted.into_iter()) as Addrs)
        })
    }
}

/// Whether an address is on the public internet.
fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => {
            // An IPv4 address in IPv6 clothing (mapped, or NAT64) is judged as itself.
            if let Some(v4) = v6.to_ipv4_mapped() {
                return is_public_v4(v4);
            }
            let s = v6.segments();
            if s[0] == 0x64 && s[1] == 0xff9b && s[2..6] == [0, 0, 0, 0] {
                return is_public_v4(Ipv4Addr::new(
                    (s[6] >> 8) as u8,
                    s[6] as u8,
                    (s[7] >> 8) as u8,
                    s[7] as u8,
                ));
            }
            !(v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || (s[0] & 0xfe00) == 0xfc00 // unique local
                || (s[0] & 0xffc0) == 0xfe80 // link-local
                || (s[0] & 0xffc0) == 0xfec0 // site-local
                || (s[0] == 0x2001 && s[1] == 0x0db8)) // documentation
        }
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local() // 169.254/16, the metadata services of clouds
        || ip.is_unspecified()
        || ip.is_broadcast()
        || ip.is_multicast()
        || ip.is_documentation()
        || a == 0
        || a >= 240
        || (a == 100 && (64..128).contains(&b)) // shared address space (carrier NAT)
        || (a == 198 && (18..20).contains(&b)) // benchmarking
        || (a == 192 && b == 0 && c == 0))
}

/// `10.1.0.0/16`, `::1/128`, or a lone address (all its bits).
fn parse_cidr(text: &str) -> Option<(IpAddr, u8)> {
    let (ip, bits) = match text.trim().split_once('/') {
        Some((ip, bits)) => (ip.parse::<IpAddr>().ok()?, bits.parse::<u8>().ok()?),
        None => {
            let ip = text.trim().parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (bits <= max).then_some((ip, bits))
}

fn contains(net: IpAddr, bits: u8, ip: IpAddr) -> bool {
    match (net, ip) {
        (IpAddr::V4(n), IpAddr::V4(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(bits))
            };
            u32::from(n) & mask == u32::from(i) & mask
        }
        (IpAddr::V6(n), IpAddr::V6(i)) => {
            let mask = if bits == 0 {
                0
            } else {
                u128::MAX << (128 - u32::from(bits))
            };
            u128::from(n) & mask == u128::from(i) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn internal_addresses_are_refused() {
        let guard = NetworkGuard::default();
        for denied in [
            "127.0.0.1",
            "10.0.0.5",
            "172.16.3.4",
            "192.168.1.1",
            "169.254.169.254",
            "0.0.0.0",
            "100.64.0.1",
            "::1",
            "fd00::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "64:ff9b::a9fe:a9fe",
            "::",
        ] {
            assert!(!guard.permits(ip(denied)), "{denied} must be refused");
        }
        for allowed in ["93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946", "8.8.8.8"] {
            assert!(guard.permits(ip(allowed)), "{allowed} is public");
        }
    }

    #[test]
    fn operators_may_open_networks_and_list_hosts() {
        let guard = NetworkGuard::new(
            &["files.example.com".into()],
            &["127.0.0.0/8".into(), "fd00::/8".into()],
        )
        .unwrap();
        assert!(guard.permits(ip("127.0.0.2")));
        assert!(guard.permits(ip("fd12::1")));
        assert!(!guard.permits(ip("10.0.0.1")));
        assert!(guard.host_allowed("FILES.example.com"));
        assert!(!guard.host_allowed("other.example.com"));
        assert!(NetworkGuard::new(&[], &["10.0.0.0/33".into()]).is_err());
    }

    #[test]
    fn redirects_stay_on_their_host_unless_listed() {
        let open = NetworkGuard::default();
        assert!(open.redirect_allowed("a.example", "A.example"));
        assert!(!open.redirect_allowed("a.example", "b.example"));
        let listed = NetworkGuard::new(&["a.example".into(), "b.example".into()], &[]).unwrap();
        assert!(listed.redirect_allowed("a.example", "b.example"));
        assert!(!listed.redirect_allowed("a.example", "c.example"));
    }
}
