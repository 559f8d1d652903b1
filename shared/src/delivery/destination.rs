//! Where deliveries may go. Webhook URLs are chosen by users, so by default no request goes
//! to an address that is not globally routable (REFERENCE.md lists the ranges, after
//! Svix). The check applies to the address actually connected to: the HTTP client resolves
//! names through [`GuardedResolver`], which drops refused addresses, so the connection is
//! pinned to a checked address and DNS rebinding cannot get through.

use std::{
    net::{IpAddr, SocketAddr},
    sync::{Arc, LazyLock},
};

use ipnet::IpNet;

/// The setting that allows ranges, named in every refusal.
pub const ALLOWED_CIDRS: &str = "ALLOWED_CIDRS";

/// Every range a delivery may not reach unless `ALLOWED_CIDRS` allows it, with why: each
/// entry of IANA's IPv4 and IPv6 Special-Purpose Address Registries (those marked
/// globally reachable too: they are anycast services, never a webhook receiver), plus the
/// multicast and deprecated site-local blocks of the address-space registries. Beyond the
/// table, an IPv6 address outside 2000::/3 is refused: IANA allocates nothing else for
/// global unicast.
pub const REFUSED: [(&str, &str); 54] = [
    // IPv4 Special-Purpose Address Registry
    ("0.0.0.0/8", "\"this network\" (RFC 791)"),
    ("0.0.0.0/32", "this host on this network (RFC 1122)"),
    ("10.0.0.0/8", "private use (RFC 1918)"),
    (
        "100.64.0.0/10",
        "shared address space, carrier-grade NAT (RFC 6598)",
    ),
    ("127.0.0.0/8", "loopback (RFC 1122)"),
    (
        "169.254.0.0/16",
        "link local, cloud metadata 169.254.169.254 (RFC 3927)",
    ),
    ("172.16.0.0/12", "private use (RFC 1918)"),
    ("192.0.0.0/24", "IETF protocol assignments (RFC 6890)"),
    (
        "192.0.0.0/29",
        "IPv4 service continuity prefix, DS-Lite (RFC 7335)",
    ),
    ("192.0.0.8/32", "IPv4 dummy address (RFC 7600)"),
    ("192.0.0.9/32", "Port Control Protocol anycast (RFC 7723)"),
    ("192.0.0.10/32", "TURN anycast (RFC 8155)"),
    ("192.0.0.170/31", "NAT64/DNS64 discovery (RFC 7050)"),
    ("192.0.2.0/24", "documentation, TEST-NET-1 (RFC 5737)"),
    ("192.31.196.0/24", "AS112 DNS sink (RFC 7535)"),
    ("192.52.193.0/24", "AMT relay anycast (RFC 7450)"),
    ("192.88.99.0/24", "deprecated 6to4 relay anycast (RFC 7526)"),
    ("192.168.0.0/16", "private use (RFC 1918)"),
    ("192.175.48.0/24", "AS112 direct delegation (RFC 7534)"),
    ("198.18.0.0/15", "benchmarking (RFC 2544)"),
    ("198.51.100.0/24", "documentation, TEST-NET-2 (RFC 5737)"),
    ("203.0.113.0/24", "documentation, TEST-NET-3 (RFC 5737)"),
    ("240.0.0.0/4", "reserved (RFC 1112)"),
    ("255.255.255.255/32", "limited broadcast (RFC 919)"),
    // IPv4 Multicast Address Space Registry
    ("224.0.0.0/4", "multicast (RFC 5771)"),
    // IPv6 Special-Purpose Address Registry
    ("::/128", "unspecified address (RFC 4291)"),
    ("::1/128", "loopback (RFC 4291)"),
    (
        "::ffff:0:0/96",
        "IPv4-mapped: reaches the IPv4 address it carries (RFC 4291)",
    ),
    ("::ffff:0:0:0/96", "IPv4-translated, SIIT (RFC 2765)"),
    (
        "64:ff9b::/96",
        "IPv4/IPv6 translation, NAT64: reaches the IPv4 address it carries (RFC 6052)",
    ),
    (
        "64:ff9b:1::/48",
        "local-use IPv4/IPv6 translation (RFC 8215)",
    ),
    ("100::/64", "discard-only (RFC 6666)"),
    ("100:0:0:1::/64", "dummy IPv6 prefix (RFC 9780)"),
    ("2001::/23", "IETF protocol assignments (RFC 2928)"),
    (
        "2001::/32",
        "Teredo: tunnels to an IPv4 address it carries (RFC 4380)",
    ),
    ("2001:1::1/128", "Port Control Protocol anycast (RFC 7723)"),
    ("2001:1::2/128", "TURN anycast (RFC 8155)"),
    (
        "2001:1::3/128",
        "DNS-SD service registration anycast (RFC 9665)",
    ),
    ("2001:2::/48", "benchmarking (RFC 5180)"),
    ("2001:3::/32", "AMT (RFC 7450)"),
    ("2001:4:112::/48", "AS112-v6 DNS sink (RFC 7535)"),
    ("2001:10::/28", "deprecated ORCHID (RFC 4843)"),
    ("2001:20::/28", "ORCHIDv2 (RFC 7343)"),
    ("2001:30::/28", "drone remote ID entity tags (RFC 9374)"),
    ("2001:db8::/32", "documentation (RFC 3849)"),
    (
        "2002::/16",
        "6to4: tunnels to an IPv4 address it carries (RFC 3056)",
    ),
    ("2620:4f:8000::/48", "AS112 direct delegation (RFC 7534)"),
    ("3fff::/20", "documentation (RFC 9637)"),
    ("5f00::/16", "segment routing SIDs (RFC 9602)"),
    // IPv6 Address Space Registry
    ("::/96", "deprecated IPv4-compatible (RFC 4291)"),
    ("fc00::/7", "unique local (RFC 4193)"),
    ("fe80::/10", "link-local unicast (RFC 4291)"),
    ("fec0::/10", "deprecated site-local (RFC 3879)"),
    ("ff00::/8", "multicast (RFC 4291)"),
];

/// IANA's only range for global unicast IPv6: every other address is reserved or special.
pub const GLOBAL_UNICAST_V6: &str = "2000::/3";

/// The destination rules: the refused ranges, less what `ALLOWED_CIDRS` allows (read
/// by [`crate::settings`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Policy {
    pub allowed: Vec<IpNet>,
    /// Refuse plain `http://` URLs (for production).
    pub https_only: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("{ip} is not a public address ({why}); to allow it (for development) add its range to the {ALLOWED_CIDRS} setting")]
    NotPublic { ip: IpAddr, why: &'static str },
    #[error("{host} resolves to {ip}, which is not a public address ({why}); to allow it (for development) add its range to the {ALLOWED_CIDRS} setting")]
    Address {
        host: String,
        ip: IpAddr,
        why: &'static str,
    },
    #[error("{0} cannot be resolved")]
    Unresolvable(String),
    #[error("only https URLs are allowed (the HTTPS_ONLY setting)")]
    NotHttps,
}

impl Policy {
    pub fn permits(&self, ip: IpAddr) -> bool {
        self.refuses(ip).is_none()
    }

    /// Why `ip` may not be reached, if it may not: the reason of its range in [`REFUSED`].
    pub fn refuses(&self, ip: IpAddr) -> Option<&'static str> {
        let carried = canonical(ip);
        let allowed = self
            .allowed
            .iter()
            .any(|net| net.contains(&ip) || net.contains(&carried));
        if allowed {
            None
        } else {
            refused_because(ip)
        }
    }

    /// Checks a URL's scheme and, if its host is an IP literal, the address.
    pub fn check_url(&self, url: &url::Url) -> Result<(), Refusal> {
        if self.https_only && url.scheme() != "https" {
            return Err(Refusal::NotHttps);
        }
        let literal = match url.host() {
            Some(url::Host::Ipv4(ip)) => Some(IpAddr::V4(ip)),
            Some(url::Host::Ipv6(ip)) => Some(IpAddr::V6(ip)),
            _ => None,
        };
        match literal.and_then(|ip| Some((ip, self.refuses(ip)?))) {
            Some((ip, why)) => Err(Refusal::NotPublic { ip, why }),
            None => Ok(()),
        }
    }

    /// Resolves `host` and keeps the permitted addresses; refuses if none is.
    pub async fn resolve(&self, host: &str, port: u16) -> Result<Vec<SocketAddr>, Refusal> {
        let found: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
            .await
            .map_err(|_| Refusal::Unresolvable(host.to_string()))?
            .collect();
        if found.is_empty() {
            return Err(Refusal::Unresolvable(host.to_string()));
        }
        // Any refused address refuses the name: a name that also points inward is not
        // trusted to be served from its public addresses.
        if let Some((ip, why)) = found
            .iter()
            .find_map(|a| Some((a.ip(), self.refuses(a.ip())?)))
        {
            return Err(Refusal::Address {
                host: host.to_string(),
                ip,
                why,
            });
        }
        Ok(found)
    }

    /// Checks a URL completely: scheme, literal address, or every address its name has.
    pub async fn check(&self, url: &url::Url) -> Result<(), Refusal> {
        self.check_url(url)?;
        match url.host() {
            Some(url::Host::Domain(name)) => self
                .resolve(name, url.port_or_known_default().unwrap_or(443))
                .await
                .map(|_| ()),
            _ => Ok(()),
        }
    }
}

/// IPv4-mapped (`::ffff:a.b.c.d`) addresses reach the IPv4 address they carry, which is
/// what `ALLOWED_CIDRS` is asked about for them.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// The refused ranges, parsed once.
static REFUSED_NETS: LazyLock<Vec<(IpNet, &'static str)>> = LazyLock::new(|| {
    REFUSED
        .iter()
        .map(|(net, why)| {
            (
                net.parse().expect("the refused ranges are valid CIDRs"),
                *why,
            )
        })
        .collect()
});

static GLOBAL_UNICAST: LazyLock<IpNet> =
    LazyLock::new(|| GLOBAL_UNICAST_V6.parse().expect("a valid CIDR"));

/// Why an address is not public: the reason of the most specific refused range holding
/// it, or that an IPv6 address lies outside global unicast.
fn refused_because(ip: IpAddr) -> Option<&'static str> {
    let listed = REFUSED_NETS
        .iter()
        .filter(|(net, _)| net.contains(&ip))
        .max_by_key(|(net, _)| net.prefix_len())
        .map(|(_, why)| *why);
    listed.or(match ip {
        IpAddr::V6(_) if !GLOBAL_UNICAST.contains(&ip) => {
            Some("outside 2000::/3, IANA's only global unicast range")
        }
        _ => None,
    })
}

/// The HTTP client's resolver: every name resolves only to permitted addresses.
#[derive(Clone, Debug)]
pub struct GuardedResolver {
    pub policy: Arc<Policy>,
}

impl reqwest::dns::Resolve for GuardedResolver {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.policy.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            // Port 0: reqwest puts the URL's port in.
            let addrs = policy
                .resolve(&host, 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn loopback() -> Policy {
        Policy {
            allowed: vec!["127.0.0.0/8".parse().unwrap(), "::1/128".parse().unwrap()],
            https_only: false,
        }
    }

    fn refused(url: &str) -> bool {
        Policy::default()
            .check_url(&url::Url::parse(url).unwrap())
            .is_err()
    }

    #[test]
    fn private_and_special_addresses_are_refused() {
        for url in [
            "http://127.0.0.1/",
            "http://2130706433/", // decimal 127.0.0.1
            "http://0x7f.1/",     // hex, shortened
            "http://0177.0.0.1/", // octal
            "http://127.1/",      // shortened
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:169.254.169.254]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://10.1.2.3/",
            "http://172.16.0.1/",
            "http://192.168.1.1/",
            "http://100.64.0.1/",
            "http://192.0.2.10/",
            "http://198.51.100.7/",
            "http://203.0.113.9/",
            "http://224.0.0.1/",
            "http://0.0.0.0/",
            "http://255.255.255.255/",
            "http://240.0.0.1/",
            "http://198.18.0.1/",
            "http://[fe80::1]/",
            "http://[fd00::1]/",
            "http://[ff02::1]/",
            "http://[64:ff9b::7f00:1]/",
            "http://[2002:7f00:1::]/",
            "http://[::]/",
            "http://[2001:db8::1]/",
            "http://[::127.0.0.1]/",
        ] {
            assert!(refused(url), "{url} should be refused");
        }
    }

    /// Every range of the table, at its first, middle and last address, and every range
    /// the audit found open, is refused with its reason; addresses beside them pass.
    #[test]
    fn every_range_of_the_table_is_refused() {
        let policy = Policy::default();
        for (range, why) in REFUSED {
            let net: IpNet = range.parse().unwrap();
            let (first, last) = (net.network(), net.broadcast());
            let middle = match (first, last) {
                (IpAddr::V4(a), IpAddr::V4(b)) => {
                    IpAddr::V4((u32::from(a) + (u32::from(b) - u32::from(a)) / 2).into())
                }
                (IpAddr::V6(a), IpAddr::V6(b)) => {
                    IpAddr::V6((u128::from(a) + (u128::from(b) - u128::from(a)) / 2).into())
                }
                _ => unreachable!("a range is one family"),
            };
            for ip in [first, middle, last] {
                let reason = policy.refuses(ip);
                assert!(reason.is_some(), "{ip} in {range} ({why}) passes");
                let url = url::Url::parse(&match ip {
                    IpAddr::V4(v4) => format!("http://{v4}/"),
                    IpAddr::V6(v6) => format!("http://[{v6}]/"),
                })
                .unwrap();
                let refusal = policy.check_url(&url).unwrap_err().to_string();
                assert!(refusal.contains(reason.unwrap()), "{refusal}");
            }
        }
        for (ip, range) in [
            ("64:ff9b:1::1", "local-use IPv4/IPv6 translation"),
            ("2001:0:4136:e378::1", "Teredo"),
            ("2001:1ff::1", "IETF protocol assignments"),
            ("fec0::1", "site-local"),
            ("::ffff:0:7f00:1", "IPv4-translated"),
            ("::ffff:8.8.8.8", "IPv4-mapped"),
            ("3fff::1", "documentation"),
            ("4000::1", "outside 2000::/3"),
        ] {
            let refused = policy.refuses(ip.parse().unwrap());
            assert!(
                refused.is_some_and(|why| why.contains(range)),
                "{ip}: {refused:?}"
            );
        }
        for ip in [
            "8.8.8.8",
            "1.1.1.1",
            "9.255.255.255",
            "11.0.0.0",
            "100.63.255.255",
            "100.128.0.0",
            "172.32.0.0",
            "192.0.1.0",
            "192.169.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2001:4860:4860::8888",
            "2001:200::1",
            "2a00:1450:4001::1",
        ] {
            assert_eq!(policy.refuses(ip.parse().unwrap()), None, "{ip}");
        }
    }

    #[test]
    fn public_addresses_pass() {
        for url in [
            "https://93.184.215.14/",
            "http://[2606:4700::6810:84e5]/",
            "https://example.com/",
        ] {
            assert!(!refused(url), "{url}");
        }
    }

    #[test]
    fn allowed_cidrs_open_a_range_and_https_only_refuses_http() {
        let policy = loopback();
        assert!(policy.permits("127.0.0.1".parse().unwrap()));
        assert!(policy.permits("::1".parse().unwrap()));
        assert!(policy.permits("::ffff:127.0.0.1".parse().unwrap()));
        assert!(!policy.permits("10.0.0.1".parse().unwrap()));
        let strict = Policy {
            https_only: true,
            ..Policy::default()
        };
        assert_eq!(
            strict.check_url(&url::Url::parse("http://example.com/").unwrap()),
            Err(Refusal::NotHttps)
        );
        let message = Policy::default()
            .check_url(&url::Url::parse("http://10.0.0.1/").unwrap())
            .unwrap_err()
            .to_string();
        assert!(message.contains(ALLOWED_CIDRS), "{message}");
    }

    #[tokio::test]
    async fn names_are_judged_by_what_they_resolve_to() {
        let policy = Policy::default();
        let err = policy
            .check(&url::Url::parse("http://localhost:8080/").unwrap())
            .await
            .unwrap_err();
        assert!(matches!(err, Refusal::Address { .. }), "{err}");
        assert!(loopback()
            .check(&url::Url::parse("http://localhost:8080/").unwrap())
            .await
            .is_ok());
    }
}
