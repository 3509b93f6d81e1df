// ESLint 9 flat config: ESLint's and typescript-eslint's recommended rules.
import eslint from "@eslint/js";
import { defineConfig } from "eslint/config";
import tseslint from "typescript-eslint";

export default defineConfig(
  { ignores: ["out/", "node_modules/"] },
  eslint.configs.recommended,
  tseslint.configs.recommended,
);
