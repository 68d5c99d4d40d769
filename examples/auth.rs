//! Refuse upgrades without the right token: `ws://HOST:PORT/?token=SECRET` or a cookie
//! `token=SECRET`. No token: 401. A wrong one: 403. Accepted clients get an echo server.
//!
//! `HERALD_TOKEN=secret cargo run --example auth -- 127.0.0.1:9004`

use herald::{Config, Context, Handler, Message, PeerId, Rejection, Request, Server, Status};

/// Checks a shared-secret token before the upgrade.
pub struct TokenGate {
    /// The token clients must present.
    pub token: String,
}

/// The token a request presents, from its query string or its cookies.
fn presented(req: &Request) -> Option<&str> {
    let from_query = req
        .query()
        .and_then(|q| q.split('&').find_map(|kv| kv.strip_prefix("token=")));
    let from_cookie = || {
        req.cookie
            .as_deref()?
            .split(';')
            .find_map(|kv| kv.trim().strip_prefix("token="))
    };
    from_query.or_else(from_cookie)
}

impl Handler for TokenGate {
    fn on_upgrade(&mut self, _ctx: &mut Context<'_>, req: &Request) -> Result<(), Rejection> {
        match presented(req) {
            None => Err(Rejection::new(Status::Unauthorized, "token required")),
            Some(t) if t != self.token => Err(Rejection::new(Status::Forbidden, "bad token")),
            Some(_) => Ok(()),
        }
    }

    fn on_message(&mut self, ctx: &mut Context<'_>, peer: PeerId, msg: Message<'_>) {
        ctx.send(peer, msg);
    }
}

#[allow(dead_code)] // tests include this file for its handler
fn main() -> Result<(), Box<dyn std::error::Error>> {
    let listen = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:9004".into());
    let token = std::env::var("HERALD_TOKEN").unwrap_or_else(|_| "secret".into());
    let config = {
        let mut config = Config::default();
        config.listen = listen.parse()?;
        config
    };
    let mut server = Server::bind(config, TokenGate { token })?;
    println!(
        "authenticated echo on ws://{}/?token=...",
        server.local_addr()
    );
    server.run()?;
    Ok(())
}
