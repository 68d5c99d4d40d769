//! The help texts: an overview (`herald-bench --help`) and one per command
//! (`herald-bench broadcast --help`), each with the options common to all commands.

/// `herald-bench --help`.
pub const OVERVIEW: &str = "\
herald-bench: a load generator for WebSocket servers (this machine's loopback, unless
--allow-remote)

Usage: herald-bench <COMMAND> --url ws://127.0.0.1:PORT/ [OPTIONS]
       herald-bench <COMMAND> --help        the options of one command
       herald-bench --version

Commands:
  broadcast   chat-room fan-out: N clients in one room (or K rooms), S of them sending;
              delivery rate, latency, loss, CPU per delivery. Closed loop (W messages in
              flight per sender) or open loop (--rate)
  connect     handshake rate: M connections that connect, upgrade and close
  idle        server memory per idle connection: N connections held
  publish     herald's backend push API: C keep-alive HTTP connections publish into a
              room of M WebSocket members; publishes/s, deliveries/s, publish-to-member
              latency, and with --compare the same message sent by a WebSocket client
  pusher      the Pusher Channels protocol (herald's /app/KEY, sockudo, soketi, Reverb):
              fan-out of events triggered through the HTTP API, or connect + subscribe

Build and run from a clone of herald:
  cargo run --release --bin herald-bench -- broadcast --url ws://127.0.0.1:8080/

Real clients: a proper HTTP upgrade with a checked Sec-WebSocket-Accept, masked frames with
a fresh key each, ws:// or wss:// (rustls), optionally permessage-deflate. One mio event
loop drives them all (broadcast --threads T: T loops); the tool reports its own CPU so you
can see when it, not the server, is the limit.

SECS values are seconds, fractions allowed, or carry a unit: 500ms, 2s, 1.5m.
Output: a table on stderr, one JSON object on stdout.
Exit status: 0 done; 1 could not set up (no server, failed handshakes) or measured
nothing (broadcast: no delivery in the measured time); 2 usage error; 3 a --fail-if
threshold held (the report is printed first, as it is for 1 after a run); 130 Ctrl-C
(broadcast: after the report of what was measured).
";

/// The options every command takes.
const COMMON: &str = "\
Target and connection options (every command):
  --url URL                ws://HOST:PORT/PATH?QUERY or wss://…; HOST is 127.0.0.1,
                           localhost or [::1] unless --allow-remote
  --allow-remote           allow any other host (resolved once; its first address is used).
                           Load only servers that you run or are allowed to load
  --header 'NAME: VALUE'   add a header field to every upgrade request (repeatable), e.g.
                           --header 'Authorization: Bearer TOKEN' --header 'Origin: …'
  --subprotocol NAME       offer a subprotocol (repeatable, in order of preference); the
                           server's choice is checked against the offer and reported
  --query 'NAME=VALUE'     add a query parameter to the request target (repeatable), e.g.
                           --query token=SECRET for servers that authenticate by URL
  --first-message TEXT     send TEXT as a text message right after each upgrade, before
                           anything else: a login, or a Pusher subscription such as
                           '{\"event\":\"pusher:subscribe\",\"data\":{\"channel\":\"room-{room}\"}}'.
                           {client} and {room} are replaced by the client's and its room's
                           numbers. Messages that are not herald-bench's and arrive before
                           measuring starts (their echoes, a greeting) are counted apart
  --ramp R                 open at most R connections per second while setting up
                           [default: as fast as --concurrency allows]
  --ca PEM                 wss://: trust the certificate(s) in this file: the server's
                           own (byte for byte, even one marked as a CA, as `openssl req
                           -x509` makes them) or its CA; the certificate must name HOST
  --insecure               wss://: accept any certificate, unverified. For benchmarks
                           of a server on loopback only, never anything else
  --deflate                offer permessage-deflate (client_no_context_takeover;
                           server_no_context_takeover; client_max_window_bits) and fail
                           unless the server accepts; every message is then sent
                           compressed, and compressed ones are inflated on receipt

Measuring and output (every command):
  --server-pid PID         the server's process: report its CPU (and memory) use, from
                           /proc (each thread's run time in ns; 10 ms ticks as a fallback)
  --fail-if EXPR           a threshold: exit with status 3 if it holds (repeatable); see
                           Thresholds below
  --close-timeout SECS     time allowed for the closing handshakes [default: 3]
  --quiet                  no progress lines on stderr (one a second in runs of 3 s or
                           more; the report is still printed)
  -h, --help               this help

SECS values are seconds, fractions allowed, or carry a unit: 500ms, 2s, 1.5m.
Output: a table on stderr, one JSON object on stdout.
Exit status: 0 done; 1 could not set up (no server, failed handshakes) or measured
nothing (broadcast: no delivery in the measured time); 2 usage error; 3 a --fail-if
threshold held (the report is printed first, as it is for 1 after a run); 130 Ctrl-C
(broadcast: after the report of what was measured).
Open files: each connection is a descriptor; raise `ulimit -n` for large N.
";

/// The threshold syntax, with the metrics of one command.
fn thresholds(metrics: &str, example: &str) -> String {
    format!(
        "\
Thresholds (--fail-if 'METRIC OP VALUE', OP one of < <= > >=):
  {metrics}
  Latencies take a unit (ns, us, ms, s); counts are totals over the measured time
  (broadcast's errors: the whole run, warm-up included), or rates with /s (k, M, G
  allowed: 1.5M/s); CPU is in % of one core. A metric that was not
  measured (server_cpu without --server-pid) fails its threshold.
  Example: {example}
"
    )
}

/// `herald-bench broadcast --help`.
pub fn broadcast() -> String {
    format!(
        "\
herald-bench broadcast: N clients in a chat room (or K rooms); S of them send fixed-size
messages, which the server must pass to every other client of the sender's room.
Reports deliveries/s, sent/s, latency percentiles, lost and reordered messages, errors,
bytes read per delivery, and CPU (server's, with --server-pid, and the tool's own).
Ctrl-C ends the measured time where it is: the report and files cover what was measured
(\"interrupted\": true in the JSON) and the exit status is 130; a second Ctrl-C exits at once.

Closed loop (the default): each sender keeps at most W messages in flight (a message is
in flight until every other client of its room has it), so the rate is what the server
sustains, and latency is measured at that load.
Open loop (--rate): messages leave on a fixed schedule whatever the server does, like a
crowd of independent users; a message's latency counts from its intended send time, so
time a sender spent waiting (for a full window, a busy loop) is counted, not hidden
(no coordinated omission).

Latency: per delivery, from the send time the sender wrote into the message (with --rate,
the intended send time) to when the receiving client's loop read the message from its
socket. Every receiver of every message read during the measured interval is one sample:
one message to 99 receivers gives 99 samples. Both ends run in this process, on one clock.

Usage: herald-bench broadcast --url ws://127.0.0.1:PORT/ [OPTIONS]

Options:
  --clients N              clients [default: 100]
  --senders S              clients that send (the first S) [default: 1]
  --size BYTES             message size, at least 24 (binary) or 75 (json) [default: 32]
  --payload KIND           binary: the fields, then zeros (binary frames); json:
                           {{\"id\":…,\"seq\":…,\"t\":…,\"text\":\"lorem ipsum…\"}} padded with
                           random words to the size (text frames; compresses like chat
                           text) [default: binary]
  --window W               closed loop: messages in flight per sender [default: 1].
                           With --rate: the most in flight per sender before it waits
                           (the wait counts in the latency) [default: 1000]
  --rate R                 open loop: R messages per second in all, spread evenly over the
                           senders (each sends every S/R s, their turns staggered)
  --rate-per-sender R      open loop: R messages per second from each sender (R×S in all)
  --stage RATE:SECS        open loop in stages (k6's stages, Artillery's phases): RATE
                           messages per second in all for SECS whole seconds, then the next
                           --stage, e.g. --stage 10000:10 --stage 50000:10 --stage 100000:10.
                           The warm-up runs at the first rate, the measured time is the
                           sum, and each stage gets a row (and an entry in \"stages\" in
                           the JSON): its rates and latency percentiles on their own
  --rooms K                spread the clients over K rooms, client i in room i mod K (every
                           room needs 2 clients and gets senders i < S with i mod K = room).
                           The path is the URL's with {{room}} replaced by the room number,
                           or /room/bench-{{room}} when the URL has no path
  --duration SECS          measured time [default: 10]
  --warmup SECS            time before measuring, at the same load [default: 1]
  --threads T              event loops (1 or more) [default: 1]
  --concurrency C          handshakes in progress at once during setup [default: 100]
  --setup-timeout SECS     give up setting up after this [default: 60]
  --stall-timeout SECS     give up on a message in flight after this [default: 5]
  --compress-each          with --deflate: compress every whole message sent, as a browser
                           would. By default a message goes out as its fields in a
                           stored (uncompressed) deflate block, then its body compressed
                           once (per distinct body, up to 256, and window size) and kept:
                           as valid, the server inflates and relays it the same way, and
                           the load generator spends no CPU on compressing (about 8 µs
                           per 1 KiB message); the fields go out uncompressed (1 KiB JSON:
                           about 35 bytes more per message, binary about 14)
  --inflate-all            with --deflate: inflate every compressed delivery. By default
                           a loop inflates each distinct compressed message once and
                           reuses the result for deliveries with the very same bytes
                           (compared in full): one core cannot inflate for a hundred
                           clients as fast as a server compresses once for all
  --interval-json FILE     one JSON line per second of the run (warm-up included),
                           written as each second ends: t_s (the second's end, in seconds
                           since measuring started: ≤ 0 in the warm-up), secs (its length:
                           the run's edges cut some short), stage (warmup, measured) and
                           with --stage stage_index (1, 2, …), deliveries and
                           deliveries_per_s, sent_per_s, latency_p50_us … _max_us of the
                           deliveries in that second (null without any), errors and lost
  --hgrm FILE              the measured latency distribution in HdrHistogram's percentile
                           text format (values in ms), for HdrHistogram's plotter
  --plot FILE.svg          a picture: latency percentiles second by second, and the latency
                           distribution by percentile

{COMMON}
{}",
        thresholds(
            "p50 p90 p99 p99.9 max mean (latency), deliveries sent lost reordered stalled \
             unexpected\n  errors close_timeouts (counts), server_cpu bench_cpu (%)",
            "--fail-if 'p99>5ms' --fail-if 'deliveries<1000000/s' --fail-if 'errors>0'"
        )
    )
}

/// `herald-bench connect --help`.
pub fn connect() -> String {
    format!(
        "\
herald-bench connect: M connections, at most C in progress at once; each connects,
upgrades (the 101 and its Sec-WebSocket-Accept are checked), sends --first-message if
given, closes, and waits for the server's close. Reports handshakes per second of the
whole run (closes included) and the handshake time: from the start of the TCP connect to
a valid 101.

Usage: herald-bench connect --url ws://127.0.0.1:PORT/ [OPTIONS]

Options:
  --count M                connections [default: 5000]
  --concurrency C          connections in progress at once [default: 50]
  --timeout SECS           give up on the whole run after this [default: 120]
  --rooms K                connect client i to room i mod K (see broadcast --help)
  --interval-json FILE     one JSON line per second, written as it ends: t_s, secs (its
                           length: the last is cut short), handshakes and
                           handshakes_per_s, handshake_p50_us … _max_us (null without
                           any), failures in that second
  --hgrm FILE              the handshake-time distribution (HdrHistogram text, in ms)
  --plot FILE.svg          handshake-time percentiles second by second, and the
                           distribution by percentile

{COMMON}
{}",
        thresholds(
            "p50 p90 p99 p99.9 max mean (handshake time), handshakes failures \
             close_timeouts (counts),\n  server_cpu bench_cpu (%)",
            "--fail-if 'handshakes<5000/s' --fail-if 'failures>0'"
        )
    )
}

/// `herald-bench pusher --help`.
pub fn pusher() -> String {
    format!(
        "\
herald-bench pusher: load through the Pusher Channels protocol (any Pusher server).
  fanout     N subscribers on K public channels (c0..c{{K-1}}); P keep-alive HTTP
             connections trigger events through the signed HTTP API (POST /apps/ID/events),
             W in flight each, on the channels in turn. Reports deliveries/s, delivery
             latency (trigger sent to event read) and server CPU per delivery.
  subscribe  M connections, C at once: connect, upgrade, pusher:subscribe, wait for
             pusher_internal:subscription_succeeded, close. Reports connections/s.
For memory per subscribed idle connection use idle with a first message:
  herald-bench idle --url 'ws://127.0.0.1:PORT/app/KEY?protocol=7&r={{room}}' --rooms 100 \\
      --first-message '{{\"event\":\"pusher:subscribe\",\"data\":{{\"channel\":\"c{{room}}\"}}}}'

Usage: herald-bench pusher --url 'ws://127.0.0.1:PORT/app/KEY?protocol=7' [OPTIONS]

Options:
  --scenario fanout|subscribe   [default: fanout]
  --app-id ID              the app id of the HTTP API [default: 1]
  --key KEY                the app key [default: the URL's /app/KEY]
  --secret SECRET          the app secret (fanout: signs the HTTP API requests)
  --clients N              subscribers (fanout) [default: 1000] or connections
                           (subscribe) [default: 5000]
  --channels K             channels the subscribers spread over [default: 1]
  --concurrency C          handshakes in progress at once [default: 100]
  --publishers P           HTTP connections triggering (fanout) [default: 2]
  --window W               requests in flight per HTTP connection [default: 4]; a
                           server that answers `Connection: close` (sockudo closes
                           every API connection) gets one request per connection
  --size BYTES             event data size [default: 32]
  --duration SECS          measured time (fanout) [default: 10]
  --warmup SECS            triggering before measuring (fanout) [default: 2]
  --setup-timeout SECS     give up setting up (or, subscribe, the whole run) [default: 120]

{COMMON}"
    )
}

/// `herald-bench idle --help`.
pub fn idle() -> String {
    format!(
        "\
herald-bench idle: open N connections and hold them; reports the server's resident memory
before, with all open, and the growth per connection (with --server-pid; without it, the
run only opens and holds the connections): of its
anonymous memory (heap, stacks: what the connections cost), and of all its resident
memory (which also counts program code paged in on first use, a fixed amount). Measure a
fresh server: memory that an earlier run freed is reused, and then the figure means
nothing (the report says so when the server's memory did not grow).

Usage: herald-bench idle --url ws://127.0.0.1:PORT/ --server-pid PID [OPTIONS]

Options:
  --clients N              connections [default: 10000]
  --hold SECS              how long to hold them [default: 5]
  --concurrency C          handshakes in progress at once [default: 100]
  --setup-timeout SECS     give up setting up after this [default: 60]
  --rooms K                connect client i to room i mod K (see broadcast --help)

{COMMON}
{}",
        thresholds(
            "anon_per_conn rss_per_conn (bytes: B, KiB, MiB), errors close_timeouts (counts),\n  \
             server_cpu (%)",
            "--fail-if 'anon_per_conn>1KiB'"
        )
    )
}

/// `herald-bench publish --help`.
pub fn publish() -> String {
    format!(
        "\
herald-bench publish: herald's backend push API under load. M WebSocket members join one
room (the URL's /room/NAME; /room/bench-publish for /); C keep-alive HTTP connections
publish into it through the API, each with P requests in flight (pipelined), and every
member must receive every publish. Each message is a JSON object carrying its send time,
so every delivery is timed. Reports publishes/s, deliveries/s, the latency from publish
to member and the API's answer time (p50 … max), deliveries lost, and the server's CPU
per publish (with --server-pid). With --compare, one more WebSocket client then sends
the same message into the same room (W in flight, closed loop) for the same time, and
the report gives both costs per message and their ratio: one run, one machine, one load.
Start herald with an API key (HERALD_API_KEY=KEY herald ...) and give the same key here.
A 401, 403 or 404 from the API ends the run at once (a wrong key or address).

Usage: herald-bench publish --url ws://127.0.0.1:PORT/ --key KEY [OPTIONS]

Options:
  --key KEY                the API key (Authorization: Bearer KEY) [default:
                           $HERALD_API_KEY]
  --api-url http://H:P     where the API is (herald --api-listen) [default: the URL's
                           address; required with a wss:// URL]
  --members M              WebSocket members of the room [default: 10]
  --connections C          keep-alive API connections [default: 4]
  --pipeline P             requests in flight on each [default: 32]
  --size BYTES             the message: a JSON object of BYTES bytes (at least 75),
                           delivered as text [default: 100]
  --raw                    POST /api/rooms/NAME/publish with the message as the body,
                           not POST /api/publish with {{\"room\":…,\"data\":MESSAGE}}
  --compare                then the same message from a WebSocket client
  --window W               --compare: messages the client keeps in flight [default: 32]
  --duration SECS          measured time of each phase [default: 5]
  --warmup SECS            time before measuring, at the same load [default: 1]
  --requests-per-connection N
                           open a new API connection after N requests (herald ends one
                           after 10,000) [default: 10000]
  --setup-timeout SECS     give up setting up after this [default: 30]

Latencies count the messages sent within the measured time, each from the moment its
request was queued (so they include waiting behind the P requests ahead of it).

{COMMON}
{}",
        thresholds(
            "p50 p90 p99 p99.9 max mean (publish to member),\n  publishes deliveries \
             lost errors (counts), server_cpu bench_cpu (%)",
            "--fail-if 'p99>20ms' --fail-if 'publishes<50000/s' --fail-if 'lost>0'"
        )
    )
}
