//! The client's address behind proxies the operator trusts (`TRUSTED_PROXIES`). Without that
//! setting the peer's address is the client's: a header is only believed when it comes from a
//! proxy that is known to set it, or anyone could pick the address that rate limits and the
//! audit log see. Only `X-Forwarded-For` is read (what common proxies append to): believing a
//! second header as well would let a client forge the one its proxy does not write.

use std::net::IpAddr;

use http::HeaderMap;
use ipnet::IpNet;

/// The address the request came from: the peer's, or, when the peer is a trusted proxy, the
/// nearest address in `X-Forwarded-For` that is not itself a trusted proxy, read from the
/// right, where the proxies nearest to us appended theirs. An entry that is not an address
/// ends the walk at the last trusted hop: what lies left of it is the client's to write.
pub fn client_ip(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    // An IPv4 client on a dual-stack socket arrives as ::ffff:a.b.c.d: compare it as IPv4.
    let peer = peer.to_canonical();
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> =
        headers.get_all("x-forwarded-for").iter().filter_map(|v| v.to_str().ok()).flat_map(|v| v.split(',')).map(str::trim).collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let Some(hop) = address(entry) else { break };
        client = hop;
        if !is_trusted(&hop) {
            break;
        }
    }
    client
}

/// An entry as proxies write them: an address, maybe with a port (`1.2.3.4:80`, `[::1]:80`).
fn address(entry: &str) -> Option<IpAddr> {
    let bare = match entry.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None if entry.matches(':').count() == 1 => entry.split(':').next()?,
        None => entry,
    };
    bare.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, value.parse().unwrap());
        }
        map
    }

    #[test]
    fn headers_from_an_untrusted_peer_are_ignored() {
        let peer: IpAddr = "203.0.113.9".parse().unwrap();
        let forged = headers(&[("x-forwarded-for", "1.2.3.4")]);
        assert_eq!(client_ip(peer, &forged, &[]), peer);
        assert_eq!(client_ip(peer, &forged, &["10.0.0.0/8".parse().unwrap()]), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_nearest_untrusted_hop_is_the_client() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        // The client forged the first entry; our proxies appended the real one after it.
        let chain = headers(&[("x-forwarded-for", "1.2.3.4, 198.51.100.7, 10.0.0.1")]);
        assert_eq!(client_ip(peer, &chain, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip(peer, &HeaderMap::new(), &trusted), peer, "no header: the proxy itself");
        let forwarded_only = headers(&[("forwarded", "for=1.2.3.4")]);
        assert_eq!(client_ip(peer, &forwarded_only, &trusted), peer, "Forwarded is not read");
    }

    #[test]
    fn ports_brackets_and_mapped_addresses_are_read_as_addresses() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let mapped: IpAddr = "::ffff:10.0.0.2".parse().unwrap();
        let chain = headers(&[("x-forwarded-for", "[2001:db8::7]:443, 198.51.100.7:5000")]);
        assert_eq!(client_ip(mapped, &chain, &trusted), "198.51.100.7".parse::<IpAddr>().unwrap());
        let v6 = headers(&[("x-forwarded-for", "[2001:db8::7]:443")]);
        assert_eq!(client_ip(mapped, &v6, &trusted), "2001:db8::7".parse::<IpAddr>().unwrap());
        assert_eq!(client_ip("::ffff:203.0.113.9".parse().unwrap(), &v6, &[]), "203.0.113.9".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn an_entry_that_is_not_an_address_ends_the_walk() {
        let trusted: Vec<IpNet> = vec!["10.0.0.0/8".parse().unwrap()];
        let peer: IpAddr = "10.0.0.2".parse().unwrap();
        let garbled = headers(&[("x-forwarded-for", "1.2.3.4, unknown, 10.0.0.1")]);
        assert_eq!(client_ip(peer, &garbled, &trusted), "10.0.0.1".parse::<IpAddr>().unwrap());
    }
}
