import { APP_PID_FILE, HostPostgres } from "../app/hosts";
import type { Host } from "../hosts/host";
import type { Service } from "./roles";

/**
 * The pids that together are one service on a lab host, inside the host's pid namespace. Without
 * systemd the provisioning scripts run each daemon in the background and record its pid in
 * /run/linode-dr (lib/consensus.sh start_background, app-install.sh); PostgreSQL is its postmaster
 * and every backend.
 */
const PID_FILES: Record<Exclude<Service, "postgres">, string> = {
  app: APP_PID_FILE,
  patroni: "/run/linode-dr/patroni.pid",
  etcd: "/run/linode-dr/etcd.pid",
  follower: "/run/linode-dr/follower.pid",
};

export async function servicePids(host: Host, service: Service): Promise<number[]> {
  if (service === "postgres") return new HostPostgres(host).pids();
  const file = PID_FILES[service];
  const text = (await host.readFile(file)).trim();
  if (!/^\d+$/.test(text)) throw new Error(`${file} on ${host.name} holds "${text}", not a pid`);
  return [Number(text)];
}

export async function signal(
  host: Host,
  pids: readonly number[],
  name: "KILL" | "STOP" | "CONT",
): Promise<void> {
  // Some may have exited meanwhile (a backend ends with its client); kill signals the others.
  await host.exec(["kill", `-${name}`, ...pids.map(String)]);
}
