<?php
// Trigger a Pusher event the way Laravel's `pusher` broadcaster does (through
// pusher/pusher-php-server): POST /apps/{id}/events with a JSON body {name, data, channels}
// and the signed query auth_key, auth_timestamp, auth_version=1.0, body_md5 and
// auth_signature = HMAC-SHA256(secret, "POST\n/apps/{id}/events\n" + sorted query), with
// php-curl and PHP's own hash functions (nothing of herald's).
//
// Owns one client-side script for the integration tests; it starts no server.
// Usage: php broadcast.php --host H --port P --app-id ID --key K --secret S
//            --channels a,b --event NAME --data JSON [--socket-id ID]
// Laravel sends the event's public properties as a JSON string in `data`; so does this.
// Prints {"status": N, "body": <response JSON or text>} and exits 0 on any HTTP answer,
// 1 on a transport error, 2 on bad arguments or a missing php-curl.

if (!function_exists('curl_init')) {
    fwrite(STDERR, "broadcast.php: php-curl is missing (apt-get install php-curl)\n");
    exit(2);
}
$opts = getopt('', ['host:', 'port:', 'app-id:', 'key:', 'secret:', 'channels:', 'event:', 'data:', 'socket-id:']);
foreach (['host', 'port', 'app-id', 'key', 'secret', 'channels', 'event', 'data'] as $required) {
    if (!isset($opts[$required])) {
        fwrite(STDERR, "broadcast.php: --$required is required\n");
        exit(2);
    }
}

$payload = [
    'name' => $opts['event'],
    'data' => $opts['data'],
    'channels' => array_values(array_filter(explode(',', $opts['channels']), 'strlen')),
];
if (isset($opts['socket-id'])) {
    $payload['socket_id'] = $opts['socket-id'];
}
$body = json_encode($payload);
$path = '/apps/' . $opts['app-id'] . '/events';
$params = [
    'auth_key' => $opts['key'],
    'auth_timestamp' => (string) time(),
    'auth_version' => '1.0',
    'body_md5' => md5($body),
];
ksort($params);
$query = http_build_query($params);
$params['auth_signature'] = hash_hmac('sha256', "POST\n$path\n$query", $opts['secret']);
$url = 'http://' . $opts['host'] . ':' . $opts['port'] . $path . '?' . http_build_query($params);

$curl = curl_init($url);
curl_setopt_array($curl, [
    CURLOPT_POST => true,
    CURLOPT_POSTFIELDS => $body,
    CURLOPT_HTTPHEADER => ['Content-Type: application/json', 'X-Pusher-Library: herald-test-php'],
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_TIMEOUT => 10,
]);
$response = curl_exec($curl);
if ($response === false) {
    fwrite(STDERR, 'broadcast.php: ' . curl_error($curl) . "\n");
    exit(1);
}
$status = curl_getinfo($curl, CURLINFO_RESPONSE_CODE);
$decoded = json_decode($response, true);
echo json_encode(['status' => $status, 'body' => $decoded ?? $response]), "\n";
exit(0);
