//! The `herald` daemon: parse the command line, start the chosen handler, log, serve.

mod cli;

use cli::{Command, Mode, Scale};
use herald::{ChatRoom, Config, Echo, Handle, Handler, Server};
use std::process::ExitCode;

fn serve<H: Handler>(config: Config, handler: H, mode: &str) -> ExitCode {
    let listen = config.listen;
    let scheme = scheme(&config);
    let mut server = match Server::bind(config, handler) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("herald: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    log::info!(
        "herald {} listening on {scheme}://{} ({mode} mode)",
        env!("CARGO_PKG_VERSION"),
        server.local_addr()
    );
    if let Err(e) = watch_signals(vec![server.handle()]) {
        eprintln!("herald: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// SIGTERM or SIGINT: shut down gracefully (close 1001 to every peer, then exit 0). A
/// second one: exit at once. The signals arrive on a small thread that talks to the loops
/// (one per worker) through their `Handle`s, like any other thread would.
fn watch_signals(handles: Vec<Handle>) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            if let Some(sig) = signals.next() {
                log::info!("signal {sig}: shutting down (send it again to exit at once)");
                for handle in &handles {
                    let _ = handle.shutdown();
                }
            }
            if let Some(sig) = signals.next() {
                log::warn!("signal {sig} again: exiting now");
                std::process::exit(1);
            }
        })?;
    Ok(())
}

/// `wss` when serving TLS, else `ws`, for the startup line.
fn scheme(config: &Config) -> &'static str {
    #[cfg(feature = "tls")]
    if config.tls.is_some() {
        return "wss";
    }
    let _ = config;
    "ws"
}

fn main() -> ExitCode {
    let opts = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(opts)) => opts,
        Ok(Command::Help) => {
            print!("{}", cli::HELP);
            return ExitCode::SUCCESS;
        }
        Ok(Command::Version) => {
            println!("herald {}", env!("CARGO_PKG_VERSION"));
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("herald: {e}\nTry 'herald --help' for the list of options.");
            return ExitCode::from(2);
        }
    };
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info")).init();
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut opts = opts;
    if let Some((cert, key)) = &opts.tls_files {
        #[cfg(feature = "tls")]
        match herald::TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => opts.config.tls = Some(tls),
            Err(e) => {
                eprintln!("herald: {e}");
                return ExitCode::from(1);
            }
        }
        #[cfg(not(feature = "tls"))]
        {
            eprintln!("herald: built without the tls feature: cannot use {cert} and {key}");
            return ExitCode::from(1);
        }
    }
    let chat = ChatRoom::new(opts.include_sender);
    match (opts.mode, opts.scale.is_single()) {
        (Mode::Chat, true) => serve(opts.config, chat, "chat"),
        (Mode::Echo, true) => serve(opts.config, Echo, "echo"),
        (Mode::Chat, false) => serve_scaled(opts.config, &opts.scale, chat, "chat"),
        (Mode::Echo, false) => serve_scaled(opts.config, &opts.scale, Echo, "echo"),
    }
}

/// `--workers N` and/or `--redis URL`: N loops, each on its own thread with its own
/// connections and its own listener on one port (`SO_REUSEPORT`; the first binds, a port
/// 0 becomes a real port, the others bind to that). Rooms are shared through the
/// in-process hub, or with `--redis` through Redis, where each worker is a node of its own
/// (node id + `-wN` when there are several). A signal stops every worker; the exit is 0
/// once all have returned, 1 if a loop failed.
fn serve_scaled<H: Handler + Clone + Send + 'static>(
    mut config: Config,
    scale: &Scale,
    handler: H,
    mode: &str,
) -> ExitCode {
    use herald::cluster::workers::Hub;
    use std::net::SocketAddr;
    use std::sync::mpsc;

    let workers = scale.workers;
    config.reuse_port |= workers > 1;
    let node = scale
        .node_id
        .clone()
        .unwrap_or_else(herald::cluster::random_node_id);
    #[cfg(feature = "redis")]
    let redis = match &scale.redis {
        Some(url) => match herald::cluster::redis::check_url(url) {
            Ok(()) => Some(
                herald::RedisConfig::new(url.as_str()).with_prefix(scale.redis_prefix.as_str()),
            ),
            Err(e) => {
                eprintln!("herald: {e}");
                return ExitCode::from(2);
            }
        },
        None => None,
    };
    #[cfg(not(feature = "redis"))]
    let redis: Option<()> = match &scale.redis {
        Some(_) => {
            eprintln!("herald: --redis needs a build with the cargo feature `redis`");
            return ExitCode::from(2);
        }
        None => None,
    };
    let hub = (redis.is_none()).then(|| Hub::new(workers));

    /// Tells `serve_scaled` that a worker's loop ended (`ok` false: it failed or panicked).
    struct Finished {
        tx: mpsc::Sender<bool>,
        ok: bool,
    }
    impl Drop for Finished {
        fn drop(&mut self) {
            let _ = self.tx.send(self.ok);
        }
    }

    let (finished_tx, finished_rx) = mpsc::channel();
    let mut handles: Vec<Handle> = Vec::new();
    let mut threads = Vec::new();
    for i in 0..workers {
        let (ready_tx, ready_rx) = mpsc::channel::<Result<(SocketAddr, Handle), String>>();
        let (worker_config, handler, hub) = (config.clone(), handler.clone(), hub.clone());
        #[cfg(feature = "redis")]
        let redis = redis.clone().map(|r| {
            r.with_node_id(if workers > 1 {
                format!("{node}-w{i}")
            } else {
                node.clone()
            })
        });
        let finished_tx = finished_tx.clone();
        let spawned = std::thread::Builder::new()
            .name(format!("herald-worker-{i}"))
            .spawn(move || {
                let listen = worker_config.listen;
                let mut server = match Server::bind(worker_config, handler) {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot listen on {listen}: {e}")));
                        return;
                    }
                };
                let relay: std::io::Result<Box<dyn herald::Relay>> = match hub {
                    Some(hub) => hub.relay(i, server.handle()).map(|r| Box::new(r) as Box<_>),
                    #[cfg(feature = "redis")]
                    None => herald::RedisRelay::start(redis.expect("a relay"), server.handle())
                        .map(|r| Box::new(r) as Box<_>),
                    #[cfg(not(feature = "redis"))]
                    None => unreachable!("no relay"),
                };
                match relay {
                    Ok(relay) => server.set_relay(relay),
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot start worker {i}: {e}")));
                        return;
                    }
                }
                let mut finished = Finished {
                    tx: finished_tx,
                    ok: false,
                };
                let _ = ready_tx.send(Ok((server.local_addr(), server.handle())));
                match server.run() {
                    Ok(()) => finished.ok = true,
                    Err(e) => log::error!("worker {i}: event loop failed: {e}"),
                }
                // Drop the relay (it says goodbye to Redis) before reporting.
                drop(server);
            });
        let ready = match spawned {
            Ok(thread) => {
                threads.push(thread);
                ready_rx
                    .recv()
                    .unwrap_or_else(|_| Err(format!("worker {i} died while starting")))
            }
            Err(e) => Err(format!("cannot start worker {i}: {e}")),
        };
        match ready {
            Ok((addr, handle)) => {
                // Port 0 picked a port: the other workers share that one.
                config.listen = addr;
                handles.push(handle);
            }
            Err(e) => {
                eprintln!("herald: {e}");
                for handle in &handles {
                    let _ = handle.shutdown();
                }
                return ExitCode::from(1);
            }
        }
    }
    drop(finished_tx);
    let redis_url = scale
        .redis
        .as_deref()
        .map(herald::cluster::redact_url)
        .map_or_else(String::new, |u| match workers {
            1 => format!(", node {node}, redis {u}"),
            n => format!(
                ", node {node} (workers {node}-w0..{node}-w{}), redis {u}",
                n - 1
            ),
        });
    log::info!(
        "herald {} listening on {}://{} ({mode} mode, {workers} worker{}{redis_url})",
        env!("CARGO_PKG_VERSION"),
        scheme(&config),
        config.listen,
        if workers == 1 { "" } else { "s" }
    );
    if let Err(e) = watch_signals(handles.clone()) {
        eprintln!("herald: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let mut failed = false;
    for ok in finished_rx {
        if !ok && !failed {
            failed = true;
            for handle in &handles {
                let _ = handle.shutdown();
            }
        }
    }
    for thread in threads {
        let _ = thread.join();
    }
    if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
