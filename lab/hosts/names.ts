/**
 * Names of what a lab creates in the kernel: network namespaces `ldr-<lab>-*` and the marker each
 * host's init carries (`ldr-init:<lab>:<host>`), so crashed runs can be found and removed.
 */

export const LAB_NAME = /^[a-z][a-z0-9]{0,11}$/;
export const REGION_NAME = /^[A-Za-z][A-Za-z0-9]{0,7}$/;
export const HOST_NAME = /^[a-z][a-z0-9-]{0,19}$/;

export function netnsPrefix(lab: string): string {
  return `ldr-${lab}-`;
}

export function initMarker(lab: string, host: string): string {
  return `ldr-init:${lab}:${host}`;
}
