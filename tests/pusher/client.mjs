// A real Pusher client (pusher-js, optionally driven through Laravel Echo) for herald's
// Pusher tests: connects to a server, subscribes, and reports everything it sees as one
// JSON object per line on stdout, so a test can wait on lines instead of sleeping.
//
// Usage:
//   node client.mjs --host 127.0.0.1 --port 6001 --key app-key
//       [--auth http://127.0.0.1:PORT/pusher/auth]        channel authorization endpoint
//       [--user-auth http://127.0.0.1:PORT/pusher/user-auth] user authentication endpoint
//       [--user ID] [--name NAME]     sent to the endpoints as user_id / user_name
//       [--sub CHANNEL]...            subscribe at start (full Pusher names)
//       [--signin]                    pusher.signin() at start
//       [--echo]                      subscribe through Laravel Echo instead of pusher-js
//       [--listen EVENT]...           with --echo: the event names to listen for
//       [--exit-after MS]             exit after MS milliseconds (default: on stdin EOF)
// Every option also reads an environment variable: PUSHER_HOST, PUSHER_PORT, PUSHER_KEY,
// PUSHER_AUTH, PUSHER_USER_AUTH, PUSHER_USER.
//
// Lines printed: {"type":"state","current":…}, {"type":"connected","socket_id":…},
// {"type":"subscribed","channel":…,"members"?:[…]}, {"type":"subscription_error",…},
// {"type":"message","event":…,"channel":…,"data":…,"user_id"?:…} for every event received
// (internal ones included), {"type":"member_added"|"member_removed",…},
// {"type":"signed_in",…}, {"type":"error",…}, and {"type":"ready"} once every
// subscription given on the command line has succeeded or failed.
//
// Commands, one JSON object per line on stdin:
//   {"subscribe":"private-x"}  {"unsubscribe":"private-x"}
//   {"trigger":{"channel":"private-x","event":"client-typing","data":{…}}}   (client event)
//   {"whisper":{"channel":"x","event":"typing","data":{…}}}                   (--echo)
//   {"signin":true}  {"disconnect":true}

import Pusher from 'pusher-js';
import Echo from 'laravel-echo';
import readline from 'node:readline';

function parseArgs(argv) {
  const opts = {
    host: process.env.PUSHER_HOST || '127.0.0.1',
    port: Number(process.env.PUSHER_PORT || 6001),
    key: process.env.PUSHER_KEY || '',
    auth: process.env.PUSHER_AUTH || '',
    userAuth: process.env.PUSHER_USER_AUTH || '',
    user: process.env.PUSHER_USER || '',
    name: '',
    subs: [],
    listen: [],
    signin: false,
    echo: false,
    exitAfter: 0,
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const next = () => {
      if (i + 1 >= argv.length) throw new Error(`${arg} needs a value`);
      return argv[++i];
    };
    switch (arg) {
      case '--host': opts.host = next(); break;
      case '--port': opts.port = Number(next()); break;
      case '--key': opts.key = next(); break;
      case '--auth': opts.auth = next(); break;
      case '--user-auth': opts.userAuth = next(); break;
      case '--user': opts.user = next(); break;
      case '--name': opts.name = next(); break;
      case '--sub': opts.subs.push(next()); break;
      case '--listen': opts.listen.push(next()); break;
      case '--signin': opts.signin = true; break;
      case '--echo': opts.echo = true; break;
      case '--exit-after': opts.exitAfter = Number(next()); break;
      default: throw new Error(`unknown option ${arg}`);
    }
  }
  if (!opts.key) throw new Error('--key (or PUSHER_KEY) is required');
  return opts;
}

const emit = (obj) => process.stdout.write(JSON.stringify(obj) + '\n');

const opts = parseArgs(process.argv.slice(2));
const params = {};
if (opts.user) params.user_id = opts.user;
if (opts.name) params.user_name = opts.name;

const pusher = new Pusher(opts.key, {
  cluster: 'local', // required by pusher-js 8; unused with wsHost
  wsHost: opts.host,
  wsPort: opts.port,
  wssPort: opts.port,
  forceTLS: false,
  enabledTransports: ['ws'],
  disableStats: true,
  channelAuthorization: { endpoint: opts.auth || 'http://127.0.0.1:9/unset', transport: 'ajax', params },
  userAuthentication: { endpoint: opts.userAuth || 'http://127.0.0.1:9/unset', transport: 'ajax', params },
});

pusher.connection.bind('state_change', ({ previous, current }) => emit({ type: 'state', previous, current }));
pusher.connection.bind('connected', () => emit({ type: 'connected', socket_id: pusher.connection.socket_id }));
pusher.connection.bind('error', (err) => emit({ type: 'error', error: err }));
pusher.connection.bind('message', (event) => {
  const line = { type: 'message', event: event.event, channel: event.channel, data: event.data };
  if (event.user_id !== undefined) line.user_id = event.user_id;
  emit(line);
});
pusher.user.bind('pusher:signin_success', () => {});
pusher.connection.bind('message', (event) => {
  if (event.event === 'pusher:signin_success') emit({ type: 'signed_in', user_data: event.data.user_data });
});

let pending = new Set(opts.subs);
let readySent = false;
const settle = (channel) => {
  pending.delete(channel);
  if (!readySent && pending.size === 0) {
    readySent = true;
    emit({ type: 'ready' });
  }
};

const membersOf = (members) => {
  const list = [];
  members.each((m) => list.push({ id: m.id, info: m.info }));
  return list;
};

// pusher-js directly.
function subscribeDirect(name) {
  const channel = pusher.subscribe(name);
  channel.bind('pusher:subscription_succeeded', (data) => {
    const line = { type: 'subscribed', channel: name };
    if (name.startsWith('presence-')) line.members = membersOf(channel.members);
    emit(line);
    settle(name);
  });
  channel.bind('pusher:subscription_error', (error) => {
    emit({ type: 'subscription_error', channel: name, error });
    settle(name);
  });
  if (name.startsWith('presence-')) {
    channel.bind('pusher:member_added', (m) => emit({ type: 'member_added', channel: name, id: m.id, info: m.info }));
    channel.bind('pusher:member_removed', (m) => emit({ type: 'member_removed', channel: name, id: m.id, info: m.info }));
  }
  return channel;
}

// Laravel Echo over the same pusher-js client.
const echo = opts.echo
  ? new Echo({ broadcaster: 'pusher', key: opts.key, client: pusher })
  : null;
const echoChannels = new Map();

function subscribeEcho(name) {
  let channel;
  if (name.startsWith('presence-')) {
    const short = name.slice('presence-'.length);
    channel = echo.join(short)
      .here((users) => { emit({ type: 'subscribed', channel: name, members: users }); settle(name); })
      .joining((user) => emit({ type: 'member_added', channel: name, info: user }))
      .leaving((user) => emit({ type: 'member_removed', channel: name, info: user }));
  } else {
    channel = name.startsWith('private-encrypted-')
      ? echo.encryptedPrivate(name.slice('private-encrypted-'.length))
      : name.startsWith('private-')
        ? echo.private(name.slice('private-'.length))
        : echo.channel(name);
    channel.subscribed(() => { emit({ type: 'subscribed', channel: name }); settle(name); });
  }
  channel.error((error) => { emit({ type: 'subscription_error', channel: name, error }); settle(name); });
  for (const event of opts.listen) {
    channel.listen(event, (data) => emit({ type: 'echo_event', channel: name, event, data }));
    channel.listenForWhisper(event, (data) => emit({ type: 'echo_whisper', channel: name, event, data }));
  }
  echoChannels.set(name, channel);
  return channel;
}

const subscribe = (name) => (echo ? subscribeEcho(name) : subscribeDirect(name));

pusher.connection.bind('connected', () => {
  if (opts.signin) pusher.signin();
});
for (const name of opts.subs) subscribe(name);
if (opts.subs.length === 0) {
  pusher.connection.bind('connected', () => settle(null));
}

function exit(code) {
  pusher.disconnect();
  emit({ type: 'done' });
  // Let stdout drain before leaving.
  process.stdout.write('', () => process.exit(code));
}

function command(cmd) {
  if (cmd.subscribe) subscribe(cmd.subscribe);
  else if (cmd.unsubscribe) {
    if (echo) echo.leaveChannel(cmd.unsubscribe);
    else pusher.unsubscribe(cmd.unsubscribe);
  } else if (cmd.trigger) {
    const { channel, event, data } = cmd.trigger;
    const ok = pusher.channel(channel)?.trigger(event, data);
    emit({ type: 'triggered', channel, event, ok: Boolean(ok) });
  } else if (cmd.whisper) {
    const { channel, event, data } = cmd.whisper;
    echoChannels.get(channel)?.whisper(event, data);
    emit({ type: 'whispered', channel, event });
  } else if (cmd.signin) pusher.signin();
  else if (cmd.disconnect) exit(0);
  else emit({ type: 'error', error: `unknown command ${JSON.stringify(cmd)}` });
}

const rl = readline.createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (!line.trim()) return;
  try {
    command(JSON.parse(line));
  } catch (e) {
    emit({ type: 'error', error: String(e) });
  }
});
if (opts.exitAfter > 0) setTimeout(() => exit(0), opts.exitAfter);
else rl.on('close', () => exit(0));
