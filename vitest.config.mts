import { defineConfig } from "vitest/config";

export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/unit/**/*.test.ts"],
          environment: "node",
        },
      },
      {
        // Lab tests build network-namespace hosts and run real PostgreSQL: they need root,
        // take minutes, and must not run concurrently (hosts share the address plan).
        test: {
          name: "lab",
          include: ["test/lab/**/*.test.ts"],
          environment: "node",
          fileParallelism: false,
          testTimeout: 600_000,
          hookTimeout: 600_000,
        },
      },
    ],
  },
});
