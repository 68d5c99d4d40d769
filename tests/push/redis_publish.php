<?php
// Push to herald through Redis with php-redis: a bare PUBLISH to a room's channel, or the
// payload Laravel's `redis` broadcaster publishes.
//
// Owns one client-side script for the integration tests; it starts no server. Options
// (environment variables in brackets are the defaults):
//   --host H --port P    the Redis server [REDIS_HOST, else 127.0.0.1; REDIS_PORT, else 6379]
//   --prefix P           the channel prefix [HERALD_REDIS_PREFIX, else herald:room:]
//   --room R             the room; the channel is PREFIX . R
//   --message TEXT       publish TEXT as it is (herald delivers it as a text message)
//   --binary-file F      publish the file's bytes as they are (not UTF-8: a binary message)
//   --laravel-event E --data JSON   publish {"event": E, "data": JSON, "socket": null}, as
//                        Illuminate\Broadcasting\Broadcasters\RedisBroadcaster does
// Prints one JSON line: {"channel": "...", "receivers": N, "bytes": N}; N receivers is what
// PUBLISH answered (subscribed Redis clients, i.e. herald instances with members in R).
// Exit status 0 on success, 1 on a Redis error, 2 on bad arguments or a missing php-redis.

if (!class_exists('Redis')) {
    fwrite(STDERR, "redis_publish.php: php-redis is missing (apt-get install php-redis)\n");
    exit(2);
}

$opts = getopt('', ['host:', 'port:', 'prefix:', 'room:', 'message:', 'binary-file:',
    'laravel-event:', 'data:']);
if ($opts === false || !isset($opts['room'])) {
    fwrite(STDERR, "redis_publish.php: --room is required\n");
    exit(2);
}
$host = $opts['host'] ?? (getenv('REDIS_HOST') ?: '127.0.0.1');
$port = (int) ($opts['port'] ?? (getenv('REDIS_PORT') ?: 6379));
$prefix = $opts['prefix'] ?? (getenv('HERALD_REDIS_PREFIX') ?: 'herald:room:');
$channel = $prefix . $opts['room'];

if (isset($opts['message'])) {
    $payload = $opts['message'];
} elseif (isset($opts['binary-file'])) {
    $payload = file_get_contents($opts['binary-file']);
    if ($payload === false) {
        fwrite(STDERR, "redis_publish.php: cannot read {$opts['binary-file']}\n");
        exit(2);
    }
} elseif (isset($opts['laravel-event'])) {
    $data = json_decode($opts['data'] ?? '{}', true, 512, JSON_THROW_ON_ERROR);
    $payload = json_encode(['event' => $opts['laravel-event'], 'data' => $data, 'socket' => null]);
} else {
    fwrite(STDERR, "redis_publish.php: give --message, --binary-file or --laravel-event\n");
    exit(2);
}

try {
    $redis = new Redis();
    $redis->connect($host, $port, 5.0);
    $receivers = $redis->publish($channel, $payload);
    $redis->close();
} catch (RedisException $e) {
    echo json_encode(['channel' => $channel, 'error' => $e->getMessage()]), "\n";
    exit(1);
}
echo json_encode(['channel' => $channel, 'receivers' => $receivers, 'bytes' => strlen($payload)],
    JSON_UNESCAPED_SLASHES), "\n";
