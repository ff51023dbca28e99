import { fault, type Fault } from "./fault";
import { SITE_LABELS, type Site } from "./roles";

/** A site's whole uplink goes down: inside it everything still talks, nothing crosses its edge. */
export function regionCut(site: Site): Fault {
  return fault(`${SITE_LABELS[site]} cut off`, async (target) => {
    const region = target.regionOf(site);
    await target.lab.cutRegion(region);
    return () => target.lab.restoreRegion(region);
  });
}

/** Two sites lose each other while each still reaches the third: a partition. */
export function linkCut(a: Site, b: Site): Fault {
  if (a === b) throw new Error(`linkCut: received ${a} twice; expected two different sites`);
  return fault(`link between ${SITE_LABELS[a]} and ${SITE_LABELS[b]} cut`, async (target) => {
    const [ra, rb] = [target.regionOf(a), target.regionOf(b)];
    await target.lab.cutLink(ra, rb);
    return () => target.lab.restoreLink(ra, rb);
  });
}
