//! The client's address, seen through the reverse proxies the operator trusts.
//!
//! Exists because the reconnect penalty and the logs key on the client's address, and behind a
//! reverse proxy every TCP peer is the proxy: one client's permanent refusal would then lock
//! everyone behind that proxy out of the document. `X-Forwarded-For` is believed only when the
//! TCP peer is a listed proxy; from anyone else it would let a client pick any address it likes.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// The `--trusted-proxies` list: addresses and networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list of addresses (`10.0.0.7`, `::1`) and networks
    /// (`10.0.0.0/8`); blank entries are skipped.
    pub fn parse(list: &str) -> Result<TrustedProxies, String> {
        list.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| {
                        format!("`{entry}` is neither an IP address nor a network like 10.0.0.0/8")
                    })
            })
            .collect::<Result<_, _>>()
            .map(TrustedProxies)
    }

    /// Whether no proxy is trusted (the default: `X-Forwarded-For` is ignored).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address: the TCP peer itself unless it is a trusted proxy; then the nearest
    /// address in `X-Forwarded-For` (read from the right, each proxy appends its own peer) that
    /// is not a trusted proxy too. An entry that does not parse ends the walk at the hop that
    /// added it, so a forged or garbled header can never name an address of its choosing.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let hops: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|value| value.to_str().ok())
            .flat_map(|value| value.split(','))
            .collect();
        for hop in hops.into_iter().rev() {
            let Some(ip) = parse_hop(hop.trim()) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// One `X-Forwarded-For` entry: an address, or an address with a port as some proxies write it.
fn parse_hop(hop: &str) -> Option<IpAddr> {
    hop.parse::<IpAddr>()
        .or_else(|_| hop.parse::<SocketAddr>().map(|s| s.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn forwarded(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    #[test]
    fn parses_addresses_and_networks_and_names_a_bad_entry() {
        let trusted = TrustedProxies::parse(" 127.0.0.1, 10.0.0.0/8 ,,::1").unwrap();
        assert!(trusted.trusts(ip("127.0.0.1")));
        assert!(trusted.trusts(ip("10.200.3.4")));
        assert!(trusted.trusts(ip("::1")));
        assert!(!trusted.trusts(ip("11.0.0.1")));
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        let err = TrustedProxies::parse("10.0.0.1,proxy.internal").unwrap_err();
        assert!(err.contains("proxy.internal"), "{err}");
    }

    #[test]
    fn an_untrusted_peer_cannot_choose_its_address() {
        let trusted = TrustedProxies::parse("10.0.0.1").unwrap();
        let peer = ip("203.0.113.9");
        assert_eq!(trusted.client_ip(peer, &forwarded(&["198.51.100.1"])), peer);
        let nobody = TrustedProxies::default();
        assert_eq!(
            nobody.client_ip(ip("10.0.0.1"), &forwarded(&["198.51.100.1"])),
            ip("10.0.0.1"),
            "no trusted proxies: the header is ignored"
        );
    }

    #[test]
    fn the_nearest_untrusted_hop_is_the_client() {
        let trusted = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let proxy = ip("10.0.0.1");
        // A client-supplied entry on the left is not believed: the last proxy's peer wins.
        let headers = forwarded(&["6.6.6.6, 198.51.100.7", "10.1.1.1"]);
        assert_eq!(trusted.client_ip(proxy, &headers), ip("198.51.100.7"));
        assert_eq!(
            trusted.client_ip(proxy, &forwarded(&["198.51.100.7:4567"])),
            ip("198.51.100.7")
        );
        assert_eq!(
            trusted.client_ip(proxy, &HeaderMap::new()),
            proxy,
            "no header: the proxy itself"
        );
        assert_eq!(
            trusted.client_ip(proxy, &forwarded(&["10.2.2.2, 10.3.3.3"])),
            ip("10.2.2.2"),
            "only proxies: the farthest one"
        );
        assert_eq!(
            trusted.client_ip(proxy, &forwarded(&["198.51.100.7, garbage, 10.3.3.3"])),
            ip("10.3.3.3"),
            "a garbled entry stops the walk at the hop that wrote it"
        );
    }

    #[test]
    fn ipv4_mapped_peers_match_ipv4_entries() {
        let trusted = TrustedProxies::parse("127.0.0.1").unwrap();
        let mapped = ip("::ffff:127.0.0.1");
        assert_eq!(
            trusted.client_ip(mapped, &forwarded(&["::ffff:198.51.100.7"])),
            ip("198.51.100.7")
        );
    }
}
