// ESLint (flat config) for the plugin's browser code, stash_sense/js. Run from the repository root
// (`make lint-js`), so paths are relative to it.
//
// The files are classic scripts, not modules: Stash serves them concatenated (the manifest's
// ui.javascript, in order) into one <script>. Each file is one IIFE with "use strict" that shares
// code only through the namespace core.js opens (window.__stashSenseModules), so a top-level
// declaration (which would leak into the page's global scope) is an error. ES2017 syntax is the
// ceiling the code keeps to (no bundler, no transpiler).
import js from "@eslint/js";
import globals from "globals";

export default [
  js.configs.recommended,
  {
    files: ["stash_sense/js/**/*.js"],
    languageOptions: {
      ecmaVersion: 2017,
      sourceType: "script",
      globals: { ...globals.browser },
    },
    rules: {
      "no-implicit-globals": "error",
      "no-unused-vars": ["error", { args: "none", caughtErrors: "none" }],
      "no-var": "off",
      "no-shadow": "error",
      "no-use-before-define": ["error", { functions: false }],
      eqeqeq: ["error", "always", { null: "ignore" }],
      strict: ["error", "function"],
      "no-console": "off",
      curly: ["error", "multi-line"],
    },
  },
];
