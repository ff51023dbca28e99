"""Prints Patroni's configuration (/etc/linode-dr/patroni.yml) for linode-dr-db-provision.

Run with Debian's /usr/bin/python3, whose PyYAML (python3-yaml, a dependency of the patroni
package) writes the file: a password holding quotes, backslashes, colons or # reads back exactly
as written, with no quoting by hand. Secrets are read from their files here, so they never appear
on a command line. The settings come from cloud-init's files, already validated by
linode-dr-db-provision.
"""

import argparse
import sys

import yaml

HEADER = "# Managed by linode-dr-db-provision; rewritten on every run. Secrets: mode 0600, owner postgres.\n"


def fail(message):
    print(f"patroni-config: {message}", file=sys.stderr)
    sys.exit(1)


def read_secret(path):
    try:
        with open(path, encoding="utf-8") as secret_file:
            # Like bash's $(<file): the newline that ends the file is not part of the secret.
            value = secret_file.read().rstrip("\n")
    except OSError as error:
        fail(f"secret file {path} is unreadable: {error.strerror}")
    if not value:
        fail(f"secret file {path} is empty")
    return value


def true_or_false(text):
    if text not in ("true", "false"):
        raise argparse.ArgumentTypeError(f'expected "true" or "false", received "{text}"')
    return text == "true"


def arguments():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    strings = {
        "--scope": "Patroni cluster name (consensus SCOPE)",
        "--member": "this member's Patroni name: primary or dr",
        "--server-name": "this member's DNS name, the one in its certificate",
        "--rest-user": "user of Patroni's REST API",
        "--wal-keep-size": "PostgreSQL wal_keep_size, e.g. 512MB",
        "--max-slot-wal-keep-size": "PostgreSQL max_slot_wal_keep_size, e.g. 8GB",
        "--replication-user": "PostgreSQL role the replicas stream as",
        "--app-database": "the application's database",
        "--app-user": "the application's role",
        "--data-dir": "PostgreSQL data directory",
        "--bin-dir": "PostgreSQL programs",
        "--pgpass": "the .pgpass file Patroni writes",
        "--tls-dir": "directory of ca.crt, server.crt and server.key",
        "--socket-dir": "PostgreSQL's Unix socket directory",
        "--rest-password-file": "file holding the REST API password",
        "--superuser-password-file": "file holding the postgres password",
        "--replication-password-file": "file holding the replication role's password",
    }
    for flag, help_text in strings.items():
        parser.add_argument(flag, required=True, help=help_text)
    numbers = {
        "--ttl": "leader lease, seconds",
        "--loop-wait": "seconds between Patroni's HA loops",
        "--retry-timeout": "seconds Patroni retries etcd and PostgreSQL",
        "--maximum-lag-on-failover": "bytes a standby may lag and still be promoted",
        "--rest-port": "Patroni REST API port",
        "--postgres-port": "PostgreSQL port",
        "--etcd-client-port": "etcd client port",
    }
    for flag, help_text in numbers.items():
        parser.add_argument(flag, required=True, type=int, help=help_text)
    parser.add_argument("--synchronous-mode", required=True, type=true_or_false)
    parser.add_argument("--nofailover", required=True, type=true_or_false)
    parser.add_argument("--watchdog", required=True, choices=["automatic", "off"])
    parser.add_argument(
        "--pre-promote",
        default="",
        help="command Patroni runs before promoting this member (the data-loss budget's check); none when empty",
    )
    return parser.parse_args()


# The kernel resets the Linode this many seconds before the leader key would expire if Patroni
# stops renewing it (hung, not dead): the old primary's PostgreSQL is gone before another member
# may take the lease. Patroni arms the watchdog for ttl - margin (8 s at the defaults), which
# still covers a loop that waited out retry_timeout (loop_wait + retry_timeout = 6 s).
WATCHDOG_SAFETY_MARGIN_SECONDS = 2


def watchdog(mode):
    if mode == "off":
        return {"mode": "off"}
    # automatic: used when the device can be opened, Patroni carries on without it otherwise.
    return {"mode": "automatic", "device": "/dev/watchdog", "safety_margin": WATCHDOG_SAFETY_MARGIN_SECONDS}


def patroni_config(a):
    ca = f"{a.tls_dir}/ca.crt"
    cert = f"{a.tls_dir}/server.crt"
    key = f"{a.tls_dir}/server.key"
    return {
        "scope": a.scope,
        "namespace": "/service/",
        "name": a.member,
        "restapi": {
            "listen": f"0.0.0.0:{a.rest_port}",
            "connect_address": f"{a.server_name}:{a.rest_port}",
            "certfile": cert,
            "keyfile": key,
            "cafile": ca,
            "authentication": {"username": a.rest_user, "password": read_secret(a.rest_password_file)},
        },
        "ctl": {"cacert": ca, "certfile": cert, "keyfile": key},
        # Patroni talks to this host's own etcd member only (use_proxies: no discovery of the
        # others). Its view is then exactly its site's: cut off from the majority, its lease
        # renewals fail and it demotes; with the majority, its watch never hangs on a dead
        # cross-region TCP connection (a silently dropped peer would otherwise keep a stale leader
        # key in Patroni's cache for tens of seconds and delay the failover).
        "etcd3": {
            "protocol": "https",
            "cacert": ca,
            "cert": cert,
            "key": key,
            "use_proxies": True,
            "hosts": [f"{a.server_name}:{a.etcd_client_port}"],
        },
        "bootstrap": {
            "dcs": {
                "ttl": a.ttl,
                "loop_wait": a.loop_wait,
                "retry_timeout": a.retry_timeout,
                "maximum_lag_on_failover": a.maximum_lag_on_failover,
                "synchronous_mode": a.synchronous_mode,
                "synchronous_mode_strict": False,
                # A leader whose etcd request failed (a short network flap) stays primary if, right
                # then, it reaches every other member's REST API and they acknowledge; a member so
                # contacted does not race for the lock. Cut off from the others it still demotes.
                "failsafe_mode": True,
                # Never paused: a paused Patroni neither initialises a cluster nor copies a replica,
                # and a paused leader that loses its lease keeps running as a primary (no fencing).
                # Turning automatic failover off uses the nofailover tag instead (see tags).
                "pause": False,
                "postgresql": {
                    "use_pg_rewind": True,
                    "use_slots": True,
                    "parameters": {
                        "wal_level": "replica",
                        "hot_standby": "on",
                        "wal_log_hints": "on",
                        "max_wal_senders": 10,
                        "max_replication_slots": 10,
                        "wal_keep_size": a.wal_keep_size,
                        "max_slot_wal_keep_size": a.max_slot_wal_keep_size,
                        # A replication connection stalled by a partition is dropped and redialled
                        # after 10 s of silence instead of PostgreSQL's 60 s: after a partition
                        # heals the standby resumes within seconds (the partition drill measured
                        # 23.6 s with the default, and a region loss in that window loses every
                        # write since the partition), and a cut-off primary's shutdown no longer
                        # waits a minute for its walsender.
                        "wal_sender_timeout": "10s",
                        "wal_receiver_timeout": "10s",
                    },
                },
            },
            "initdb": [{"encoding": "UTF8"}, "data-checksums"],
        },
        "postgresql": {
            "listen": f"0.0.0.0:{a.postgres_port}",
            "connect_address": f"{a.server_name}:{a.postgres_port}",
            "data_dir": a.data_dir,
            "bin_dir": a.bin_dir,
            "pgpass": a.pgpass,
            "use_unix_socket": True,
            "use_unix_socket_repl": True,
            "authentication": {
                "superuser": {
                    "username": "postgres",
                    "password": read_secret(a.superuser_password_file),
                    "sslmode": "verify-full",
                    "sslrootcert": ca,
                },
                "replication": {
                    "username": a.replication_user,
                    "password": read_secret(a.replication_password_file),
                    "sslmode": "verify-full",
                    "sslrootcert": ca,
                },
            },
            "parameters": {
                "unix_socket_directories": a.socket_dir,
                "password_encryption": "scram-sha-256",
                "ssl": "on",
                "ssl_cert_file": cert,
                "ssl_key_file": key,
                "ssl_min_protocol_version": "TLSv1.2",
                # A standby whose replication connection failed dials again after 1 s instead of
                # 5 s: with the connection's tcp_user_timeout (linode-dr-db-provision's libpq
                # service), streaming resumes within seconds of a partition's heal.
                "wal_retrieve_retry_interval": "1s",
            },
            "basebackup": [{"checkpoint": "fast"}],
            **({"pre_promote": a.pre_promote} if a.pre_promote else {}),
            "pg_hba": [
                "local all all peer",
                # Patroni's own replication connection to this server (timeline checks) uses the
                # socket.
                f"local replication {a.replication_user} scram-sha-256",
                # Replication and pg_rewind cross the public internet: TLS and SCRAM only. The
                # peers' addresses are not known at first boot, so the Cloud Firewall is the
                # address filter.
                f"hostssl replication {a.replication_user} 0.0.0.0/0 scram-sha-256",
                "hostssl postgres postgres 0.0.0.0/0 scram-sha-256",
                f"hostssl {a.app_database} {a.app_user} 0.0.0.0/0 scram-sha-256",
            ],
        },
        # automaticFailover=false: only the member the failover flag names may take the lease; the
        # other carries nofailover (linode-dr-db-provision's nofailover_tag decides which).
        "tags": {"nofailover": a.nofailover, "noloadbalance": False, "clonefrom": False, "nosync": False},
        "watchdog": watchdog(a.watchdog),
    }


def main():
    config = patroni_config(arguments())
    sys.stdout.write(HEADER + yaml.safe_dump(config, sort_keys=False, default_flow_style=False))


if __name__ == "__main__":
    main()
