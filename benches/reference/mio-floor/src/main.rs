//! The floor for `scripts/bench.sh --compare`: a minimal mio fan-out on one thread, where
//! every data message a client sends goes to every other client. It does only what the
//! benchmark needs: the upgrade (the key's accept value, nothing else checked), frame
//! boundaries and unmasking, a pong for a ping, a close echoed. No UTF-8 check, no limits,
//! no timeouts, no fragments, no backlog policy; each frame is encoded once and copied into
//! every recipient's buffer, and each connection that got output is written once per turn.
//! What herald does beyond this is what its validation and policies cost.
//!
//! Usage: herald-reference-mio-floor --listen 127.0.0.1:PORT

use base64::Engine;
use mio::net::{TcpListener, TcpStream};
use mio::{Events, Interest, Poll, Token};
use sha1::{Digest, Sha1};
use std::io::{ErrorKind, Read, Write};

const LISTENER: Token = Token(usize::MAX);

struct Conn {
    stream: TcpStream,
    open: bool,
    /// Bytes read and not yet parsed.
    rbuf: Vec<u8>,
    /// Bytes to write.
    wbuf: Vec<u8>,
    /// Close once `wbuf` is written.
    closing: bool,
}

fn listen_addr() -> std::net::SocketAddr {
    let mut args = std::env::args().skip(1);
    let mut listen = "127.0.0.1:8080".to_string();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--listen" => listen = args.next().expect("--listen needs an address"),
            other => {
                eprintln!("unknown argument '{other}'\nusage: --listen ADDR");
                std::process::exit(2);
            }
        }
    }
    listen.parse().expect("--listen: not a socket address")
}

/// A server frame (FIN set, unmasked) into `out`.
fn encode(out: &mut Vec<u8>, opcode: u8, payload: &[u8]) {
    out.push(0x80 | opcode);
    match payload.len() {
        n if n < 126 => out.push(n as u8),
        n if n <= 0xffff => {
            out.push(126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(payload);
}

/// The 101 for a request head, or `None` if it has no key.
fn upgrade(head: &[u8]) -> Option<Vec<u8>> {
    let head = std::str::from_utf8(head).ok()?;
    let key = head.lines().find_map(|l| {
        let (name, value) = l.split_once(':')?;
        name.trim()
            .eq_ignore_ascii_case("sec-websocket-key")
            .then(|| value.trim())
    })?;
    let mut sha = Sha1::new();
    sha.update(key.as_bytes());
    sha.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    let accept = base64::engine::general_purpose::STANDARD.encode(sha.finalize());
    Some(
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n\r\n"
        )
        .into_bytes(),
    )
}

/// One whole client frame at the start of `buf`: (opcode, payload range), its length;
/// `None` if it is not all there.
fn next_frame(buf: &mut [u8]) -> Option<(u8, std::ops::Range<usize>, usize)> {
    if buf.len() < 2 {
        return None;
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 => (u16::from_be_bytes([*buf.get(2)?, *buf.get(3)?]) as usize, 4),
        127 => {
            let mut be = [0u8; 8];
            be.copy_from_slice(buf.get(2..10)?);
            (u64::from_be_bytes(be) as usize, 10)
        }
        n => (n as usize, 2),
    };
    let mut key = [0u8; 4];
    if masked {
        key.copy_from_slice(buf.get(at..at + 4)?);
        at += 4;
    }
    let end = at.checked_add(len)?;
    if buf.len() < end {
        return None;
    }
    if masked {
        for (i, b) in buf[at..end].iter_mut().enumerate() {
            *b ^= key[i & 3];
        }
    }
    Some((opcode, at..end, end))
}

fn main() -> std::io::Result<()> {
    let mut poll = Poll::new()?;
    let mut listener = TcpListener::bind(listen_addr())?;
    eprintln!("listening on ws://{}", listener.local_addr()?);
    poll.registry()
        .register(&mut listener, LISTENER, Interest::READABLE)?;
    let mut conns: Vec<Option<Conn>> = Vec::new();
    let mut free: Vec<usize> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut scratch = vec![0u8; 64 << 10];
    let mut frame = Vec::new();
    let mut dirty: Vec<usize> = Vec::new();
    let mut gone: Vec<usize> = Vec::new();
    loop {
        poll.poll(&mut events, None)?;
        for event in events.iter() {
            if event.token() == LISTENER {
                while let Ok((mut stream, _)) = listener.accept() {
                    let _ = stream.set_nodelay(true);
                    let slot = free.pop().unwrap_or_else(|| {
                        conns.push(None);
                        conns.len() - 1
                    });
                    poll.registry().register(
                        &mut stream,
                        Token(slot),
                        Interest::READABLE | Interest::WRITABLE,
                    )?;
                    conns[slot] = Some(Conn {
                        stream,
                        open: false,
                        rbuf: Vec::new(),
                        wbuf: Vec::new(),
                        closing: false,
                    });
                }
                continue;
            }
            let slot = event.token().0;
            if event.is_writable() {
                dirty.push(slot);
            }
            if !(event.is_readable() || event.is_read_closed() || event.is_error()) {
                continue;
            }
            // Read until it would block; parse as we go.
            loop {
                let Some(conn) = conns[slot].as_mut() else { break };
                let n = match conn.stream.read(&mut scratch) {
                    Ok(0) => {
                        gone.push(slot);
                        break;
                    }
                    Ok(n) => n,
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                    Err(_) => {
                        gone.push(slot);
                        break;
                    }
                };
                conn.rbuf.extend_from_slice(&scratch[..n]);
                if !conn.open {
                    let Some(end) = conn.rbuf.windows(4).position(|w| w == b"\r\n\r\n") else {
                        continue;
                    };
                    let Some(response) = upgrade(&conn.rbuf[..end]) else {
                        gone.push(slot);
                        break;
                    };
                    conn.wbuf.extend_from_slice(&response);
                    conn.rbuf.drain(..end + 4);
                    conn.open = true;
                    dirty.push(slot);
                }
                let mut rbuf = std::mem::take(&mut conn.rbuf);
                let mut used = 0;
                while let Some((opcode, payload, len)) = next_frame(&mut rbuf[used..]) {
                    let payload = &rbuf[used + payload.start..used + payload.end];
                    match opcode {
                        0x1 | 0x2 => {
                            frame.clear();
                            encode(&mut frame, opcode, payload);
                            for (i, other) in conns.iter_mut().enumerate() {
                                if let Some(other) = other
                                    && i != slot
                                    && other.open
                                    && !other.closing
                                {
                                    if other.wbuf.is_empty() {
                                        dirty.push(i);
                                    }
                                    other.wbuf.extend_from_slice(&frame);
                                }
                            }
                        }
                        0x8 | 0x9 => {
                            let Some(conn) = conns[slot].as_mut() else { break };
                            let reply = if opcode == 0x8 { 0x8 } else { 0xa };
                            encode(&mut conn.wbuf, reply, payload);
                            conn.closing |= opcode == 0x8;
                            dirty.push(slot);
                        }
                        _ => {}
                    }
                    used += len;
                }
                rbuf.drain(..used);
                if let Some(conn) = conns[slot].as_mut() {
                    conn.rbuf = rbuf;
                }
            }
        }
        // One write per connection that got output.
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty.drain(..) {
            let Some(conn) = conns[slot].as_mut() else { continue };
            while !conn.wbuf.is_empty() {
                match conn.stream.write(&conn.wbuf) {
                    Ok(n) => {
                        conn.wbuf.drain(..n);
                    }
                    Err(e) if e.kind() == ErrorKind::Interrupted => {}
                    Err(e) if e.kind() == ErrorKind::WouldBlock => break,
                    Err(_) => {
                        gone.push(slot);
                        break;
                    }
                }
            }
            if conn.closing && conn.wbuf.is_empty() {
                let _ = conn.stream.shutdown(std::net::Shutdown::Write);
            }
        }
        for slot in gone.drain(..) {
            if let Some(mut conn) = conns[slot].take() {
                let _ = poll.registry().deregister(&mut conn.stream);
                free.push(slot);
            }
        }
    }
}
