"""A minimal client of etcd's v3 JSON gateway, over TLS with this host's certificate.

The heartbeat and the promotion check run as PostgreSQL's user, next to Patroni, and reach this
host's own etcd member the way Patroni's etcd3 client does (HTTP/1.1 JSON on the client port).
Keys and values travel base64-encoded, as the gateway requires.
"""

import base64
import http.client
import json
import os
import ssl
import urllib.parse


def _b64(text):
    return base64.b64encode(text.encode("utf-8")).decode("ascii")


class EtcdGateway:
    """One keep-alive HTTPS connection to one member, opened again after any failure and whenever
    a TLS file changed (a long-running caller, the heartbeat, must follow linode-dr-tls-install's
    rotations of the CA bundle and the member's key without a TLS handshake every second)."""

    def __init__(self, url, ca_file, cert_file, key_file, timeout_seconds):
        parsed = urllib.parse.urlsplit(url)
        self._host, self._port = parsed.hostname, parsed.port
        self._timeout = timeout_seconds
        self._files = (ca_file, cert_file, key_file)
        self._loaded = None
        self._connection = None

    def _open(self):
        stamps = tuple(os.stat(path).st_mtime_ns for path in self._files)
        if self._connection is None or stamps != self._loaded:
            self.close()
            ca_file, cert_file, key_file = self._files
            context = ssl.create_default_context(cafile=ca_file)
            context.load_cert_chain(cert_file, key_file)
            self._connection = http.client.HTTPSConnection(
                self._host, self._port, context=context, timeout=self._timeout
            )
            self._loaded = stamps
        return self._connection

    def close(self):
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _post(self, path, body):
        connection = self._open()
        try:
            connection.request(
                "POST", path, body=json.dumps(body).encode("utf-8"), headers={"Content-Type": "application/json"}
            )
            answer = connection.getresponse()
            data = answer.read()
        except Exception:
            self.close()
            raise
        if answer.status != 200:
            raise OSError(f"etcd answered {answer.status} to {path}: {data[:200]!r}")
        return json.loads(data)

    def get(self, key):
        """The value of `key` (text), or None when it does not exist."""
        return self.get_revision(key)[0]

    def get_revision(self, key):
        """(value, mod_revision) of `key`, or (None, None) when it does not exist."""
        kvs = self._post("/v3/kv/range", {"key": _b64(key)}).get("kvs") or []
        if not kvs:
            return None, None
        return base64.b64decode(kvs[0]["value"]).decode("utf-8"), kvs[0]["mod_revision"]

    def delete_if_unchanged_and_absent(self, key, mod_revision, absent_key):
        """Deletes `key` only while it is at `mod_revision` and `absent_key` does not exist."""
        answer = self._post(
            "/v3/kv/txn",
            {
                "compare": [
                    {"key": _b64(key), "result": "EQUAL", "target": "MOD", "mod_revision": mod_revision},
                    {"key": _b64(absent_key), "result": "EQUAL", "target": "VERSION", "version": 0},
                ],
                "success": [{"request_delete_range": {"key": _b64(key)}}],
            },
        )
        return bool(answer.get("succeeded"))

    def put_if_equal(self, key, value, guard_key, guard_value):
        """Puts `key` only while `guard_key` holds `guard_value`; returns whether it did."""
        answer = self._post(
            "/v3/kv/txn",
            {
                "compare": [
                    {"key": _b64(guard_key), "result": "EQUAL", "target": "VALUE", "value": _b64(guard_value)}
                ],
                "success": [{"request_put": {"key": _b64(key), "value": _b64(value)}}],
            },
        )
        return bool(answer.get("succeeded"))
