import { fault, type Fault } from "./fault";
import { describeLinode, SERVICES_OF, type LinodeRole, type Service } from "./roles";
import { servicePids, signal } from "./services";

/** Power loss: every process of the Linode dies at once; healing powers it on, and its init runs. */
export function hostCrash(linode: LinodeRole): Fault {
  return fault(`${describeLinode(linode)} crashed (power cut)`, async (target) => {
    await target.hostOf(linode).crash();
    return () => target.powerOn(linode);
  });
}

function requireService(linode: LinodeRole, service: Service): void {
  if (!SERVICES_OF[linode.tier].includes(service))
    throw new Error(
      `${describeLinode(linode)} runs no ${service}; expected one of ${SERVICES_OF[linode.tier].join(", ")}`,
    );
}

/** SIGKILL to a service's processes; healing starts it again as its service manager would. */
export function processKill(linode: LinodeRole, service: Service): Fault {
  requireService(linode, service);
  return fault(`${service} killed on ${describeLinode(linode)}`, async (target) => {
    const host = target.hostOf(linode);
    await signal(host, await servicePids(host, service), "KILL");
    return () => target.restartService(linode, service);
  });
}

/**
 * SIGSTOP to a service's processes: its sockets stay open and accept connections, but nothing
 * answers (a hung process, the case a health check must not wait on). Healing continues them.
 */
export function processFreeze(linode: LinodeRole, service: Service): Fault {
  requireService(linode, service);
  return fault(`${service} frozen on ${describeLinode(linode)}`, async (target) => {
    const host = target.hostOf(linode);
    const pids = await servicePids(host, service);
    await signal(host, pids, "STOP");
    return async () => {
      if (host.isUp) await signal(host, pids, "CONT");
    };
  });
}
