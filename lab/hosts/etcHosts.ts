import type { Host } from "./host";

/**
 * Makes `host` resolve `names` to `address` through its /etc/hosts, standing in for public DNS
 * (getaddrinfo, and so curl and node, read the file before asking a resolver). The line carries
 * `marker` so calling again replaces it instead of adding another.
 */
export async function pointNamesAt(
  host: Host,
  address: string,
  names: readonly string[],
  marker: string,
): Promise<void> {
  const comment = `# linode-dr lab: ${marker}`;
  const lines = (await host.readFile("/etc/hosts")).split("\n").filter((line) => !line.endsWith(comment));
  while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
  lines.push(`${address} ${names.join(" ")} ${comment}`, "");
  await host.writeFile("/etc/hosts", lines.join("\n"));
}
