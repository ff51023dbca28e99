import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/**", "bin/**", "app/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    // Mock provider state is untyped by nature (it mirrors arbitrary resource properties).
    files: ["test/**/*.ts", "evaluation/**/*.ts"],
    rules: { "@typescript-eslint/no-explicit-any": "off" },
  },
);
