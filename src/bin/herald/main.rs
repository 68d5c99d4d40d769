//! The `herald` daemon: read the command line and the config file, start the chosen
//! handler on one loop or several, log, serve.
//!
//! `main` wires the modules together; each of them owns one part of the daemon (flags,
//! config file, values, settings, listen addresses, logging, signals, reload).

mod cli;
mod config_file;
mod listen;
mod logging;
#[cfg(feature = "push")]
mod push;
mod reload;
mod settings;
mod signals;
mod systemd;
mod values;

use cli::{Command, Invocation};
use herald::{ChatRoom, Config, Echo, Handle, Handler, Server};
use reload::Reloader;
use settings::{Options, Scale, Settings};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use systemd::Activated;
use values::Mode;

/// Where the server's listening socket comes from.
enum Socket {
    /// Bind `Config::listen` (TCP).
    Bind,
    /// A Unix socket at this path, with these permission bits.
    Unix(PathBuf, Option<u32>),
    /// The one systemd passed (socket activation).
    Activated(Activated),
}

impl Socket {
    /// A server on this socket (for `--workers`, each on a clone of an inherited one).
    fn server<H: Handler>(&self, config: Config, handler: H) -> std::io::Result<Server<H>> {
        match self {
            Socket::Bind => Server::bind(config, handler),
            Socket::Unix(path, mode) => Server::bind_unix(path, *mode, config, handler),
            Socket::Activated(Activated::Tcp(l)) => {
                Server::from_listener(l.try_clone()?, config, handler)
            }
            Socket::Activated(Activated::Unix(l)) => {
                Server::from_unix_listener(l.try_clone()?, config, handler)
            }
        }
    }

    /// What the startup line says the daemon listens on, and whether the page's address
    /// goes with it (TCP only).
    fn describe(&self, scheme: Scheme, addr: SocketAddr) -> (String, bool) {
        match self {
            Socket::Bind => (scheme.ws(addr), true),
            Socket::Unix(path, _) => (format!("unix:{}", path.display()), false),
            Socket::Activated(Activated::Tcp(_)) => (scheme.ws(addr), true),
            Socket::Activated(Activated::Unix(l)) => {
                let path = l
                    .local_addr()
                    .ok()
                    .and_then(|a| a.as_pathname().map(PathBuf::from));
                let path = path.map_or_else(|| "?".into(), |p| p.display().to_string());
                (format!("unix:{path}"), false)
            }
        }
    }

    /// `, socket from systemd` for an inherited socket.
    fn origin(&self) -> &'static str {
        match self {
            Socket::Activated(_) => ", socket from systemd",
            _ => "",
        }
    }
}

/// What every loop runs with beside its handler: the API's own address, if any.
#[derive(Clone, Copy, Debug, Default)]
struct Extra {
    /// `--api-listen`: a second, HTTP-only listener (on worker 0 with `--workers`).
    api_listen: Option<SocketAddr>,
}

/// Bind `--api-listen` on `server`; the bound address (port 0 picks one), or why not.
fn api_listener<H: Handler>(
    server: &mut Server<H>,
    extra: Extra,
) -> Result<Option<SocketAddr>, String> {
    let Some(addr) = extra.api_listen else {
        return Ok(None);
    };
    match server.add_http_listener(addr) {
        Ok(bound) => Ok(Some(bound)),
        Err(e) => Err(format!("cannot listen on {addr} (--api-listen): {e}")),
    }
}

/// The line after the startup line that says where the API's own address is (scripts and
/// tests read it).
fn log_api_listener(bound: Option<SocketAddr>) {
    if let Some(bound) = bound {
        log::info!("push API also on http://{bound} (HTTP only, no WebSocket)");
    }
}

fn serve<H: Handler>(
    config: Config,
    socket: &Socket,
    handler: H,
    mode: &str,
    reloader: Reloader,
    extra: Extra,
) -> ExitCode {
    let listen = config.listen;
    let http = config.http;
    let scheme = Scheme::of(&config);
    let mut server = match socket.server(config, handler) {
        Ok(server) => server,
        Err(e) => {
            match socket {
                Socket::Bind => eprintln!("herald: cannot listen on {listen}: {e}"),
                Socket::Unix(path, _) => {
                    eprintln!("herald: cannot listen on unix:{}: {e}", path.display())
                }
                Socket::Activated(_) => {
                    eprintln!("herald: cannot use the socket from systemd: {e}")
                }
            }
            return ExitCode::from(1);
        }
    };
    let api = match api_listener(&mut server, extra) {
        Ok(api) => api,
        Err(e) => {
            eprintln!("herald: {e}");
            return ExitCode::from(1);
        }
    };
    // Signals first: the startup line tells scripts and tests that the daemon is ready,
    // signals included (a SIGHUP before the handler exists would end the process).
    if let Err(e) = signals::watch(vec![server.handle()], reloader) {
        eprintln!("herald: cannot install signal handlers: {e}");
        return ExitCode::from(1);
    }
    let (on, page) = socket.describe(scheme, server.local_addr());
    log::info!(
        "herald {} listening on {on} ({mode} mode{}){}",
        env!("CARGO_PKG_VERSION"),
        socket.origin(),
        if page {
            scheme.page(server.local_addr(), http)
        } else {
            String::new()
        },
    );
    log_api_listener(api);
    systemd::notify(&format!("READY=1\nSTATUS=listening on {on}"));
    match server.run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            log::error!("event loop failed: {e}");
            ExitCode::from(1)
        }
    }
}

/// Plain or TLS, for the addresses in the startup line.
#[derive(Clone, Copy)]
struct Scheme {
    tls: bool,
}

impl Scheme {
    fn of(config: &Config) -> Scheme {
        #[cfg(feature = "tls")]
        let tls = config.tls.is_some();
        #[cfg(not(feature = "tls"))]
        let tls = {
            let _ = config;
            false
        };
        Scheme { tls }
    }

    /// `ws://ADDR` or `wss://ADDR`: what clients connect to.
    fn ws(self, addr: SocketAddr) -> String {
        format!("{}://{addr}", if self.tls { "wss" } else { "ws" })
    }

    /// `, page on http://ADDR/` (https with TLS), the address to open in a browser; on
    /// an all-interfaces bind, the loopback address of this machine. Empty without the
    /// HTTP endpoints.
    fn page(self, addr: SocketAddr, http: bool) -> String {
        if !http {
            return String::new();
        }
        let scheme = if self.tls { "https" } else { "http" };
        match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => {
                let local = SocketAddr::from((Ipv4Addr::LOCALHOST, addr.port()));
                format!("; page on {scheme}://{local}/ (on every interface)")
            }
            IpAddr::V6(ip) if ip.is_unspecified() => {
                let local = SocketAddr::from((Ipv6Addr::LOCALHOST, addr.port()));
                format!("; page on {scheme}://{local}/ (on every interface)")
            }
            _ => format!("; page on {scheme}://{addr}/"),
        }
    }
}

/// The settings from the config file (if any) with the flags over them.
///
/// Errors: the file cannot be read or has a mistake (with its line), or the layers
/// together fail a cross-key check.
fn load(inv: &Invocation) -> Result<Options, String> {
    let file = match &inv.config_file {
        Some(path) => config_file::load(path).map_err(|e| e.to_string())?,
        None => Settings::default(),
    };
    inv.flags.clone().over(file).resolve()
}

fn main() -> ExitCode {
    // Before anything else (and any thread): it reads and clears LISTEN_FDS/LISTEN_PID.
    let activated = systemd::take_listener();
    let (inv, print) = match cli::parse(std::env::args().skip(1)) {
        Ok(Command::Run(inv)) => (inv, false),
        Ok(Command::PrintConfig(inv)) => (inv, true),
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
    let mut opts = match load(&inv) {
        Ok(opts) => opts,
        Err(e) => {
            eprintln!("herald: {e}");
            return ExitCode::from(2);
        }
    };
    if print {
        print!("{}", settings::to_toml(&opts));
        return ExitCode::SUCCESS;
    }
    logging::init(opts.log_format);
    let socket = match (activated, &opts.listen) {
        (Err(e), _) => {
            eprintln!("herald: {e}");
            return ExitCode::from(1);
        }
        (Ok(Some(activated)), listen) => {
            log::info!("listening on the socket systemd passed (--listen {listen} is not used)");
            Socket::Activated(activated)
        }
        (Ok(None), listen::Listen::Unix(path)) => {
            if !opts.scale.is_single() && opts.scale.workers > 1 {
                eprintln!("herald: --listen unix: serves one loop; --workers needs a TCP port");
                return ExitCode::from(2);
            }
            Socket::Unix(path.clone(), opts.unix_mode)
        }
        (Ok(None), listen) => match listen.resolve() {
            Ok(resolved) => {
                if let Some(note) = resolved.note {
                    log::info!("{note}");
                }
                opts.config.listen = resolved.addr;
                Socket::Bind
            }
            Err(e) => {
                eprintln!("herald: {e}");
                return ExitCode::from(1);
            }
        },
    };
    let reloader = Reloader::new(inv, opts.clone());
    #[cfg_attr(not(feature = "tls"), allow(unused_mut))]
    let mut config = opts.config;
    if let Some((cert, key)) = &opts.tls_files {
        #[cfg(feature = "tls")]
        match herald::TlsConfig::from_pem_files(cert, key) {
            Ok(tls) => config.tls = Some(tls),
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
    let extra = Extra {
        api_listen: opts.push.api_listen,
    };
    #[cfg(feature = "push")]
    let push = match push::config(&opts.push, config.max_message_size, config.http) {
        Ok(push) => push,
        Err(e) => {
            eprintln!("herald: {e}");
            return ExitCode::from(1);
        }
    };
    #[cfg(not(feature = "push"))]
    if opts.push != settings::Push::default() {
        eprintln!("herald: built without the push feature: no API, tokens or rate limits");
        return ExitCode::from(1);
    }
    #[cfg(feature = "pusher")]
    let pusher = match pusher_apps(&opts.pusher_apps) {
        Ok(apps) => apps,
        Err(e) => {
            eprintln!("herald: {e}");
            return ExitCode::from(2);
        }
    };
    let chat = ChatRoom::new(opts.include_sender);
    let start = Start {
        config,
        socket,
        scale: &opts.scale,
        reloader,
        extra,
        #[cfg(feature = "pusher")]
        pusher,
    };
    #[cfg(feature = "push")]
    if let Some(push) = push {
        return match opts.mode {
            Mode::Chat => start.run(herald::PushApi::new(chat, push), "chat"),
            Mode::Echo => {
                // Echo has no rooms: a token's room grants have nothing to check.
                let push = herald::PushConfig {
                    room_of: |_| None,
                    ..push
                };
                start.run(herald::PushApi::new(Echo, push), "echo")
            }
        };
    }
    match opts.mode {
        Mode::Chat => start.run(chat, "chat"),
        Mode::Echo => start.run(Echo, "echo"),
    }
}

/// The Pusher apps of `--pusher-app` / `pusher_app`, if any.
#[cfg(feature = "pusher")]
fn pusher_apps(specs: &[values::PusherAppSpec]) -> Result<Option<herald::pusher::Apps>, String> {
    if specs.is_empty() {
        return Ok(None);
    }
    let apps = specs
        .iter()
        .map(|s| s.0.parse().map_err(|e| format!("--pusher-app: {e}")))
        .collect::<Result<Vec<herald::pusher::App>, String>>()?;
    let apps = herald::pusher::Apps::new(apps).map_err(|e| format!("--pusher-app: {e}"))?;
    Ok(Some(apps))
}

/// What `main` starts a handler with.
struct Start<'a> {
    config: Config,
    socket: Socket,
    scale: &'a Scale,
    reloader: Reloader,
    extra: Extra,
    /// The Pusher apps: the handler is served behind the Pusher endpoints when there are.
    #[cfg(feature = "pusher")]
    pusher: Option<herald::pusher::Apps>,
}

impl Start<'_> {
    /// `handler`, behind the Pusher endpoints when there are Pusher apps.
    fn run<H: Handler + Clone + Send + 'static>(
        #[cfg_attr(not(feature = "pusher"), allow(unused_mut))] mut self,
        handler: H,
        mode: &str,
    ) -> ExitCode {
        #[cfg(feature = "pusher")]
        if let Some(apps) = self.pusher.take() {
            for (_, app) in apps.iter() {
                log::info!(
                    "pusher app {}: clients on /app/{}, the HTTP API on /apps/{}/",
                    app.id(),
                    app.key(),
                    app.id()
                );
            }
            let mode = format!("{mode} + pusher");
            return self.serve(herald::PusherApp::new(apps, handler), &mode);
        }
        self.serve(handler, mode)
    }

    /// One loop, or several (`--workers`, `--redis`).
    fn serve<H: Handler + Clone + Send + 'static>(self, handler: H, mode: &str) -> ExitCode {
        if self.scale.is_single() {
            serve(
                self.config,
                &self.socket,
                handler,
                mode,
                self.reloader,
                self.extra,
            )
        } else {
            serve_scaled(
                self.config,
                self.socket,
                self.scale,
                handler,
                mode,
                self.reloader,
                self.extra,
            )
        }
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
    socket: Socket,
    scale: &Scale,
    handler: H,
    mode: &str,
    reloader: Reloader,
    extra: Extra,
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
    let socket = std::sync::Arc::new(socket);

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
    let mut api = None;
    let mut threads = Vec::new();
    for i in 0..workers {
        let (ready_tx, ready_rx) =
            mpsc::channel::<Result<(SocketAddr, Handle, Option<SocketAddr>), String>>();
        let (worker_config, handler, hub) = (config.clone(), handler.clone(), hub.clone());
        let socket = socket.clone();
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
                let mut server = match socket.server(worker_config, handler) {
                    Ok(server) => server,
                    Err(e) => {
                        let _ = ready_tx.send(Err(format!("cannot listen on {listen}: {e}")));
                        return;
                    }
                };
                // One API address for the process: worker 0 serves it (what it publishes
                // reaches the other workers through the hub or Redis).
                let extra = if i == 0 { extra } else { Extra::default() };
                let api = match api_listener(&mut server, extra) {
                    Ok(api) => api,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
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
                let _ = ready_tx.send(Ok((server.local_addr(), server.handle(), api)));
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
            Ok((addr, handle, bound)) => {
                api = api.or(bound);
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
    // Signals before the startup line, as in `serve`.
    if let Err(e) = signals::watch(handles.clone(), reloader) {
        eprintln!("herald: cannot install signal handlers: {e}");
        for handle in &handles {
            let _ = handle.shutdown();
        }
        return ExitCode::from(1);
    }
    let scheme = Scheme::of(&config);
    let (on, page) = socket.describe(scheme, config.listen);
    log::info!(
        "herald {} listening on {on} ({mode} mode, {workers} worker{}{redis_url}{}){}",
        env!("CARGO_PKG_VERSION"),
        if workers == 1 { "" } else { "s" },
        socket.origin(),
        if page {
            scheme.page(config.listen, config.http)
        } else {
            String::new()
        },
    );
    log_api_listener(api);
    systemd::notify(&format!("READY=1\nSTATUS=listening on {on}"));
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
