//! An independent client (tungstenite) for the well-behaved side of the tests: connect,
//! send, and receive with pings skipped.

use super::*;
use std::net::{SocketAddr, TcpStream};
use tungstenite::client::IntoClientRequest;
use tungstenite::handshake::client::Response;
use tungstenite::{Message, WebSocket};

/// A blocking tungstenite client over a plain TCP stream.
pub type Ws = WebSocket<TcpStream>;

/// The `ws://` URL of a server.
pub fn url(addr: SocketAddr) -> String {
    format!("ws://{addr}/")
}

/// Connect a tungstenite client and complete its handshake. Once this returns, the server
/// has registered the peer (it does so before it writes the 101), so it gets every message
/// broadcast from now on.
pub fn ws_connect(addr: SocketAddr) -> Ws {
    ws_connect_request(addr, url(addr)).0
}

/// Connect with a custom request (headers, subprotocols) and return the 101 response too.
pub fn ws_connect_request<R: IntoClientRequest>(addr: SocketAddr, request: R) -> (Ws, Response) {
    ws_try_connect(addr, request).unwrap_or_else(|e| panic!("handshake failed: {e}"))
}

/// Connect with a custom request; the handshake error as a string.
pub fn ws_try_connect<R: IntoClientRequest>(
    addr: SocketAddr,
    request: R,
) -> Result<(Ws, Response), String> {
    tungstenite::client(request, tcp(addr)).map_err(|e| e.to_string())
}

/// The next data or close message; pings and pongs are skipped.
pub fn recv(ws: &mut Ws) -> Message {
    loop {
        match ws.read() {
            Ok(Message::Ping(_) | Message::Pong(_)) => continue,
            Ok(msg) => return msg,
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// The next message, which must be text.
pub fn recv_text(ws: &mut Ws) -> String {
    match recv(ws) {
        Message::Text(t) => t.as_str().to_owned(),
        other => panic!("expected a text message, got {}", describe(&other)),
    }
}

/// The next message, which must be binary.
pub fn recv_binary(ws: &mut Ws) -> Vec<u8> {
    match recv(ws) {
        Message::Binary(b) => b.to_vec(),
        other => panic!("expected a binary message, got {}", describe(&other)),
    }
}

/// A short description of a message, without dumping a megabyte payload.
pub fn describe(msg: &Message) -> String {
    match msg {
        Message::Text(t) => format!("text of {} bytes {:?}", t.len(), trunc(t.as_bytes())),
        Message::Binary(b) => format!("binary of {} bytes", b.len()),
        Message::Close(c) => format!("close {c:?}"),
        other => format!("{other:?}"),
    }
}

fn trunc(b: &[u8]) -> String {
    String::from_utf8_lossy(&b[..b.len().min(40)]).into_owned()
}

/// Send a text message.
pub fn send_text(ws: &mut Ws, text: &str) {
    ws.send(Message::text(text)).expect("send text");
}

/// Send a binary message.
pub fn send_binary(ws: &mut Ws, data: &[u8]) {
    ws.send(Message::binary(data.to_vec()))
        .expect("send binary");
}
