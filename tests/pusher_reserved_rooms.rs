//! `PusherApp` around a handler whose room names may be anything: a peer the wrapped
//! handler puts in one of the Pusher endpoint's own rooms (`pusher:...`) is taken out and
//! closed with 1008, so it can neither read a channel nor forge the control room's traffic.
//! (The daemon's chat rooms cannot name them at all: their names have no `:`.) Clients:
//! tungstenite.

#![cfg(feature = "pusher")]

mod common;

use common::{config, start};
use herald::pusher::{App, Apps};
use herald::{Context, Handler, PeerId, PusherApp, Request};
use std::time::Duration;
use tungstenite::Message as Ws;

/// Joins the room its path names, verbatim.
#[derive(Clone)]
struct RoomsByPath;

impl Handler for RoomsByPath {
    fn on_open(&mut self, ctx: &mut Context<'_>, peer: PeerId, req: &Request) {
        let room = req.path().trim_start_matches('/').to_string();
        ctx.join(peer, room.as_str());
    }
}

#[test]
fn a_wrapped_handler_cannot_put_a_peer_in_a_pusher_room() {
    let app: App = "7:the-key:the-secret".parse().unwrap();
    let addr = start(
        config(),
        PusherApp::new(Apps::new(vec![app]).unwrap(), RoomsByPath),
    );
    for path in ["/pusher:7:news", "/pusher:control"] {
        let (mut ws, _) = tungstenite::connect(format!("ws://{addr}{path}")).expect("upgrade");
        if let tungstenite::stream::MaybeTlsStream::Plain(tcp) = ws.get_mut() {
            // Without the refusal no close would come: fail rather than hang.
            tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        }
        let code = loop {
            match ws.read() {
                Ok(Ws::Close(frame)) => break frame.map(|f| u16::from(f.code)),
                Ok(_) => continue,
                Err(e) => panic!("{path}: {e}"),
            }
        };
        assert_eq!(code, Some(1008), "{path}");
    }
    // A room of its own is the wrapped handler's to serve.
    let (mut ws, _) = tungstenite::connect(format!("ws://{addr}/lobby")).expect("upgrade");
    ws.send(Ws::Ping(vec![1].into())).unwrap();
    assert!(matches!(ws.read().unwrap(), Ws::Pong(_)));
}
