//! `PeerInfo`: what a handler may know of a peer (its client address, the upgrade's path,
//! query and subprotocol), borrowed from the connection for the time of one call.
//!
//! A plain record: the registry fills it from its connection, `Context::peer_info` hands it
//! out. It decides nothing and holds nothing of its own.

use std::net::SocketAddr;

/// What is known of a peer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerInfo<'a> {
    /// The client's address: the TCP peer's, or the client that a PROXY protocol header
    /// (`Config::proxy_protocol`) or a trusted proxy's forwarding header
    /// (`Config::trusted_proxies`) names (port 0 when the header gives none). A peer on a
    /// Unix socket (`Server::bind_unix`) without either is `0.0.0.0:0`.
    pub addr: SocketAddr,
    /// The path of the upgrade request.
    pub path: &'a str,
    /// The query string of the upgrade request, if any.
    pub query: Option<&'a str>,
    /// The negotiated subprotocol, if any.
    pub protocol: Option<&'a str>,
}
