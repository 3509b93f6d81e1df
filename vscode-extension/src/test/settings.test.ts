// Settings to what meshls gets: only values the user set, at their place in
// the meshls.toml table, and never a workspace's value of a setting that
// runs programs or sends API keys.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";

import {
  Inspected,
  Scope,
  declaredScopes,
  didChangeConfigurationParams,
  settingsTable,
  userValue,
} from "../settings";

const packageJson = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const scopes = declaredScopes(packageJson);

/** `inspect()` over a fixed set of values by key; every key has a default, as in VS Code. */
function inspector(values: Record<string, Inspected>) {
  return (key: string): Inspected | undefined =>
    scopes.has(key) ? { defaultValue: `default of ${key}`, ...values[key] } : undefined;
}

/** Every property package.json declares, by full name. */
function properties(): Record<string, Record<string, unknown>> {
  return Object.assign({}, ...packageJson.contributes.configuration.map((s: { properties: object }) => s.properties));
}

// The keys of meshls.toml (server/src/config.rs, agent/src/config.rs,
// analysis/src/config.rs, lsp-proxy/src/config.rs) that an editor may set.
const TOML_KEYS = [
  "analysis.syntax_diagnostics",
  "servers",
  "agent.provider",
  "agent.model",
  "agent.base_url",
  "agent.api_key_env",
  "agent.max_steps",
  "agent.token_budget",
  "agent.max_tokens",
  "agent.context_window",
  "agent.verify_rounds",
  "agent.connect_timeout",
  "agent.first_token_timeout",
  "agent.idle_timeout",
  "agent.total_timeout",
  "agent.retries",
  "agent.fallback",
  "agent.prices",
  "agent.permissions",
  "agent.run_command",
  "agent.approval_timeout",
  "agent.read_dependencies",
  "agent.keep_sessions_days",
  "agent.checkpoint_bytes",
  "agent.context_tokens",
  "agent.instruction_files",
];

test("package.json declares one setting per meshls.toml key, plus the extension's own", () => {
  assert.deepEqual([...scopes.keys()].sort(), [...TOML_KEYS, "path", "trace.server"].sort());
});

test("settings that run programs or choose where keys go are machine-scoped", () => {
  const declared = properties();
  for (const [name, property] of Object.entries(declared)) {
    assert.ok(property.scope !== undefined, `${name} declares no scope`);
    assert.equal(typeof property.markdownDescription, "string", `${name} has no markdownDescription`);
  }
  for (const key of [...TOML_KEYS.filter((key) => key.startsWith("agent.")), "servers", "path"]) {
    assert.equal(scopes.get(key), "machine", key);
  }
  assert.equal(scopes.get("analysis.syntax_diagnostics"), "resource");
});

test("the schema matches meshls.toml's tables and enums", () => {
  const declared = properties();
  const keysOf = (schema: unknown) => Object.keys((schema as { properties: object }).properties).sort();
  const server = (declared["meshls.servers"]?.additionalProperties ?? {}) as Record<string, unknown>;
  assert.deepEqual(keysOf(server), [
    "args",
    "command",
    "enabled",
    "env",
    "initialization_options",
    "root_markers",
    "languages",
    "settings",
  ].sort());
  assert.equal(server.additionalProperties, false);
  const fallback = declared["meshls.agent.fallback"]?.items;
  assert.deepEqual(keysOf(fallback), ["api_key_env", "base_url", "model", "provider"]);
  assert.deepEqual(keysOf(declared["meshls.agent.prices"]?.additionalProperties), ["input", "output"]);
  assert.deepEqual(declared["meshls.agent.provider"]?.enum, ["openai", "anthropic"]);
  const rule = declared["meshls.agent.permissions"]?.additionalProperties as { anyOf: Record<string, unknown>[] };
  assert.deepEqual(rule.anyOf[0]?.enum, ["allow", "ask", "deny"]);
  assert.deepEqual(keysOf(rule.anyOf[1]), ["allow", "deny", "otherwise"]);
  assert.deepEqual(declared["meshls.trace.server"]?.enum, ["off", "messages", "verbose"]);
  // A `default` is only shown in the Settings UI; where there is one, it
  // must say what meshls does when the setting is not sent. Numbers have
  // none (`null`, an empty box) rather than a misleading 0.
  const builtIn: Record<string, unknown> = {
    "meshls.analysis.syntax_diagnostics": true,
    "meshls.agent.run_command": false,
    "meshls.agent.read_dependencies": true,
    "meshls.trace.server": "off",
  };
  for (const [name, property] of Object.entries(declared)) {
    if (JSON.stringify(property.type) === JSON.stringify(["integer", "null"])) {
      assert.equal(property.default, null, name);
    } else if ("default" in property) {
      assert.equal(property.default, builtIn[name], `${name}'s default is not meshls's`);
    }
    assert.notEqual(property.type, "integer", `${name} should be nullable`);
  }
});

test("only values the user set are sent, never VS Code's defaults", () => {
  assert.deepEqual(settingsTable(scopes, inspector({})), {});
});

test("set values land at their place in the meshls.toml table", () => {
  const table = settingsTable(
    scopes,
    inspector({
      "analysis.syntax_diagnostics": { globalValue: false },
      "agent.model": { globalValue: "gpt-4o-mini" },
      "agent.max_steps": { globalValue: 5 },
      "agent.fallback": { globalValue: [{ provider: "anthropic", model: "claude-sonnet-4-5" }] },
      "agent.permissions": { globalValue: { run_command: { allow: ["cargo test*"] } } },
      servers: { globalValue: { ruff: { command: "ruff", args: ["server"] }, gopls: { enabled: false } } },
      // The extension's own settings stay out.
      path: { globalValue: "/opt/meshls" },
      "trace.server": { globalValue: "verbose" },
    }),
  );
  assert.deepEqual(table, {
    analysis: { syntax_diagnostics: false },
    servers: { ruff: { command: "ruff", args: ["server"] }, gopls: { enabled: false } },
    agent: {
      model: "gpt-4o-mini",
      max_steps: 5,
      fallback: [{ provider: "anthropic", model: "claude-sonnet-4-5" }],
      permissions: { run_command: { allow: ["cargo test*"] } },
    },
  });
});

test("workspace values of machine-scoped settings are not sent, even when inspect() reports them", () => {
  const table = settingsTable(
    scopes,
    inspector({
      "agent.base_url": { workspaceValue: "https://attacker.example/v1", workspaceFolderValue: "https://x.example" },
      "agent.api_key_env": { globalValue: "OPENAI_API_KEY", workspaceValue: "AWS_SECRET_ACCESS_KEY" },
      "agent.run_command": { workspaceValue: true },
      "agent.permissions": { workspaceFolderValue: { run_command: "allow" } },
      servers: { workspaceValue: { "rust-analyzer": { command: "sh" } } },
    }),
  );
  assert.deepEqual(table, { agent: { api_key_env: "OPENAI_API_KEY" } });
});

test("resource settings: folder over workspace over user", () => {
  const key = "analysis.syntax_diagnostics";
  const table = (value: Inspected) => settingsTable(scopes, inspector({ [key]: value }));
  assert.deepEqual(table({ globalValue: true }), { analysis: { syntax_diagnostics: true } });
  assert.deepEqual(table({ globalValue: true, workspaceValue: false }), { analysis: { syntax_diagnostics: false } });
  assert.deepEqual(table({ globalValue: false, workspaceValue: false, workspaceFolderValue: true }), {
    analysis: { syntax_diagnostics: true },
  });
  assert.deepEqual(table({ workspaceFolderValue: false }), { analysis: { syntax_diagnostics: false } });
});

test("each scope reads the levels VS Code gives it; objects merge; null is not set", () => {
  const levels: Inspected = { globalValue: "user", workspaceValue: "workspace", workspaceFolderValue: "folder" };
  const expected: Record<Scope, string> = {
    application: "user",
    machine: "user",
    window: "workspace",
    "machine-overridable": "folder",
    resource: "folder",
    "language-overridable": "folder",
  };
  for (const [scope, value] of Object.entries(expected)) {
    assert.equal(userValue(scope as Scope, levels), value, scope);
  }
  assert.deepEqual(
    userValue("resource", { globalValue: { a: 1, b: { c: 2 } }, workspaceValue: { b: { d: 3 } } }),
    { a: 1, b: { c: 2, d: 3 } },
  );
  assert.equal(userValue("resource", { globalValue: "user", workspaceValue: null }), "user");
  assert.equal(userValue("machine", { globalValue: "" }), undefined);
  assert.equal(userValue("machine", { globalValue: 0 }), 0);
  assert.equal(userValue("machine", { globalValue: false }), false);
  assert.equal(userValue("machine", { defaultValue: "default" }), undefined);
  assert.equal(userValue("machine", undefined), undefined);
});

test("a setting without a scope is window-scoped, and an unknown scope is an error", () => {
  const pkg = (property: object) => ({ contributes: { configuration: { properties: { "meshls.x": property } } } });
  assert.equal(declaredScopes(pkg({ type: "string" })).get("x"), "window");
  assert.throws(() => declaredScopes(pkg({ scope: "everywhere" })), /unknown scope everywhere/);
});

test("didChangeConfiguration carries the table under `meshls`", () => {
  assert.deepEqual(didChangeConfigurationParams({ agent: { model: "m" } }), {
    settings: { meshls: { agent: { model: "m" } } },
  });
});
