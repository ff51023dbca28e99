import { fault, type Fault } from "./fault";
import { describeLinode, SERVICES_OF, SITE_LABELS, type LinodeRole, type Service, type Site } from "./roles";
import type { FaultTarget } from "./target";
import { servicePids, signal } from "./services";

/** Power loss: every process of the Linode dies at once; healing powers it on, and its init runs. */
export function hostCrash(linode: LinodeRole): Fault {
  return fault(`${describeLinode(linode)} crashed (power cut)`, async (target) => {
    await target.hostOf(linode).crash();
    return () => target.powerOn(linode);
  });
}

/**
 * Linodes destroyed with their disks (a region lost for good, a Linode deleted): every process dies
 * and nothing comes back by itself. Healing does nothing; only a rebuild (`pulumi up` of their
 * stack) replaces them.
 */
function lost(description: string, which: (target: FaultTarget) => LinodeRole[]): Fault {
  return fault(description, async (target) => {
    for (const linode of which(target)) await target.hostOf(linode).crash();
    return async () => undefined;
  });
}

/** Every Linode of a site destroyed with its disk. */
export function siteLost(site: Site): Fault {
  return lost(`${SITE_LABELS[site]}'s Linodes destroyed (disks gone)`, (target) => target.linodesAt(site));
}

/** One Linode destroyed with its disk. */
export function linodeLost(linode: LinodeRole): Fault {
  return lost(`${describeLinode(linode)} destroyed (disk gone)`, () => [linode]);
}

function requireService(linode: LinodeRole, service: Service): void {
  if (!SERVICES_OF[linode.tier].includes(service))
    throw new Error(
      `${describeLinode(linode)} runs no ${service}; expected one of ${SERVICES_OF[linode.tier].join(", ")}`,
    );
}

/**
 * A VM pause (a stuck hypervisor, a live migration gone wrong): every process of the Linode stops
 * and its network with it; healing resumes them where they were. See Host.pause for how the lab's
 * pause differs from a hypervisor's.
 */
export function linodePaused(linode: LinodeRole): Fault {
  return fault(`${describeLinode(linode)} paused (every process and its network)`, async (target) => {
    const host = target.hostOf(linode);
    await host.pause();
    return async () => {
      if (host.isUp) await host.resume();
    };
  });
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
