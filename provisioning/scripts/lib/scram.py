#!/usr/bin/python3
"""SCRAM-SHA-256 verifiers as PostgreSQL stores them in pg_authid (RFC 5802, RFC 7677).

  scram.py verifier          password on stdin; prints a new verifier (random salt)
  scram.py matches VERIFIER  password on stdin; exit 0 when VERIFIER was made from it, 1 when not

linode-dr-secret-install sends ALTER ROLE a verifier, never the password, so the password is not
in the statement a server could log, and reads pg_authid to learn whether a role already has the
password it is given (a converge that changes nothing writes nothing). Passwords are printable
ASCII without spaces (validation/formats.ts), which SASLprep leaves as they are; anything else is
refused rather than hashed differently from PostgreSQL.
"""

import base64
import hashlib
import hmac
import os
import re
import sys

ITERATIONS = 4096  # PostgreSQL's scram_iterations default
SALT_BYTES = 16
PASSWORD = re.compile(r"^[\x21-\x7e]{8,256}$")
VERIFIER = re.compile(r"^SCRAM-SHA-256\$(\d+):([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+):([A-Za-z0-9+/=]+)$")


def keys(password, salt, iterations):
    salted = hashlib.pbkdf2_hmac("sha256", password.encode("ascii"), salt, iterations)
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    return stored_key, server_key


def b64(data):
    return base64.b64encode(data).decode("ascii")


def verifier(password):
    salt = os.urandom(SALT_BYTES)
    stored_key, server_key = keys(password, salt, ITERATIONS)
    return f"SCRAM-SHA-256${ITERATIONS}:{b64(salt)}${b64(stored_key)}:{b64(server_key)}"


def matches(stored, password):
    m = VERIFIER.match(stored)
    if not m:
        return False
    iterations, salt, stored_key, server_key = m.groups()
    want = keys(password, base64.b64decode(salt), int(iterations))
    got = (base64.b64decode(stored_key), base64.b64decode(server_key))
    return hmac.compare_digest(want[0], got[0]) and hmac.compare_digest(want[1], got[1])


def read_password():
    password = sys.stdin.read().rstrip("\n")
    if not PASSWORD.match(password):
        sys.exit("scram.py: the password on stdin must be 8 to 256 printable ASCII characters without spaces")
    return password


def main(argv):
    if argv[1:] == ["verifier"]:
        print(verifier(read_password()))
        return 0
    if len(argv) == 3 and argv[1] == "matches":
        return 0 if matches(argv[2], read_password()) else 1
    sys.exit('usage: scram.py verifier | scram.py matches VERIFIER (password on stdin); received "%s"' % " ".join(argv[1:]))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
