//! Reference chat server for `scripts/bench.sh --compare`: every message a client sends goes
//! to every other client, on a current-thread tokio runtime (one core, like herald).
//!
//! The shape is the one the tokio-tungstenite examples teach: a shared map of per-client
//! channels, a reader loop per client that fans each message out with `Message::clone`
//! (the payload is `Bytes`, so a clone is a reference count), and a writer task per client
//! that feeds its sink everything already queued before one flush.
//!
//! Usage: herald-reference-tokio-tungstenite --listen 127.0.0.1:PORT

use futures_util::{SinkExt, StreamExt};
use std::cell::RefCell;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::rc::Rc;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::mpsc;
use tokio_tungstenite::tungstenite::Message;

type Peers = Rc<RefCell<HashMap<u64, mpsc::UnboundedSender<Message>>>>;

fn listen_addr() -> SocketAddr {
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

#[tokio::main(flavor = "current_thread")]
async fn main() -> std::io::Result<()> {
    let listener = TcpListener::bind(listen_addr()).await?;
    eprintln!("listening on ws://{}", listener.local_addr()?);
    let peers = Peers::default();
    // Rc + RefCell: a current-thread runtime runs every task on this thread (LocalSet).
    let local = tokio::task::LocalSet::new();
    local
        .run_until(async move {
            let mut next_id = 0u64;
            loop {
                let (stream, _) = match listener.accept().await {
                    Ok(accepted) => accepted,
                    Err(e) => {
                        // EMFILE and friends: keep serving the connections we have.
                        eprintln!("accept: {e}");
                        tokio::task::yield_now().await;
                        continue;
                    }
                };
                next_id += 1;
                tokio::task::spawn_local(serve(peers.clone(), next_id, stream));
            }
        })
        .await
}

async fn serve(peers: Peers, id: u64, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let Ok(ws) = tokio_tungstenite::accept_async(stream).await else {
        return;
    };
    let (mut sink, mut source) = ws.split();
    let (tx, mut rx) = mpsc::unbounded_channel::<Message>();
    peers.borrow_mut().insert(id, tx);

    // Writer: feed everything already queued, then flush once.
    let writer = tokio::task::spawn_local(async move {
        while let Some(msg) = rx.recv().await {
            if sink.feed(msg).await.is_err() {
                return;
            }
            while let Ok(msg) = rx.try_recv() {
                if sink.feed(msg).await.is_err() {
                    return;
                }
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = sink.close().await;
    });

    // Reader: fan each data message out to every other client. Pings are answered and a
    // close frame is echoed by tungstenite itself while we keep reading.
    while let Some(Ok(msg)) = source.next().await {
        if msg.is_binary() || msg.is_text() {
            for (&peer, tx) in peers.borrow().iter() {
                if peer != id {
                    let _ = tx.send(msg.clone());
                }
            }
        }
    }
    // Dropping our sender ends the writer, which drops its half of the socket.
    peers.borrow_mut().remove(&id);
    let _ = writer.await;
}
