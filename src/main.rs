//! The `herald` daemon: parse the command line, start the chosen handler, log, serve.

mod cli;

use cli::{Command, Mode};
use herald::{ChatRoom, Config, Echo, Handler, Server};
use std::process::ExitCode;

fn serve<H: Handler>(config: Config, handler: H, mode: &str) -> ExitCode {
    let listen = config.listen;
    let mut server = match Server::bind(config, handler) {
        Ok(server) => server,
        Err(e) => {
            eprintln!("herald: cannot listen on {listen}: {e}");
            return ExitCode::from(1);
        }
    };
    log::info!(
        "herald {} listening on ws://{} ({mode} mode)",
        env!("CARGO_PKG_VERSION"),
        server.local_addr()
    );
    if let Err(e) = watch_signals(server.handle()) {
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
/// second one: exit at once. The signals arrive on a small thread that talks to the loop
/// through its `Handle`, like any other thread would.
fn watch_signals(handle: herald::Handle) -> std::io::Result<()> {
    use signal_hook::consts::{SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
    std::thread::Builder::new()
        .name("signals".into())
        .spawn(move || {
            let mut signals = signals.forever();
            if let Some(sig) = signals.next() {
                log::info!("signal {sig}: shutting down (send it again to exit at once)");
                let _ = handle.shutdown();
            }
            if let Some(sig) = signals.next() {
                log::warn!("signal {sig} again: exiting now");
                std::process::exit(1);
            }
        })?;
    Ok(())
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
    match opts.mode {
        Mode::Chat => serve(
            opts.config,
            ChatRoom {
                include_sender: opts.include_sender,
            },
            "chat",
        ),
        Mode::Echo => serve(opts.config, Echo, "echo"),
    }
}
