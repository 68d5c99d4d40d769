//! `Client`: a small blocking WebSocket client, for tests, the load tool's checks and any
//! program that wants to talk to a WebSocket server.
//!
//! Owns one TCP connection, its handshake (through `protocol::client_handshake`), masking
//! of outgoing frames with keys from the operating system's random source, and decoding of
//! incoming frames with the same `Assembler` the server uses (in its client role). Pings are
//! answered as they are read. It supports `ws://` URLs only.

use crate::protocol::client_handshake::{self, ResponseError};
use crate::protocol::frame::{MAX_HEADER_LEN, encode_header};
use crate::protocol::mask::apply_mask;
use crate::protocol::{
    Assembler, CloseCode, ClosePayload, Event, Message, OpCode, OwnedMessage, ProtocolError, Step,
};
use base64::Engine;
use std::fmt;
use std::io::{self, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

/// What can go wrong for a client.
#[derive(Debug)]
pub enum ClientError {
    /// The URL is not a `ws://` URL.
    Url(String),
    /// The socket failed.
    Io(io::Error),
    /// The server refused or botched the handshake.
    Handshake(ResponseError),
    /// The server broke the protocol.
    Protocol(ProtocolError),
    /// The connection is closed, with the server's close code (1005 if none, 1006 if the
    /// TCP connection ended without a close frame).
    Closed {
        /// The close code.
        code: CloseCode,
        /// The close reason.
        reason: String,
    },
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ClientError::Url(u) => write!(f, "not a ws:// URL: {u}"),
            ClientError::Io(e) => write!(f, "{e}"),
            ClientError::Handshake(e) => write!(f, "{e}"),
            ClientError::Protocol(e) => write!(f, "{e}"),
            ClientError::Closed { code, reason } => write!(f, "closed with {code} {reason}"),
        }
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Io(e) => Some(e),
            ClientError::Handshake(e) => Some(e),
            ClientError::Protocol(e) => Some(e),
            ClientError::Url(_) | ClientError::Closed { .. } => None,
        }
    }
}

impl From<io::Error> for ClientError {
    fn from(e: io::Error) -> Self {
        ClientError::Io(e)
    }
}

/// Client settings.
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Subprotocols to offer, in order of preference. Default none.
    pub protocols: Vec<String>,
    /// Largest message accepted from the server. Default 64 MiB.
    pub max_message_size: usize,
    /// Timeout for connecting, for the handshake and for each read and write. Default 30 s.
    pub timeout: Option<Duration>,
}

impl Default for ClientConfig {
    fn default() -> Self {
        ClientConfig {
            protocols: Vec::new(),
            max_message_size: 64 << 20,
            timeout: Some(Duration::from_secs(30)),
        }
    }
}

/// Anything the server sent that a caller may want to see.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Received {
    /// A data message.
    Message(OwnedMessage),
    /// A pong (the answer to `ping`).
    Pong(Vec<u8>),
}

/// A blocking WebSocket client.
///
/// ```no_run
/// use herald::{Client, Message, OwnedMessage};
///
/// let mut client = Client::connect("ws://127.0.0.1:8080/room/lobby")?;
/// client.send(Message::Text("hello"))?;
/// match client.recv()? {
///     OwnedMessage::Text(text) => println!("got {text}"),
///     OwnedMessage::Binary(bytes) => println!("got {} bytes", bytes.len()),
/// }
/// client.close(herald::CloseCode::NORMAL, "bye")?;
/// # Ok::<(), herald::ClientError>(())
/// ```
pub struct Client {
    stream: TcpStream,
    rbuf: Vec<u8>,
    wbuf: Vec<u8>,
    assembler: Assembler,
    protocol: Option<String>,
    entropy: [u8; 64],
    entropy_used: usize,
    closed: Option<(CloseCode, String)>,
}

/// Host (with port, for the `Host` header), socket address host, port and target.
fn parse_url(url: &str) -> Result<(String, String, u16, String), ClientError> {
    let bad = || ClientError::Url(url.to_string());
    let rest = url.strip_prefix("ws://").ok_or_else(bad)?;
    let (authority, target) = match rest.find(['/', '?']) {
        Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let (host, port) = match authority.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => {
            (h, p.parse::<u16>().map_err(|_| bad())?)
        }
        _ => (authority, 80),
    };
    if host.is_empty() {
        return Err(bad());
    }
    let socket_host = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    Ok((authority.to_string(), socket_host, port, target))
}

impl Client {
    /// Connect to a `ws://HOST:PORT/PATH` URL with default settings.
    pub fn connect(url: &str) -> Result<Client, ClientError> {
        Client::connect_with(url, &ClientConfig::default())
    }

    /// Connect with the given settings.
    pub fn connect_with(url: &str, config: &ClientConfig) -> Result<Client, ClientError> {
        let (authority, host, port, target) = parse_url(url)?;
        let addrs: Vec<SocketAddr> = (host.as_str(), port).to_socket_addrs()?.collect();
        let mut last_err = io::Error::new(io::ErrorKind::NotFound, "no address");
        let mut stream = None;
        for addr in addrs {
            let attempt = match config.timeout {
                Some(t) => TcpStream::connect_timeout(&addr, t),
                None => TcpStream::connect(addr),
            };
            match attempt {
                Ok(s) => {
                    stream = Some(s);
                    break;
                }
                Err(e) => last_err = e,
            }
        }
        let stream = stream.ok_or(last_err)?;
        stream.set_nodelay(true)?;
        stream.set_read_timeout(config.timeout)?;
        stream.set_write_timeout(config.timeout)?;
        let mut client = Client {
            stream,
            rbuf: Vec::new(),
            wbuf: Vec::new(),
            assembler: Assembler::for_client(config.max_message_size),
            protocol: None,
            entropy: [0; 64],
            entropy_used: 64,
            closed: None,
        };
        let mut key = [0u8; 16];
        client.random(&mut key)?;
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let offered: Vec<&str> = config.protocols.iter().map(String::as_str).collect();
        let request = client_handshake::request(&authority, &target, &key, &offered);
        client.stream.write_all(&request)?;
        let mut chunk = [0u8; 4096];
        // One parser for the whole head: a response trickled in many reads costs linear time.
        let mut parser = client_handshake::ResponseParser::default();
        loop {
            match parser.parse(&client.rbuf, &key, &offered, 16 << 10) {
                Ok(Some(accepted)) => {
                    client.rbuf.drain(..accepted.consumed);
                    client.protocol = accepted.protocol;
                    return Ok(client);
                }
                Ok(None) => {}
                Err(e) => return Err(ClientError::Handshake(e)),
            }
            let n = client.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(ClientError::Io(io::ErrorKind::UnexpectedEof.into()));
            }
            client.rbuf.extend_from_slice(&chunk[..n]);
        }
    }

    /// Fill `out` from the OS's random source, batching the system calls.
    fn random(&mut self, out: &mut [u8]) -> io::Result<()> {
        for b in out {
            if self.entropy_used == self.entropy.len() {
                getrandom::fill(&mut self.entropy).map_err(io::Error::other)?;
                self.entropy_used = 0;
            }
            *b = self.entropy[self.entropy_used];
            self.entropy_used += 1;
        }
        Ok(())
    }

    /// The subprotocol the server selected.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The local address of the connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.local_addr()
    }

    /// Change the read timeout (`None` blocks forever).
    pub fn set_read_timeout(&self, timeout: Option<Duration>) -> io::Result<()> {
        self.stream.set_read_timeout(timeout)
    }

    fn check_open(&self) -> Result<(), ClientError> {
        match &self.closed {
            Some((code, reason)) => Err(ClientError::Closed {
                code: *code,
                reason: reason.clone(),
            }),
            None => Ok(()),
        }
    }

    fn write_frame(&mut self, opcode: OpCode, payload: &[u8]) -> Result<(), ClientError> {
        let mut key = [0u8; 4];
        self.random(&mut key)?;
        let mut header = [0u8; MAX_HEADER_LEN];
        let n = encode_header(&mut header, true, opcode, Some(key), payload.len());
        self.wbuf.clear();
        self.wbuf.extend_from_slice(&header[..n]);
        self.wbuf.extend_from_slice(payload);
        apply_mask(&mut self.wbuf[n..], key, 0);
        self.stream.write_all(&self.wbuf)?;
        Ok(())
    }

    /// Send a message.
    pub fn send(&mut self, msg: Message<'_>) -> Result<(), ClientError> {
        self.check_open()?;
        self.write_frame(msg.opcode(), msg.as_bytes())
    }

    /// Send a text message.
    pub fn send_text(&mut self, text: &str) -> Result<(), ClientError> {
        self.send(Message::Text(text))
    }

    /// Send a binary message.
    pub fn send_binary(&mut self, data: &[u8]) -> Result<(), ClientError> {
        self.send(Message::Binary(data))
    }

    /// Send a ping (at most 125 bytes); its pong shows up in `recv_event`.
    pub fn ping(&mut self, payload: &[u8]) -> Result<(), ClientError> {
        self.check_open()?;
        if payload.len() > 125 {
            return Err(ClientError::Protocol(ProtocolError::CONTROL_TOO_LONG));
        }
        self.write_frame(OpCode::Ping, payload)
    }

    /// The next message, answering pings and skipping pongs on the way.
    pub fn recv(&mut self) -> Result<OwnedMessage, ClientError> {
        loop {
            if let Received::Message(m) = self.recv_event()? {
                return Ok(m);
            }
        }
    }

    /// The next message or pong.
    pub fn recv_event(&mut self) -> Result<Received, ClientError> {
        self.check_open()?;
        loop {
            let (used, outcome) = match self.assembler.next(&mut self.rbuf) {
                Err(e) => {
                    let _ = self.write_frame(OpCode::Close, &e.code.to_bytes());
                    self.closed = Some((e.code, e.reason.to_string()));
                    return Err(ClientError::Protocol(e));
                }
                Ok(Step::NeedMore) => (0, None),
                Ok(Step::Consumed(n)) => (n, None),
                Ok(Step::Event(n, event)) => (n, Some(Self::own(event))),
            };
            self.rbuf.drain(..used);
            match outcome {
                Some(Incoming::Message(m)) => return Ok(Received::Message(m)),
                Some(Incoming::Pong(p)) => return Ok(Received::Pong(p)),
                Some(Incoming::Ping(p)) => self.write_frame(OpCode::Pong, &p)?,
                Some(Incoming::Close(code, reason)) => {
                    // Echo the close, then the server closes TCP.
                    let reply = if code == CloseCode::NO_STATUS {
                        CloseCode::NORMAL
                    } else {
                        code
                    };
                    let _ = self.write_frame(OpCode::Close, &reply.to_bytes());
                    self.closed = Some((code, reason.clone()));
                    return Err(ClientError::Closed { code, reason });
                }
                None if used > 0 => {}
                None => self.fill()?,
            }
        }
    }

    /// Read more bytes; a TCP close without a close frame is 1006.
    fn fill(&mut self) -> Result<(), ClientError> {
        let start = self.rbuf.len();
        self.rbuf.resize(start + (16 << 10), 0);
        let result = self.stream.read(&mut self.rbuf[start..]);
        self.rbuf.truncate(start + *result.as_ref().unwrap_or(&0));
        match result? {
            0 => {
                self.closed = Some((CloseCode::ABNORMAL, String::new()));
                Err(ClientError::Closed {
                    code: CloseCode::ABNORMAL,
                    reason: String::new(),
                })
            }
            _ => Ok(()),
        }
    }

    fn own(event: Event<'_>) -> Incoming {
        match event {
            Event::Message(m) => Incoming::Message(m.into()),
            Event::Ping(p) => Incoming::Ping(p.to_vec()),
            Event::Pong(p) => Incoming::Pong(p.to_vec()),
            Event::Close(ClosePayload::Empty) => {
                Incoming::Close(CloseCode::NO_STATUS, String::new())
            }
            Event::Close(ClosePayload::Code(c, r)) => Incoming::Close(c, r.to_string()),
            // The client never offers compression, so its assembler refuses RSV1 first.
            Event::Compressed { .. } => Incoming::Close(
                CloseCode::PROTOCOL_ERROR,
                "compression was not negotiated".to_string(),
            ),
        }
    }

    /// Close with `code` and `reason`, wait for the server's close frame (skipping any
    /// messages still arriving) and the end of the TCP connection. Returns the server's
    /// close code.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<CloseCode, ClientError> {
        self.check_open()?;
        let mut payload = code.to_bytes().to_vec();
        payload.extend_from_slice(reason.as_bytes());
        self.write_frame(OpCode::Close, &payload)?;
        let answer = loop {
            match self.recv_event() {
                Ok(_) => continue,
                Err(ClientError::Closed { code, .. }) => break code,
                Err(e) => return Err(e),
            }
        };
        let _ = self.stream.shutdown(Shutdown::Write);
        let mut sink = [0u8; 256];
        while matches!(self.stream.read(&mut sink), Ok(n) if n > 0) {}
        Ok(answer)
    }
}

/// What `recv_event` decoded, owned so the buffer can move on.
enum Incoming {
    Message(OwnedMessage),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    Close(CloseCode, String),
}

#[cfg(test)]
mod tests {
    use super::parse_url;

    #[test]
    fn urls() {
        let p = |u: &str| parse_url(u).ok();
        assert_eq!(
            p("ws://127.0.0.1:8080/room/a?x=1"),
            Some((
                "127.0.0.1:8080".into(),
                "127.0.0.1".into(),
                8080,
                "/room/a?x=1".into()
            ))
        );
        assert_eq!(
            p("ws://localhost"),
            Some(("localhost".into(), "localhost".into(), 80, "/".into()))
        );
        assert_eq!(
            p("ws://h:1?q"),
            Some(("h:1".into(), "h".into(), 1, "/?q".into()))
        );
        assert_eq!(
            p("ws://[::1]:9/"),
            Some(("[::1]:9".into(), "::1".into(), 9, "/".into()))
        );
        assert_eq!(p("wss://h/"), None);
        assert_eq!(p("ws://h:x/"), None);
        assert_eq!(p("ws:///"), None);
    }
}
