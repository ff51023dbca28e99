import { describe, expect, it } from "vitest";
import { knownHostsLine, sshArgv } from "../../lab/standins/ssh";

const TARGET = {
  host: "203.0.113.10",
  user: "root",
  privateKey: "k",
  hostKey: "ssh-ed25519 AAAAC3Nza host@x\n",
};

describe("remote command runner", () => {
  it("pins exactly the given host key, by port when not 22", () => {
    expect(knownHostsLine(TARGET)).toBe("203.0.113.10 ssh-ed25519 AAAAC3Nza\n");
    expect(knownHostsLine({ ...TARGET, port: 2222 })).toBe("[203.0.113.10]:2222 ssh-ed25519 AAAAC3Nza\n");
    expect(() => knownHostsLine({ ...TARGET, hostKey: "garbage" })).toThrow(/not "<type> <base64>"/);
  });

  it("never prompts, never trusts a new key and uses only the given identity", () => {
    const argv = sshArgv(TARGET, "/t/id", "/t/kh", "echo hi", ["PreferredAuthentications=password"]);
    const options = argv.filter((_, i) => argv[i - 1] === "-o");
    // ssh keeps the first value of an option, so extra options must come first to take effect.
    expect(options[0]).toBe("PreferredAuthentications=password");
    expect(options).toEqual(
      expect.arrayContaining([
        "UserKnownHostsFile=/t/kh",
        "GlobalKnownHostsFile=/dev/null",
        "StrictHostKeyChecking=yes",
        "BatchMode=yes",
        "PasswordAuthentication=no",
        "IdentitiesOnly=yes",
        // remote.Command offers only the pinned key's type.
        "HostKeyAlgorithms=ssh-ed25519",
      ]),
    );
    const ecdsa = sshArgv({ ...TARGET, hostKey: "ecdsa-sha2-nistp256 AAAAE2Vj" }, "/t/id", "/t/kh", "true");
    expect(ecdsa).toContain("HostKeyAlgorithms=ecdsa-sha2-nistp256");
    expect(argv.slice(0, 5)).toEqual(["ssh", "-F", "/dev/null", "-i", "/t/id"]);
    expect(argv.slice(-3)).toEqual(["--", "root@203.0.113.10", "echo hi"]);
  });
});
