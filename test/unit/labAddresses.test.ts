import { describe, expect, it } from "vitest";
import {
  assertDocumentationAddress,
  assertDocumentationCidr,
  cidrContains,
  gatewayOf,
  isUsableHostAddress,
  parseCidr,
} from "../../lab/addresses";

describe("the lab's address rules, on the program's CIDR arithmetic", () => {
  it("takes IPv4 regions with room for a router and hosts, written as their network", () => {
    expect(parseCidr("198.51.100.0/24").prefix).toBe(24);
    expect(() => parseCidr("2001:db8::/64")).toThrow(
      '"2001:db8::/64" is not an IPv4 CIDR like 198.51.100.0/24',
    );
    expect(() => parseCidr("198.51.100.0/31")).toThrow("prefix /31 leaves no room for a router and hosts");
    expect(() => parseCidr("198.51.100.7/24")).toThrow(
      '"198.51.100.7/24" has host bits set; expected 198.51.100.0/24',
    );
  });

  it("configures and contacts only the documentation ranges", () => {
    expect(assertDocumentationCidr("203.0.113.64/26").prefix).toBe(26);
    expect(() => assertDocumentationCidr("10.0.0.0/24")).toThrow("outside the documentation ranges");
    expect(() => assertDocumentationCidr("198.51.0.0/16")).toThrow("outside the documentation ranges");
    expect(assertDocumentationAddress("192.0.2.53")).toBe("192.0.2.53");
    expect(() => assertDocumentationAddress("8.8.8.8")).toThrow("outside the documentation ranges");
    expect(() => assertDocumentationAddress("example.com")).toThrow('"example.com" is not an IPv4 address');
  });

  it("gives the router the first address and hosts the rest, network and broadcast excluded", () => {
    const region = parseCidr("198.51.100.0/24");
    expect(gatewayOf(region)).toBe("198.51.100.1");
    expect(cidrContains(region, "198.51.100.200")).toBe(true);
    expect(isUsableHostAddress(region, "198.51.100.10")).toBe(true);
    for (const reserved of ["198.51.100.0", "198.51.100.1", "198.51.100.255", "203.0.113.10"]) {
      expect(isUsableHostAddress(region, reserved), reserved).toBe(false);
    }
  });
});
