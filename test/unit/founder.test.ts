import { describe, expect, it } from "vitest";
import type { MemberName } from "../../provisioning/consensus";
import { clusterMembers, foundsCluster } from "../../stacks/consensus";
import { baseConfig } from "../../evaluation/configs";
import { parseConfig } from "../../config/parseConfig";
import { unitTestAddressPlan } from "../../evaluation/addressPlan";
import { bringUp, DR_STACK, stackReferenceTo } from "../../evaluation/bringUp";
import { evaluateStack } from "../../evaluation/evaluate";
import { drStackProblem } from "../../stacks/founderGuard";
import { PRIMARY_OUTPUTS } from "../../stacks/outputs";

/**
 * Who founds the cluster (a new etcd cluster and Patroni's initdb): only the primary's database,
 * and only while the dr stack has published neither of its members. Founding a second cluster is a
 * split brain with an empty database, so every row but one must say "joins".
 */
const config = parseConfig(baseConfig("primary"));
const DR = "203.0.113.10";
const WITNESS = "192.0.2.40";

describe("foundsCluster", () => {
  const rows: [MemberName, { dr?: string; witness?: string }, boolean, string][] = [
    ["primary", {}, true, "first bring-up: the dr stack does not exist yet"],
    [
      "primary",
      { dr: DR, witness: WITNESS },
      false,
      "a rebuilt primary database: the cluster lives on in region B",
    ],
    ["primary", { dr: DR }, false, "the witness not published yet, region B's database is"],
    ["primary", { witness: WITNESS }, false, "region B's database not published yet, the witness is"],
    ["dr", {}, false, "region B's database always joins"],
    ["dr", { dr: DR, witness: WITNESS }, false, "region B's database always joins"],
    ["witness", {}, false, "the witness always joins"],
  ];
  for (const [self, known, founds, why] of rows) {
    it(`${self} with ${JSON.stringify(known)}: ${founds ? "founds" : "joins"} (${why})`, () => {
      const members = clusterMembers(config, { primary: "198.51.100.10", ...known });
      expect(foundsCluster(self, members)).toBe(founds);
    });
  }
});

describe(
  "drStack cannot be taken back once set (a rebuilt primary database would found)",
  { timeout: 60_000 },
  () => {
    it("refuses an update that unsets or changes drStack, naming the old value and the way back", async () => {
      const admitted = await bringUp(unitTestAddressPlan());
      const update = (drStack: string | undefined) =>
        evaluateStack({
          stack: "primary",
          config: baseConfig("primary", { drStack }),
          previous: admitted.primary,
          stackOutputs: { [DR_STACK]: stackReferenceTo(admitted.dr) },
        });
      await expect(update(undefined)).rejects.toThrow(
        `drStack was "${DR_STACK}" at the last update of this stack and is now unset.`,
      );
      await expect(update("acme/linode-dr/other")).rejects.toThrow(
        `Set it back: pulumi config set drStack ${DR_STACK} -s <this stack>`,
      );
      // The same drStack goes through, and so does the first bring-up (no previous outputs).
      await expect(update(DR_STACK)).resolves.toBeDefined();
      expect(admitted.primaryAtFirstUp.outputs[PRIMARY_OUTPUTS.drStack]).toBe("");
    });

    it("drStackProblem: nothing to compare before drStack was ever set", () => {
      expect(drStackProblem(undefined, undefined)).toBeUndefined();
      expect(drStackProblem(undefined, "")).toBeUndefined();
      expect(drStackProblem(DR_STACK, "")).toBeUndefined();
      expect(drStackProblem(DR_STACK, DR_STACK)).toBeUndefined();
    });
  },
);
