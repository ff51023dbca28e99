"""What the heartbeat and the promotion check know of their cluster: consensus.conf's settings
(written by cloud-init, validated again here for the keys they use), where PostgreSQL and this
member's TLS identity are, and the etcd keys involved.
"""

import os
import re
import sys

from etcd_gateway import EtcdGateway

ETC_DIR = os.environ.get("LINODE_DR_ETC_DIR", "/etc/linode-dr")
STATE_DIR = os.environ.get("LINODE_DR_STATE_DIR", "/var/lib/linode-dr")
# PostgreSQL's copy of this member's TLS identity (linode-dr-db-provision), readable by its user.
PG_TLS_DIR = os.environ.get("LINODE_DR_PG_TLS_DIR", "/var/lib/postgresql/linode-dr-tls")
PG_SOCKET_DIR = "/var/run/postgresql"
# The ports as provisioning/consensus.ts has them (test/unit/scriptPorts.test.ts).
ETCD_CLIENT_PORT = 2379
POSTGRES_PORT = 5432
# Written by linode-dr-leader --force on the member it promotes: "member=<name> until=<epoch s>".
FORCED_PROMOTION_FILE = os.path.join(STATE_DIR, "forced-promotion")

_PATTERNS = {
    "SCOPE": r"[a-z0-9][a-z0-9-]{0,62}",
    "SELF": r"primary|dr",
    "NAME_PRIMARY": r"[A-Za-z0-9][A-Za-z0-9.-]{0,251}[A-Za-z0-9]",
    "NAME_DR": r"[A-Za-z0-9][A-Za-z0-9.-]{0,251}[A-Za-z0-9]",
    "MAXIMUM_DATA_LOSS_SECONDS": r"[1-9][0-9]{0,4}",
    "TTL": r"[1-9][0-9]{0,3}",
}


def fail(tag, message):
    print(f"{tag}: ERROR: {message}", file=sys.stderr, flush=True)
    sys.exit(2)


class Cluster:
    def __init__(self, tag):
        path = os.path.join(ETC_DIR, "consensus.conf")
        values = {}
        try:
            with open(path, encoding="utf-8") as conf:
                for line in conf:
                    key, sep, value = line.rstrip("\n").partition("=")
                    if sep and not key.startswith("#"):
                        values[key] = value
        except OSError as error:
            fail(tag, f"{path} is unreadable: {error.strerror}")
        for key, pattern in _PATTERNS.items():
            if not re.fullmatch(pattern, values.get(key, "")):
                fail(tag, f'{path}: {key}="{values.get(key, "")}" does not match {pattern}')
        self.scope = values["SCOPE"]
        self.self = values["SELF"]
        self.server_name = values[f"NAME_{self.self.upper()}"]
        self.budget_seconds = int(values["MAXIMUM_DATA_LOSS_SECONDS"])
        self.ttl_seconds = int(values["TTL"])

    @property
    def leader_key(self):
        """Patroni's leader key (namespace /service/, as patroni.yml sets it): the lease holder's name."""
        return f"/service/{self.scope}/leader"

    @property
    def failsafe_key(self):
        """Patroni's failsafe topology: the members the last leader saw, the only ones that may race."""
        return f"/service/{self.scope}/failsafe"

    @property
    def report_key(self):
        """The leader's last heartbeat report."""
        return f"/linode-dr/{self.scope}/heartbeat"

    def etcd(self, timeout_seconds):
        """This member's own etcd, as Patroni reaches it."""
        return EtcdGateway(
            f"https://{self.server_name}:{ETCD_CLIENT_PORT}",
            os.path.join(PG_TLS_DIR, "ca.crt"),
            os.path.join(PG_TLS_DIR, "server.crt"),
            os.path.join(PG_TLS_DIR, "server.key"),
            timeout_seconds,
        )

    def connect(self, application_name):
        """PostgreSQL on this host, over its socket as its own superuser (peer authentication)."""
        import psycopg2

        return psycopg2.connect(
            host=PG_SOCKET_DIR,
            port=POSTGRES_PORT,
            dbname="postgres",
            user="postgres",
            application_name=application_name,
            connect_timeout=3,
        )
