<?php
// Push to herald through its HTTP publish API with php-curl, as a PHP backend would.
//
// Owns one client-side script for the integration tests; it starts no server. Options
// (environment variables in brackets are the defaults):
//   --url URL          herald's base URL [HERALD_URL, else http://127.0.0.1:8080]
//   --key KEY          API key, sent as Authorization: Bearer KEY [HERALD_API_KEY];
//                      --no-key sends no Authorization header
//   --room R / --rooms a,b / --user U / --users a,b     targets (POST /api/publish)
//   --data TEXT        a text message; --data-json JSON sends the JSON value as data
//   --binary-file F    the file's bytes as a binary message (base64 in the body)
//   --raw TEXT --content-type T   POST /api/rooms/{--room}/publish with TEXT as the body
//   --body JSON        POST /api/publish with this body exactly (for error cases)
//   --method M --path P           any other request (GET /api/rooms, POST /api/disconnect
//                      with --body), e.g. --method GET --path /api/rooms
//   --count N          send the same request N times over one connection (keep-alive)
// Prints one JSON line per request: {"status": 200, "body": <JSON or string>,
// "headers": {lower-case name: value}, "connection_reused": bool}. Exit status 0 when every
// request got an HTTP answer (whatever its status), 1 on a transport error, 2 on bad
// arguments or a missing php-curl.

if (!function_exists('curl_init')) {
    fwrite(STDERR, "publish.php: php-curl is missing (apt-get install php-curl)\n");
    exit(2);
}

$opts = getopt('', [
    'url:', 'key:', 'no-key', 'room:', 'rooms:', 'user:', 'users:', 'data:', 'data-json:',
    'binary-file:', 'raw:', 'content-type:', 'body:', 'method:', 'path:', 'count:',
]);
if ($opts === false) {
    fwrite(STDERR, "publish.php: bad options\n");
    exit(2);
}
$url = rtrim($opts['url'] ?? getenv('HERALD_URL') ?: 'http://127.0.0.1:8080', '/');
$key = isset($opts['no-key']) ? null : ($opts['key'] ?? (getenv('HERALD_API_KEY') ?: null));
$count = max(1, (int) ($opts['count'] ?? 1));
$list = fn(string $s): array => array_values(array_filter(explode(',', $s), 'strlen'));

$method = 'POST';
$headers = [];
if (isset($opts['path'])) {
    $method = $opts['method'] ?? 'GET';
    $path = $opts['path'];
    $body = $opts['body'] ?? null;
    if ($body !== null) {
        $headers[] = 'Content-Type: application/json';
    }
} elseif (isset($opts['raw'])) {
    if (!isset($opts['room'])) {
        fwrite(STDERR, "publish.php: --raw needs --room\n");
        exit(2);
    }
    $path = '/api/rooms/' . $opts['room'] . '/publish';
    $body = $opts['raw'];
    $headers[] = 'Content-Type: ' . ($opts['content-type'] ?? 'text/plain; charset=utf-8');
} elseif (isset($opts['body'])) {
    $path = '/api/publish';
    $body = $opts['body'];
    $headers[] = 'Content-Type: application/json';
} else {
    $path = '/api/publish';
    $request = [];
    foreach (['room', 'user'] as $one) {
        if (isset($opts[$one])) {
            $request[$one] = $opts[$one];
        }
    }
    foreach (['rooms', 'users'] as $many) {
        if (isset($opts[$many])) {
            $request[$many] = $list($opts[$many]);
        }
    }
    if (isset($opts['data'])) {
        $request['data'] = $opts['data'];
    } elseif (isset($opts['data-json'])) {
        $request['data'] = json_decode($opts['data-json'], false, 512, JSON_THROW_ON_ERROR);
    } elseif (isset($opts['binary-file'])) {
        $bytes = file_get_contents($opts['binary-file']);
        if ($bytes === false) {
            fwrite(STDERR, "publish.php: cannot read {$opts['binary-file']}\n");
            exit(2);
        }
        $request['binary'] = base64_encode($bytes);
    }
    $body = json_encode($request, JSON_UNESCAPED_SLASHES | JSON_UNESCAPED_UNICODE);
    $headers[] = 'Content-Type: application/json';
}
if ($key !== null) {
    $headers[] = 'Authorization: Bearer ' . $key;
}

$curl = curl_init();
$received = [];
curl_setopt_array($curl, [
    CURLOPT_URL => $url . $path,
    CURLOPT_CUSTOMREQUEST => $method,
    CURLOPT_HTTPHEADER => $headers,
    CURLOPT_RETURNTRANSFER => true,
    CURLOPT_CONNECTTIMEOUT => 5,
    CURLOPT_TIMEOUT => 10,
    CURLOPT_HEADERFUNCTION => function ($curl, string $line) use (&$received): int {
        $parts = explode(':', $line, 2);
        if (count($parts) === 2) {
            $received[strtolower(trim($parts[0]))] = trim($parts[1]);
        }
        return strlen($line);
    },
]);
if ($body !== null) {
    curl_setopt($curl, CURLOPT_POSTFIELDS, $body);
}

$exit = 0;
for ($i = 0; $i < $count; $i++) {
    $received = [];
    $answer = curl_exec($curl);
    if ($answer === false) {
        echo json_encode(['status' => null, 'error' => curl_error($curl)]), "\n";
        $exit = 1;
        break;
    }
    $decoded = json_decode($answer, true);
    echo json_encode([
        'status' => curl_getinfo($curl, CURLINFO_RESPONSE_CODE),
        'body' => $decoded ?? $answer,
        'headers' => $received,
        // libcurl opened no new connection for this request: keep-alive worked.
        'connection_reused' => $i > 0 && curl_getinfo($curl, CURLINFO_NUM_CONNECTS) === 0,
    ], JSON_UNESCAPED_SLASHES), "\n";
}
curl_close($curl);
exit($exit);
