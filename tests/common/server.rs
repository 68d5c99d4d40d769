//! Starting a server under test: a free loopback port, a thread of its own, and a TCP
//! connection to it with timeouts (so a server that stops answering fails the test instead
//! of hanging it).

use herald::{Config, Handler, Server};
use std::net::{SocketAddr, TcpStream};
use std::sync::mpsc;
use std::thread;
use std::time::Duration;

/// How long any single read or write may block before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(10);

/// A config listening on a free loopback port, everything else default.
pub fn config() -> Config {
    let mut config = Config::default();
    config.listen = "127.0.0.1:0".parse().unwrap();
    config
}

/// Start a server with `config` and `handler` on its own thread and return its address.
///
/// `Server` is not `Send` (its frames are `Rc`-shared), so it is bound on the thread that
/// runs it; this returns once the listening socket exists, so connections made afterwards
/// are accepted without any waiting. The thread runs until the test process exits.
pub fn start<H: Handler + Send + 'static>(config: Config, handler: H) -> SocketAddr {
    let (tx, rx) = mpsc::channel();
    thread::Builder::new()
        .name("herald-server".into())
        .spawn(move || {
            let mut server = match Server::bind(config, handler) {
                Ok(server) => server,
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let _ = tx.send(Ok(server.local_addr()));
            if let Err(e) = server.run() {
                panic!("server loop failed: {e}");
            }
        })
        .expect("spawn server thread");
    rx.recv()
        .expect("server thread died before binding")
        .expect("bind failed")
}

/// A TCP connection with read and write timeouts and Nagle off.
pub fn tcp(addr: SocketAddr) -> TcpStream {
    let stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.set_nodelay(true).unwrap();
    stream
}
