// VS Code settings to the table meshls reads as its editor layer, the same
// shape as meshls.toml. Pure: it knows nothing of `vscode`, so it runs in
// unit tests under plain node.
//
// meshls lays the editor's settings over the user's meshls.toml files, so a
// value sent here wins over the files. Only values the user set are sent,
// never VS Code's defaults, or the defaults would silently replace the
// files' values.

import { isDeepStrictEqual } from "node:util";

/** The section of every meshls setting. */
export const SECTION = "meshls";

/** Settings of the extension itself, never sent to meshls. */
export const EXTENSION_ONLY: readonly string[] = ["path", "trace.server"];

/** VS Code's setting scopes (`contributes.configuration` `scope`). */
export type Scope =
  | "application"
  | "machine"
  | "machine-overridable"
  | "window"
  | "resource"
  | "language-overridable";

const SCOPES: readonly Scope[] = [
  "application",
  "machine",
  "machine-overridable",
  "window",
  "resource",
  "language-overridable",
];

/** One setting at each level, as `WorkspaceConfiguration.inspect()` returns it. */
export interface Inspected {
  defaultValue?: unknown;
  globalValue?: unknown;
  workspaceValue?: unknown;
  workspaceFolderValue?: unknown;
}

/** `inspect()` of the `meshls` section: the key without `meshls.`. */
export type Inspect = (key: string) => Inspected | undefined;

/** The meshls.toml-shaped table: nested objects of what the user set. */
export type Table = Record<string, unknown>;

/**
 * The scope of each meshls setting that package.json declares, by key
 * without `meshls.`. Reading them from package.json, rather than repeating
 * them here, means the two can never disagree. A setting without a scope
 * is `window`, as in VS Code.
 */
export function declaredScopes(packageJson: unknown): Map<string, Scope> {
  const configuration = field(field(packageJson, "contributes"), "configuration");
  const sections = Array.isArray(configuration) ? configuration : [configuration];
  const scopes = new Map<string, Scope>();
  for (const section of sections) {
    const properties = field(section, "properties");
    if (!isObject(properties)) {
      continue;
    }
    for (const [name, property] of Object.entries(properties)) {
      if (!name.startsWith(`${SECTION}.`)) {
        continue;
      }
      const scope = field(property, "scope") ?? "window";
      if (!SCOPES.includes(scope as Scope)) {
        throw new Error(`package.json: setting ${name} has an unknown scope ${String(scope)}`);
      }
      scopes.set(name.slice(SECTION.length + 1), scope as Scope);
    }
  }
  return scopes;
}

/**
 * The value the user set for one setting, or `undefined`: the most specific
 * level the scope allows wins, and objects merge key by key across levels,
 * as VS Code's own `get()` does. Machine and application settings come from
 * the user's settings only: a workspace's `.vscode/settings.json` comes with
 * the repository, and VS Code ignores it for them. This function does too,
 * whatever `inspect()` reports. `defaultValue` is never used. `null` and
 * `""` count as not set: the Settings UI leaves them when a box is
 * cleared, and no meshls setting means anything by them.
 */
export function userValue(scope: Scope, inspected: Inspected | undefined): unknown {
  if (inspected === undefined) {
    return undefined;
  }
  const levels: unknown[] = [inspected.globalValue];
  if (scope !== "application" && scope !== "machine") {
    levels.push(inspected.workspaceValue);
  }
  if (scope === "resource" || scope === "language-overridable" || scope === "machine-overridable") {
    levels.push(inspected.workspaceFolderValue);
  }
  let value: unknown = undefined;
  for (const level of levels) {
    if (level === undefined || level === null || level === "") {
      continue;
    }
    value = isObject(value) && isObject(level) ? mergeObjects(value, level) : level;
  }
  return value;
}

/**
 * What meshls gets as `initializationOptions`: every setting the user set,
 * at its place in the meshls.toml table (`meshls.agent.max_steps` is
 * `agent.max_steps`). Extension-only settings stay out.
 */
export function settingsTable(scopes: Map<string, Scope>, inspect: Inspect): Table {
  const table: Table = {};
  for (const [key, scope] of scopes) {
    if (EXTENSION_ONLY.includes(key)) {
      continue;
    }
    const value = userValue(scope, inspect(key));
    if (value !== undefined) {
      setPath(table, key.split("."), value);
    }
  }
  return table;
}

/** The params of `workspace/didChangeConfiguration` for a table. */
export function didChangeConfigurationParams(table: Table): { settings: { meshls: Table } } {
  return { settings: { meshls: table } };
}

/** Whether two tables say the same. */
export function sameTable(a: Table, b: Table): boolean {
  return isDeepStrictEqual(a, b);
}

function setPath(table: Table, path: string[], value: unknown): void {
  const last = path[path.length - 1];
  if (last === undefined) {
    return;
  }
  let node = table;
  for (const key of path.slice(0, -1)) {
    const next = node[key];
    if (isObject(next)) {
      node = next;
    } else {
      const created: Table = {};
      node[key] = created;
      node = created;
    }
  }
  node[last] = value;
}

function mergeObjects(base: Table, over: Table): Table {
  const merged: Table = { ...base };
  for (const [key, value] of Object.entries(over)) {
    const below = merged[key];
    merged[key] = isObject(below) && isObject(value) ? mergeObjects(below, value) : value;
  }
  return merged;
}

function isObject(value: unknown): value is Table {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function field(value: unknown, key: string): unknown {
  return isObject(value) ? value[key] : undefined;
}
