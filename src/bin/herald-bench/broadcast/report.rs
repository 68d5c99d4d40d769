//! The report of a broadcast run: the human table (stderr) and the JSON object (stdout),
//! whose field names the scripts read (keep every one).

use super::Opts;
use super::tally::Tally;
use crate::intervals::{Intervals, StageTally};
use crate::latency::{QUANTILES, report_latency};
use crate::output::{Json, Table, group, human_ns, rate};
use crate::thresholds::{self, Metrics};
use std::time::Duration;

/// Write the files asked for, then print the table (stderr) and the JSON object (stdout).
/// `Ok(false)`: a `--fail-if` threshold held.
pub fn report(opts: &Opts, t: &Tally, intervals: Option<&Intervals>) -> Result<bool, String> {
    // Rates are over the interval as run: Ctrl-C may have cut it short.
    let secs = t.measured.unwrap_or(opts.duration);
    let mut json = Json::new("broadcast");
    json.str("url", &opts.target.url());
    json.int("clients", opts.clients as u64);
    json.int("senders", opts.senders as u64);
    json.int("size", opts.size as u64);
    json.str("payload", opts.payload.name());
    json.raw(
        "deflate",
        if opts.target.deflate { "true" } else { "false" },
    );
    match &t.tls {
        Some(tls) => json.str("tls", tls),
        None => json.raw("tls", "null"),
    }
    json.int("window", opts.window as u64);
    json.int("threads", opts.threads as u64);
    json.int("rooms", opts.target.rooms as u64);
    json.opt_num("rate", opts.rate, 1);
    match &t.subprotocol {
        Some(p) => json.str("subprotocol", p),
        None => json.raw("subprotocol", "null"),
    }
    json.num("duration_s", secs.as_secs_f64(), 3);
    json.raw("interrupted", if t.interrupted { "true" } else { "false" });
    json.num("warmup_s", opts.warmup.as_secs_f64(), 3);
    json.opt_num("setup_s", t.setup.map(|d| d.as_secs_f64()), 3);
    let dps = rate(t.deliveries, secs);
    let sps = rate(t.sent, secs);
    json.int("deliveries", t.deliveries);
    json.num("deliveries_per_s", dps, 0);
    json.int("sent", t.sent);
    json.num("sent_per_s", sps, 0);
    // What the clients read (WebSocket frames, decrypted), as the server's output rate.
    json.num("mbit_per_s_out", rate(t.ws_in, secs) * 8.0 / 1e6, 1);
    let per_delivery = |bytes: u64| (t.deliveries > 0).then(|| bytes as f64 / t.deliveries as f64);
    json.int("wire_bytes_in", t.wire_in);
    json.opt_num("wire_bytes_per_delivery", per_delivery(t.wire_in), 1);
    json.opt_num("ws_bytes_per_delivery", per_delivery(t.ws_in), 1);
    let mut table = Table::new(format!(
        "herald-bench broadcast  {}  clients {}  senders {}  size {} B {}{}  window {}  threads {}",
        opts.target.url(),
        opts.clients,
        opts.senders,
        opts.size,
        opts.payload.name(),
        if opts.target.deflate { " deflate" } else { "" },
        opts.window,
        opts.threads
    ));
    if let Some(tls) = &t.tls {
        let trust = opts.target.tls.as_ref().map_or("", |c| c.trust());
        table.row("TLS", format!("{tls}, certificate {trust}"));
    }
    if opts.target.rooms > 1 {
        table.row(
            "rooms",
            format!(
                "{} (client i in room i mod {})",
                opts.target.rooms, opts.target.rooms
            ),
        );
    }
    match &t.subprotocol {
        Some(p) => table.row("subprotocol", p.clone()),
        None if !opts.target.subprotocols.is_empty() => table.row(
            "subprotocol",
            format!(
                "none: the server chose none of those offered ({}), and the run went on \
                 without one",
                opts.target.subprotocols.join(", ")
            ),
        ),
        None => {}
    }
    match opts.rate {
        Some(r) => {
            json.int("late_sends", t.late);
            json.num("behind_max_us", t.behind_max_ns as f64 / 1e3, 1);
            let offered = if opts.stages.is_empty() {
                format!(
                    "{} messages/s offered ({:.1}/s per sender)",
                    group(r as u64),
                    r / opts.senders as f64
                )
            } else {
                let rates: Vec<String> = opts.stages.iter().map(|s| group(s.rate as u64)).collect();
                format!(
                    "{} stages, {} messages/s offered",
                    opts.stages.len(),
                    rates.join(" → ")
                )
            };
            table.row(
                "load",
                format!("open loop: {offered}; latency from the intended send time"),
            );
            let lag = if t.late == 0 {
                format!(
                    "every message left within 1 ms of its time (the latest {} after)",
                    human_ns(t.behind_max_ns)
                )
            } else {
                format!(
                    "{} messages left over 1 ms late (the latest {} after its time): the \
                     window was full or the load generator busy; their latency counts it",
                    group(t.late),
                    human_ns(t.behind_max_ns)
                )
            };
            table.row("schedule", lag);
        }
        None => table.row(
            "load",
            format!(
                "closed loop: at most {} message(s) in flight per sender",
                opts.window
            ),
        ),
    }
    table.row(
        "measured",
        format!(
            "{:.2} s after {:.2} s warm-up (setup {:.2} s){}",
            secs.as_secs_f64(),
            opts.warmup.as_secs_f64(),
            t.setup.map_or(0.0, |d| d.as_secs_f64()),
            if t.interrupted {
                format!(
                    "; cut short by Ctrl-C (of {:.2} s asked)",
                    opts.duration.as_secs_f64()
                )
            } else {
                String::new()
            }
        ),
    );
    table.row(
        "deliveries",
        format!(
            "{}/s  ({} in total)",
            group(dps.round() as u64),
            group(t.deliveries)
        ),
    );
    table.row(
        "messages sent",
        format!(
            "{}/s  ({} in total)",
            group(sps.round() as u64),
            group(t.sent)
        ),
    );
    if let Some(wire) = per_delivery(t.wire_in) {
        let ws = per_delivery(t.ws_in).unwrap_or(0.0);
        table.row(
            "on the wire",
            if opts.target.secure {
                format!(
                    "{wire:.1} B per delivery read from the sockets ({ws:.1} B of WebSocket frames in TLS)"
                )
            } else {
                format!("{wire:.1} B per delivery read from the sockets")
            },
        );
    }
    if opts.target.deflate {
        json.str(
            "compressed_as",
            if opts.compress_each {
                "each"
            } else {
                "stored-head"
            },
        );
        table.row(
            "compressed as",
            if opts.compress_each {
                "each whole message compressed (--compress-each)"
            } else {
                "the fields in a stored block, then a body compressed once and kept"
            },
        );
        json.int("inflated", t.inflated);
        json.int("inflate_reused", t.reused);
        table.row(
            "inflated",
            format!(
                "{} compressed messages (whole run); {} more were byte-for-byte repeats{}",
                group(t.inflated),
                group(t.reused),
                if opts.inflate_all {
                    ""
                } else {
                    " (reused; --inflate-all inflates them too)"
                }
            ),
        );
    }
    report_latency(&mut json, &mut table, "latency", "latency", &t.latency);
    json.int("setup_messages", t.setup_messages);
    if t.setup_messages > 0 {
        table.row(
            "before measuring",
            format!(
                "{} messages that were not herald-bench's (greetings, --first-message echoes)",
                group(t.setup_messages)
            ),
        );
    }
    json.int("lost", t.lost);
    json.int("reordered", t.reordered);
    json.int("stalled", t.stalled);
    json.int("unexpected", t.unexpected);
    json.int("errors", t.errors);
    json.int("close_timeouts", t.close_timeouts);
    let mut closes = String::from("{");
    for (i, (code, n)) in t.server_closes.iter().enumerate() {
        if i > 0 {
            closes.push(',');
        }
        crate::output::escape(&mut closes, code);
        closes.push_str(&format!(":{n}"));
    }
    closes.push('}');
    json.raw("server_closes", &closes);
    json.str_list("error_samples", &t.error_samples);
    let mut lost = format!("{} / {}", group(t.lost), group(t.reordered));
    if t.stalled > 0 {
        lost.push_str(&format!(
            "  ({} more stalled: not every receiver had them after --stall-timeout {} s)",
            group(t.stalled),
            opts.stall_timeout.as_secs_f64()
        ));
    }
    table.row("lost / reordered", lost);
    let mut errors = format!("{} (whole run, warm-up included)", group(t.errors));
    if !t.server_closes.is_empty() {
        let list: Vec<String> = t
            .server_closes
            .iter()
            .map(|(c, n)| format!("{n}× {c}"))
            .collect();
        errors.push_str(&format!("  (server closes: {})", list.join(", ")));
    }
    if t.unexpected > 0 {
        errors.push_str(&format!(
            "  ({} unexpected messages: not from a sender of the client's room, or a \
             sender's own message sent back to it)",
            group(t.unexpected)
        ));
    }
    if t.close_timeouts > 0 {
        errors.push_str(&format!("  ({} closes timed out)", t.close_timeouts));
    }
    table.row("errors", errors);
    for e in &t.error_samples {
        table.row("", format!("- {e}"));
    }
    let cpu = t.cpu.unwrap_or_default();
    cpu.report(&mut json, &mut table, Some(("delivery", t.deliveries)));
    if let Some(p) = cpu.own_pct()
        && p > 85.0 * opts.threads as f64
    {
        table.row(
            "warning",
            format!(
                "the load generator used {p:.0}% CPU: it may be the bottleneck ({})",
                if opts.threads == 1 {
                    "try --threads 2 on a machine with cores to spare"
                } else {
                    "numbers are a lower bound"
                }
            ),
        );
    }
    let mut metrics = Metrics::default();
    metrics.latency(&t.latency);
    let secs = secs.as_secs_f64();
    for (name, n) in [
        ("deliveries", t.deliveries),
        ("sent", t.sent),
        ("lost", t.lost),
        ("reordered", t.reordered),
        ("stalled", t.stalled),
        ("unexpected", t.unexpected),
        ("errors", t.errors),
        ("close_timeouts", t.close_timeouts),
    ] {
        metrics.count(name, n, secs);
    }
    metrics.cpu(&cpu);
    let title = format!(
        "herald-bench broadcast {}: {} clients, {} senders, {} B {}, {}",
        opts.target.url(),
        opts.clients,
        opts.senders,
        opts.size,
        opts.payload.name(),
        match opts.rate {
            Some(_) if !opts.stages.is_empty() =>
                format!("open loop in {} stages", opts.stages.len()),
            Some(r) => format!("open loop {r:.0} msg/s"),
            None => format!("window {}", opts.window),
        }
    );
    opts.outputs.finish(
        intervals,
        &t.latency,
        &title,
        "delivery latency",
        &mut table,
    )?;
    if let Some(sink) = intervals
        && !opts.stages.is_empty()
    {
        report_stages(opts, &sink.stages(), &mut json, &mut table);
    }
    let passed = thresholds::judge(&opts.thresholds, &metrics, &mut json, &mut table);
    table.print();
    crate::output::outln!("{}", json.finish());
    if t.interrupted && secs == 0.0 {
        return Err("interrupted in the warm-up: nothing was measured".into());
    }
    if t.deliveries == 0 {
        // A run that measured nothing has no result to pass or fail (exit status 1).
        return Err(match t.error_samples.first() {
            Some(e) => format!("nothing was delivered in the measured time ({e})"),
            None => "nothing was delivered in the measured time".to_string(),
        });
    }
    Ok(passed)
}

/// One row and one JSON object (in `stages`) per `--stage`: what was offered and what it got.
fn report_stages(opts: &Opts, tallies: &[StageTally], json: &mut Json, table: &mut Table) {
    let mut items = Vec::new();
    for (i, (stage, t)) in opts.stages.iter().zip(tallies).enumerate() {
        let secs = Duration::from_secs_f64(t.secs);
        let h = &t.slice.latency;
        let mut item = Json::empty();
        item.num("rate", stage.rate, 1);
        item.num("secs", t.secs, 3);
        item.num("deliveries_per_s", rate(t.slice.done, secs), 0);
        item.num("sent_per_s", rate(t.slice.sent, secs), 0);
        for (name, _, q) in QUANTILES {
            item.num(&format!("latency_{name}_us"), h.quantile(q) as f64 / 1e3, 1);
        }
        item.num("latency_max_us", h.max() as f64 / 1e3, 1);
        item.int("lost", t.slice.lost);
        item.int("errors", t.slice.errors);
        items.push(item.finish());
        table.row(
            &format!("stage {}", i + 1),
            format!(
                "{}/s offered for {:.0} s: {}/s sent, {}/s deliveries; p50 {}, p99 {}, \
                 p99.9 {}, max {}; lost {}, errors {}",
                group(stage.rate as u64),
                t.secs,
                group(rate(t.slice.sent, secs).round() as u64),
                group(rate(t.slice.done, secs).round() as u64),
                human_ns(h.quantile(0.5)),
                human_ns(h.quantile(0.99)),
                human_ns(h.quantile(0.999)),
                human_ns(h.max()),
                t.slice.lost,
                t.slice.errors
            ),
        );
    }
    json.raw("stages", &format!("[{}]", items.join(",")));
}
