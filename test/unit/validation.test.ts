import { describe, expect, it } from "vitest";
import {
  addressAt,
  cidrContains,
  cidrText,
  cidrWithin,
  hasHostBits,
  networkOf,
  parseCidr,
  type Cidr,
} from "../../validation/cidr";
import * as formats from "../../validation/formats";
import { InputCheck, InputError } from "../../validation/inputError";
import {
  anyOf,
  boolean,
  explained,
  integer,
  listOf,
  matching,
  oneOf,
  optional,
  refined,
  secret,
  shown,
  type Rule,
} from "../../validation/kit";

/** What `rule` says about `value`: "ok", or each mismatch as "received ...; expected ...". */
function verdict(rule: Rule<unknown>, value: unknown): string[] | "ok" {
  const checked = rule.check(value);
  return checked.ok ? "ok" : checked.mismatches.map((m) => `received ${m.received}; expected ${m.expected}`);
}

function thrown(fn: () => void): InputError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(InputError);
    return error as InputError;
  }
  throw new Error("expected an InputError");
}

describe("the kit's rules", () => {
  it("say what they received, quoted when it is text, and what they expected", () => {
    const label = matching(/^[a-z]+$/, "lower-case letters");
    expect(verdict(label, "abc")).toBe("ok");
    expect(verdict(label, "ABC")).toEqual(['received "ABC"; expected lower-case letters']);
    expect(verdict(label, 42)).toEqual(["received 42; expected lower-case letters"]);
    expect(verdict(label, undefined)).toEqual(["received undefined; expected lower-case letters"]);
    expect(verdict(label, ["abc"])).toEqual(["received a list of 1 items; expected lower-case letters"]);
    expect(verdict(label, { a: 1 })).toEqual(["received an object; expected lower-case letters"]);
  });

  it("quote a long text only by its start, and escape what would break the line", () => {
    expect(shown("x".repeat(80))).toBe(JSON.stringify("x".repeat(80)));
    expect(shown(`${"y".repeat(40)}${"z".repeat(60)}`)).toBe(`"${"y".repeat(40)}"... (100 characters)`);
    expect(shown('a"b\nc')).toBe('"a\\"b\\nc"');
  });

  it("take integers within their range only", () => {
    const port = integer(1, 65535);
    expect(verdict(port, 1)).toBe("ok");
    expect(verdict(port, 65535)).toBe("ok");
    for (const bad of [0, 65536, 80.5, Number.NaN, "8080", 2 ** 60]) {
      expect(verdict(port, bad), String(bad)).toEqual([
        `received ${shown(bad)}; expected an integer from 1 to 65535`,
      ]);
    }
  });

  it("take booleans, not their spellings", () => {
    expect(verdict(boolean, false)).toBe("ok");
    expect(verdict(boolean, "true")).toEqual(['received "true"; expected true or false']);
  });

  it("list the options of a one-of the way a person would", () => {
    expect(oneOf(["primary", "dr"]).expected).toBe('"primary" or "dr"');
    expect(oneOf(["database", "app", "witness"]).expected).toBe('"database", "app" or "witness"');
    expect(verdict(oneOf(["primary", "dr"]), "witness")).toEqual([
      'received "witness"; expected "primary" or "dr"',
    ]);
  });

  it("report every bad item of a list, each on its own", () => {
    const words = listOf(matching(/^[a-z]+$/, "a word"));
    expect(verdict(words, ["one", "Two", "three", "4"])).toEqual([
      'received "Two"; expected a word',
      'received "4"; expected a word',
    ]);
    expect(verdict(words, "one")).toEqual(['received "one"; expected a list, each item a word']);
  });

  it("refine, explain and make optional without losing the base rule", () => {
    const even = refined(integer(0, 10), (n) => (n % 2 === 0 ? undefined : "an even number"));
    expect(verdict(even, 4)).toBe("ok");
    expect(verdict(even, 3)).toEqual(["received 3; expected an even number"]);
    expect(verdict(even, 12)).toEqual(["received 12; expected an integer from 0 to 10"]);
    expect(verdict(explained(integer(0, 10), "seconds"), 11)).toEqual([
      "received 11; expected an integer from 0 to 10 (seconds)",
    ]);
    const maybe = optional(integer(0, 10), "while unknown");
    expect(verdict(maybe, undefined)).toBe("ok");
    expect(verdict(maybe, 11)).toEqual([
      "received 11; expected an integer from 0 to 10, or absent while unknown",
    ]);
    const either = anyOf<number | string>([integer(0, 1), matching(/^x$/, "x")], "0, 1 or x");
    expect(verdict(either, "x")).toBe("ok");
    expect(verdict(either, 2)).toEqual(["received 2; expected 0, 1 or x"]);
  });

  it("never quote what a secret rule refused, however the rule is combined", () => {
    const token = secret(matching(/^tok-[a-z]{8}$/, "tok- and eight letters"));
    const rules: Rule<unknown>[] = [
      token,
      refined(token, () => "a token not revoked"),
      explained(token, "the API's"),
      optional(token, "when unused"),
      anyOf<number | string>([token, integer(0, 0)], "a token or 0"),
      listOf(token),
    ];
    for (const rule of rules) {
      for (const value of ["tok-SECRETXX", ["tok-SECRETXX"]]) {
        const checked = rule.check(value);
        if (checked.ok) continue;
        for (const m of checked.mismatches) {
          expect(m.received).not.toContain("SECRET");
          expect(m.received).toMatch(/^(a string of 12 characters|a list of 1 items)$/);
        }
      }
    }
    expect(
      verdict(
        refined(token, () => "a token not revoked"),
        "tok-abcdefgh",
      ),
    ).toEqual(["received a string of 12 characters; expected a token not revoked"]);
    expect(verdict(token, 7)).toEqual(["received a number; expected tok- and eight letters"]);
  });
});

const CERT_BEGIN = "-----BEGIN CERTIFICATE-----";
const CERT_END = "-----END CERTIFICATE-----";

describe("the project's formats", () => {
  // [rule, a value the program produces or accepts, a value it must refuse, what the refusal expects]
  const cases: Array<[keyof typeof formats, unknown, unknown, string]> = [
    ["regionId", "de-fra-2", "US East", "a Linode region id"],
    ["instanceType", "g6-nanode-1", "nanode", "a Linode type id"],
    ["imageId", "linode/debian12", "debian12", "a Linode image id"],
    ["objectStorageCluster", "us-iad-1", "us iad", "an Object Storage cluster id"],
    ["stackName", "acme/linode-dr/primary", "primary", "a fully qualified stack name"],
    ["dnsLabel", "linode-dr-app", "-app", "a lower-case DNS label"],
    ["dnsName", "db-primary.app.example.com", "DB.example.com", "a DNS name in lower case"],
    ["domainName", "example.com", "localhost", "a lower-case domain name"],
    ["email", "hostmaster@example.com", "hostmaster", "an e-mail address"],
    ["sqlIdentifier", "orders_app", "orders-app", "a lower-case SQL identifier"],
    ["httpUser", "linode-dr", "a b", "a user name of 1 to 64"],
    ["sha256", "0123456789abcdef".repeat(4), "AB".repeat(32), "a sha256 digest"],
    ["sshPublicKey", "ssh-ed25519 AAAAC3Nza ops@host", "ssh-dss AAAA", "an OpenSSH public key line"],
    ["authorizedKeys", ["ssh-ed25519 AAAAC3Nza ops@host"], [], "at least one OpenSSH public key"],
    [
      "hostPublicKey",
      "ssh-ed25519 AAAAC3Nza\n",
      "ssh-rsa AAAAB3",
      "an ssh-ed25519 or ecdsa-sha2-nistp256 public key",
    ],
    [
      "hostPublicKey",
      "ecdsa-sha2-nistp256 AAAAE2Vj",
      "ecdsa-sha2-nistp384 AAAAE2Vj",
      "an ssh-ed25519 or ecdsa-sha2-nistp256",
    ],
    [
      "pemCertificate",
      `${CERT_BEGIN}\nMIIB\n${CERT_END}\n`,
      `${CERT_BEGIN}\nMIIB cut`,
      "a PEM-encoded certificate",
    ],
    ["httpsUrl", "https://example.com/app?v=1", 'https://example.com/a"b', "an https:// URL"],
    ["tcpPort", 5432, 0, "an integer from 1 to 65535 (a TCP port)"],
    ["ipv4Address", "198.51.100.10", "2001:db8::1", "an IPv4 literal"],
    ["ipAddress", "2001:db8::1", "198.51.100", "an IPv4 or IPv6 literal"],
    ["hostAddress", "db-primary.app.example.com", "bad host;", "an IPv4/IPv6 address or a DNS name"],
    ["cidr", "::ffff:192.0.2.1/128", "10.0.0.1", "an IPv4 or IPv6 CIDR"],
    ["postgresVersion", 15, 12, "an integer from 13 to 17"],
    ["postgresSize", "512MB", "-1", "a positive PostgreSQL size with a unit"],
    ["absolutePath", "/etc/linode-dr/db.conf", "etc/x", "an absolute path"],
    ["fileMode", "0600", "600", "an octal mode string"],
  ];

  it.each(cases)(
    "%s accepts a good value and refuses a bad one, saying what it expected",
    (name, good, bad, expected) => {
      const rule: Rule<unknown> = formats[name];
      expect(verdict(rule, good)).toBe("ok");
      const refusal = verdict(rule, bad);
      expect(refusal).not.toBe("ok");
      expect((refusal as string[]).join("\n")).toContain(`expected ${expected}`);
    },
  );

  const secrets: Array<[string, Rule<unknown>, string, string]> = [
    ["password", formats.password, "x".repeat(40), "has a space"],
    ["objectStorageKey", formats.objectStorageKey, "READONLYACCESSKEY123", "short"],
    [
      "openSshPrivateKey",
      formats.openSshPrivateKey,
      "-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----\n",
      "-----BEGIN RSA PRIVATE KEY-----\nsecretbody",
    ],
    [
      "pemPrivateKey",
      formats.pemPrivateKey,
      "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----\n",
      "-----BEGIN PRIVATE KEY-----\nsecretbody",
    ],
  ];

  it.each(secrets)("%s is secret: a refused value is shown only by its length", (_n, rule, good, bad) => {
    expect(rule.secret).toBe(true);
    expect(verdict(rule, good)).toBe("ok");
    expect(verdict(rule, bad)).toEqual([
      `received a string of ${bad.length} characters; expected ${rule.expected}`,
    ]);
  });

  it("one password rule fits every password the program generates, and nothing that would break a file", () => {
    const alphanumeric = "aZ09".repeat(10); // RandomPassword { length: 40, special: false }
    const root = "aZ0-_.,:+=".repeat(3).slice(0, 32); // { length: 32, overrideSpecial: "-_.,:+=" }
    for (const good of [alphanumeric, root, "lab-repl:pa\\ss'word", 'lab-rest-pass"word', "!".repeat(256)]) {
      expect(verdict(formats.password, good), good).toBe("ok");
    }
    for (const bad of ["pass word1", "tab\tinside", "line\nbreak", "short", "é".repeat(8), "x".repeat(257)]) {
      expect(verdict(formats.password, bad), bad).not.toBe("ok");
    }
  });
});

describe("CIDRs", () => {
  const parsed = (text: string): Cidr => {
    const cidr = parseCidr(text);
    if (!cidr) throw new Error(`${text} did not parse`);
    return cidr;
  };

  // Every valid spelling of IPv4 and IPv6 (IPv4-mapped and embedded forms included), and near misses.
  it.each([
    ["::ffff:192.0.2.1/128", true],
    ["::ffff:192.0.2.0/120", true],
    ["64:ff9b::192.0.2.33/128", true],
    ["2001:DB8::/32", true],
    ["2001:db8:0:0:0:0:0:1/128", true],
    ["::1/128", true],
    ["::/0", true],
    ["203.0.113.7/32", true],
    ["0.0.0.0/0", true],
    ["10.0.0.1", false],
    ["10.0.0.1/33", false],
    ["2001:db8::/129", false],
    ["01.2.3.4/8", false],
    ["10.0.0.0/08", false],
    ["10.0.0.0/ 8", false],
    ["fe80::1%eth0/64", false],
    ["2001:db8:::1/64", false],
    ["1:2:3:4:5:6:7:8:9/128", false],
    ["example.com/24", false],
    ["", false],
  ] as const)("%j is a CIDR: %s", (text, valid) => {
    expect(parseCidr(text) !== undefined).toBe(valid);
  });

  it("finds the network of a range written with host bits, in either family", () => {
    expect(hasHostBits(parsed("10.0.0.1/8"))).toBe(true);
    expect(cidrText(networkOf(parsed("10.0.0.1/8")))).toBe("10.0.0.0/8");
    expect(hasHostBits(parsed("198.51.100.0/24"))).toBe(false);
    expect(cidrText(networkOf(parsed("2001:db8::1/64")))).toBe("2001:db8::/64");
    expect(cidrText(networkOf(parsed("::ffff:192.0.2.1/120")))).toBe("::ffff:c000:200/120");
    expect(hasHostBits(parsed("::ffff:192.0.2.1/128"))).toBe(false);
    expect(hasHostBits(parsed("2001:DB8::/32"))).toBe(false);
  });

  it("counts addresses from the network, and from the end", () => {
    const region = parsed("198.51.100.0/24");
    expect([addressAt(region, 0), addressAt(region, 1), addressAt(region, -1)]).toEqual([
      "198.51.100.0",
      "198.51.100.1",
      "198.51.100.255",
    ]);
    expect(addressAt(parsed("2001:db8::/64"), -1)).toBe("2001:db8::ffff:ffff:ffff:ffff");
  });

  it("contains addresses of its own family only", () => {
    const region = parsed("198.51.100.0/24");
    expect(cidrContains(region, "198.51.100.7")).toBe(true);
    expect(cidrContains(region, "198.51.101.7")).toBe(false);
    expect(cidrContains(region, "::ffff:198.51.100.7")).toBe(false);
    expect(cidrContains(region, "not an address")).toBe(false);
    expect(cidrContains(parsed("2001:db8::/32"), "2001:DB8:ffff::1")).toBe(true);
    expect(cidrWithin(parsed("198.51.100.64/26"), region)).toBe(true);
    expect(cidrWithin(parsed("198.51.0.0/16"), region)).toBe(false);
  });
});

describe("InputCheck and InputError", () => {
  interface Order {
    id: number;
    customer: { name: string; token: string };
    lines: { sku: string }[];
  }
  const sku = matching(/^[A-Z]{3}-[0-9]+$/, 'a SKU such as "ABC-1"');

  function checkOrder(order: Order): void {
    const check = new InputCheck("OrderInput");
    check.field("id", order.id, integer(1, 1000));
    const customer = check.object("customer", order.customer, "{ name, token }");
    customer?.field("name", order.customer.name, matching(/^\S+$/, "a name without spaces"));
    customer?.field("token", order.customer.token, formats.password);
    order.lines.forEach((line, i) => checkLine(check.under(`lines[${i}]`), line));
    if (order.lines.length > 2) check.refuse("lines", order.lines, "at most 2 lines per order");
    check.throwIfAny();
  }

  /** A nested validator: it sees only its own part, and reports into the same list. */
  function checkLine(check: InputCheck, line: { sku: string }): void {
    check.field("sku", line.sku, sku);
  }

  const good: Order = { id: 7, customer: { name: "ada", token: "s3cret-token" }, lines: [{ sku: "ABC-1" }] };

  it("passes a good value without a word", () => {
    expect(() => checkOrder(good)).not.toThrow();
  });

  it("reports every problem at once, nested parts under their full path, secrets by length", () => {
    const error = thrown(() =>
      checkOrder({
        id: 0,
        customer: { name: "Ada Lovelace", token: "no" },
        lines: [{ sku: "ABC-1" }, { sku: "abc" }, { sku: "XYZ" }],
      }),
    );
    expect(error.problems).toEqual([
      { field: "OrderInput.id", received: "0", expected: "an integer from 1 to 1000" },
      { field: "OrderInput.customer.name", received: '"Ada Lovelace"', expected: "a name without spaces" },
      {
        field: "OrderInput.customer.token",
        received: "a string of 2 characters",
        expected: "8 to 256 printable ASCII characters without spaces",
      },
      { field: "OrderInput.lines[1].sku", received: '"abc"', expected: 'a SKU such as "ABC-1"' },
      { field: "OrderInput.lines[2].sku", received: '"XYZ"', expected: 'a SKU such as "ABC-1"' },
      { field: "OrderInput.lines", received: "a list of 3 items", expected: "at most 2 lines per order" },
    ]);
    expect(error.message.split("\n")[0]).toBe(
      "OrderInput.id: received 0; expected an integer from 1 to 1000",
    );
    expect(error.message.split("\n")).toHaveLength(6);
  });

  it("does not look inside a part that is not an object", () => {
    const error = thrown(() => checkOrder({ ...good, customer: "ada" as unknown as Order["customer"] }));
    expect(error.message).toBe('OrderInput.customer: received "ada"; expected { name, token }');
  });
});
