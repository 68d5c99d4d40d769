//! `herald-bench`: a load generator for WebSocket servers, on this machine's loopback
//! interface unless told otherwise (`--allow-remote`).
//!
//! Five measurements, each a subcommand: `broadcast` (delivery rate and latency of chat
//! rooms under load, closed or open loop), `connect` (handshake rate), `idle` (server
//! memory per idle connection), `publish` (herald's backend push API: publishes and
//! deliveries per second, publish-to-member latency and server CPU per publish, beside the
//! same message sent over WebSocket) and `pusher` (the Pusher protocol: fan-out through the
//! HTTP API, and connect plus subscribe). Real clients: a proper HTTP upgrade with a checked
//! `Sec-WebSocket-Accept`, masked frames with a fresh key each, over ws:// or wss://
//! (rustls, driven sans-IO in the same loops; with the `tls` feature), with or without
//! permessage-deflate (`--deflate`; with the `deflate` feature). The clients are driven by
//! one mio event loop (more with `broadcast --threads`) so that the tool, not the server,
//! is rarely the limit; it reports its own CPU use to show it.
//!
//! A human table goes to stderr, one JSON object to stdout, and on request a JSON line per
//! second, an HdrHistogram percentile file and an SVG plot. Exit status: 0 on success, 1
//! when the run could not be set up (no server, failed handshakes) or measured nothing, 2
//! on a usage error, 3 when a `--fail-if` threshold held, 130 after Ctrl-C (broadcast
//! reports what it measured first; see `interrupt`).
//!
//! This file only dispatches: `cli` reads the options, `help` holds the texts.

mod broadcast;
mod cli;
mod connect;
mod connection;
mod cpu;
mod decoder;
mod files;
mod flags;
mod frame_out;
mod help;
mod idle;
mod interrupt;
mod intervals;
mod latency;
mod output;
mod payload;
mod plot;
mod procfs;
mod publish;
mod pusher;
mod rng;
mod schedule;
mod target;
mod thresholds;
mod tls;
mod upgrade;
mod wakeup;

use cli::Command;
use std::process::ExitCode;

/// Exit status when a `--fail-if` threshold held.
const THRESHOLD_HELD: u8 = 3;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let wants_help = |a: &String| a == "-h" || a == "--help";
    let Some(command) = args.first() else {
        crate::output::errln!(
            "herald-bench: a command is required: broadcast, connect, idle, publish or pusher\n\
             Try 'herald-bench --help'."
        );
        return ExitCode::from(2);
    };
    let help = match command.as_str() {
        "broadcast" => help::broadcast(),
        "connect" => help::connect(),
        "idle" => help::idle(),
        "publish" => help::publish(),
        "pusher" => help::pusher(),
        _ => help::OVERVIEW.to_string(),
    };
    if command == "--version" || command == "-V" {
        crate::output::outln!("herald-bench {}", env!("CARGO_PKG_VERSION"));
        return ExitCode::SUCCESS;
    }
    if wants_help(command) || command == "help" || args.iter().any(wants_help) {
        crate::output::outln!("{}", help.trim_end_matches('\n'));
        return ExitCode::SUCCESS;
    }
    let command_name = command.clone();
    let command = match cli::parse(command, &args[1..]) {
        Ok(c) => c,
        Err(e) => {
            let hint = match command_name.as_str() {
                "broadcast" | "connect" | "idle" | "publish" | "pusher" => {
                    format!("herald-bench {command_name} --help")
                }
                _ => "herald-bench --help".to_string(),
            };
            crate::output::errln!("herald-bench: {e}\nTry '{hint}'.");
            return ExitCode::from(2);
        }
    };
    let result = match command {
        Command::Broadcast(opts) => {
            procfs::check_open_files(opts.clients).and_then(|()| broadcast::run(opts))
        }
        Command::Connect(opts) => {
            procfs::check_open_files(opts.concurrency).and_then(|()| connect::run(opts))
        }
        Command::Idle(opts) => {
            procfs::check_open_files(opts.clients).and_then(|()| idle::run(opts))
        }
        Command::Publish(opts) => procfs::check_open_files(opts.members + opts.connections)
            .and_then(|()| publish::run(opts)),
        Command::Pusher(opts) => procfs::check_open_files(opts.clients + opts.publishers)
            .and_then(|()| pusher::run(opts)),
    };
    if interrupt::cut_short() {
        // The report for what was measured is out (or the run had not begun).
        if let Err(e) = result {
            crate::output::errln!("herald-bench: {e}");
        }
        crate::output::errln!("herald-bench: interrupted (Ctrl-C)");
        return ExitCode::from(130);
    }
    match result {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(THRESHOLD_HELD),
        Err(e) => {
            crate::output::errln!("herald-bench: {e}");
            ExitCode::from(1)
        }
    }
}
