// activate() and deactivate() with a fake `vscode` and a fake language
// client: the server it starts, the commands it registers and what each
// sends, the settings it sends, and the status bar.

import "./fakes/install";

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, mock, test } from "node:test";

import type * as vscode from "vscode";

import { LANGUAGES, STATUS_INTERVAL_MS, activate, deactivate } from "../extension";
import { SERVER_ADVERTISED, Sent, control } from "./fakes/languageclient";
import { Disposable, FakeEditor, fake, fileUri, window } from "./fakes/vscode";

const packageJson = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
const contributed: string[] = packageJson.contributes.commands.map((c: { command: string }) => c.command);

let context: { subscriptions: Disposable[]; extension: { packageJSON: unknown } };

async function start(): Promise<void> {
  await activate(context as unknown as vscode.ExtensionContext);
}

/** Lets promises the extension did not await settle. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) {
    await new Promise((resolve) => setImmediate(resolve));
  }
}

function isQuietStatus(request: Sent): boolean {
  return JSON.stringify(request.params) === JSON.stringify({ command: "meshls.status", arguments: [{ quiet: true }] });
}

/** The requests of the last client, without the status bar's own. */
function requests(): Sent[] {
  return control.last().requests.filter((request) => !isQuietStatus(request));
}

function quietStatusCount(): number {
  return control.last().requests.filter(isQuietStatus).length;
}

const idle = {
  servers: [{ name: "rust-analyzer", state: "running", pid: 7, restarts: 0, lastError: null }],
  agent: { model: { provider: "openai", model: "gpt-4o-mini", baseUrl: "https://api.openai.com/v1" }, session: null },
};

const editor: FakeEditor = {
  document: { uri: fileUri("/w/src/main.rs") },
  selection: { start: { line: 4, character: 2 }, end: { line: 6, character: 0 } },
};

beforeEach(() => {
  // Fake intervals: the status bar's timer must not outlive a test, and
  // the test that checks it is cleared can move time on.
  mock.timers.enable({ apis: ["setInterval"] });
  fake.reset();
  control.reset();
  control.answers.set("meshls.status", idle);
  context = { subscriptions: [], extension: { packageJSON: packageJson } };
});

afterEach(async () => {
  await deactivate();
  context.subscriptions.forEach((subscription) => subscription.dispose());
  mock.timers.reset();
});

test("activate registers exactly the commands package.json contributes, next to the server's", async () => {
  await start();
  const registered = [...fake.commands.keys()];
  const own = registered.filter((id) => !SERVER_ADVERTISED.includes(id));
  assert.deepEqual(own.sort(), [...contributed].sort());
  // The client registers the server's commands too; ids shared with them would not register.
  assert.deepEqual(registered.filter((id) => SERVER_ADVERTISED.includes(id)).sort(), [...SERVER_ADVERTISED].sort());
  for (const command of packageJson.contributes.commands) {
    assert.equal(command.category, "meshls", command.command);
    assert.ok(command.title.length > 0, command.command);
  }
});

test("meshls starts as `meshls --stdio` for files of the nine languages, logging to named channels", async () => {
  await start();
  assert.equal(control.clients.length, 1);
  const client = control.last();
  assert.equal(client.id, "meshls");
  assert.deepEqual(client.serverOptions, { command: "meshls", args: ["--stdio"] });
  assert.deepEqual(
    client.clientOptions.documentSelector,
    LANGUAGES.flatMap((language) => [
      { scheme: "file", language },
      { scheme: "untitled", language },
    ]),
  );
  assert.deepEqual(LANGUAGES, [
    "rust",
    "typescript",
    "typescriptreact",
    "javascript",
    "javascriptreact",
    "python",
    "c",
    "cpp",
    "go",
  ]);
  const channels = fake.outputChannels;
  assert.deepEqual(
    channels.map((channel) => channel.name),
    ["meshls", "meshls trace"],
  );
  assert.equal(client.clientOptions.outputChannel, channels[0]);
  assert.equal(client.clientOptions.traceOutputChannel, channels[1]);
});

test("meshls.path comes from user settings only", async () => {
  fake.settings.set("path", { workspaceValue: "/repo/evil-meshls" });
  await start();
  assert.deepEqual(control.last().serverOptions, { command: "meshls", args: ["--stdio"] });
  await deactivate();
  fake.reset();
  fake.settings.set("path", { globalValue: "/opt/meshls/bin/meshls", workspaceValue: "/repo/evil-meshls" });
  await start();
  assert.deepEqual(control.last().serverOptions, { command: "/opt/meshls/bin/meshls", args: ["--stdio"] });
});

test("initializationOptions carry only what the user set", async () => {
  fake.settings.set("agent.model", { globalValue: "claude-sonnet-4-5" });
  fake.settings.set("agent.provider", { globalValue: "anthropic" });
  fake.settings.set("agent.base_url", { workspaceValue: "https://attacker.example" });
  fake.settings.set("analysis.syntax_diagnostics", { workspaceValue: false });
  fake.settings.set("trace.server", { globalValue: "verbose" });
  await start();
  assert.deepEqual(control.last().initializationOptions, {
    analysis: { syntax_diagnostics: false },
    agent: { provider: "anthropic", model: "claude-sonnet-4-5" },
  });
  // Read for the folder meshls takes as the root.
  assert.equal(String(fake.configurationScope), "file:///w");
});

test("nothing set: empty initializationOptions, whatever VS Code's defaults", async () => {
  await start();
  assert.deepEqual(control.last().initializationOptions, {});
});

test("each command sends its request to meshls", async () => {
  const range = { start: { line: 4, character: 2 }, end: { line: 6, character: 0 } };
  const executeCommand = (command: string, args: unknown[]) => ({
    method: "workspace/executeCommand",
    params: { command, arguments: args },
  });
  const cases: Record<string, { setup?: () => void; sends: Sent[]; then?: () => void }> = {
    "meshls.client.ask": {
      setup: () => {
        fake.inputBoxAnswer = "Add doc comments";
        window.activeTextEditor = editor;
      },
      sends: [executeCommand("meshls.ask", ["Add doc comments", { uri: "file:///w/src/main.rs", range }])],
    },
    "meshls.client.cancel": { sends: [executeCommand("meshls.cancel", [])] },
    "meshls.client.reviewFile": {
      setup: () => {
        window.activeTextEditor = editor;
      },
      sends: [executeCommand("meshls.review", ["file:///w/src/main.rs"])],
    },
    "meshls.client.showStatus": {
      sends: [executeCommand("meshls.status", [])],
      then: () => {
        assert.match(fake.outputChannels[0]?.lines.join("\n") ?? "", /"model": "gpt-4o-mini"/);
      },
    },
    "meshls.client.restart": {
      sends: [],
      then: () => {
        assert.equal(control.clients.length, 2);
        assert.equal(control.clients[0]?.stops, 1);
        assert.ok(control.last().isRunning());
      },
    },
  };
  assert.deepEqual(Object.keys(cases).sort(), [...contributed].sort(), "a contributed command has no case here");
  for (const [id, { setup, sends, then }] of Object.entries(cases)) {
    fake.reset();
    control.reset();
    control.answers.set("meshls.status", idle);
    await start();
    setup?.();
    await fake.commands.get(id)?.();
    await settle();
    assert.deepEqual(requests(), sends, id);
    assert.deepEqual(
      fake.messages.filter((message) => message.kind === "error"),
      [],
      id,
    );
    then?.();
    await deactivate();
  }
});

test("the status bar shows meshls.status, asked quietly every 5 s until deactivate", async () => {
  await start();
  const item = fake.statusItem();
  assert.equal(item.visible, true);
  assert.equal(item.command, "meshls.client.showStatus");
  assert.equal(item.text, "$(hubot) gpt-4o-mini · idle");
  assert.match(String(item.tooltip), /rust-analyzer: running, pid 7/);
  assert.equal(quietStatusCount(), 1);

  control.answers.set("meshls.status", {
    ...idle,
    agent: {
      ...idle.agent,
      session: {
        id: "s",
        title: "t",
        runs: 1,
        usage: { input_tokens: 2000, output_tokens: 500 },
        cost: 0,
        running: true,
      },
    },
  });
  mock.timers.tick(STATUS_INTERVAL_MS);
  await settle();
  assert.equal(quietStatusCount(), 2);
  assert.equal(item.text, "$(sync~spin) gpt-4o-mini · running · 2.5k tokens");

  const client = control.last();
  await deactivate();
  assert.equal(client.stops, 1);
  mock.timers.tick(STATUS_INTERVAL_MS * 4);
  await settle();
  assert.equal(quietStatusCount(), 2);
  // No timer is left to look at the stopped client and change the item.
  assert.equal(item.text, "$(sync~spin) gpt-4o-mini · running · 2.5k tokens");
});

test("the end of a run's progress refreshes the status bar", async () => {
  await start();
  const client = control.last();
  client.progress("run-1", { kind: "report" });
  await settle();
  assert.equal(quietStatusCount(), 1);
  client.progress("run-1", { kind: "end" });
  await settle();
  assert.equal(quietStatusCount(), 2);
});

test("a failed server shows as a warning", async () => {
  control.answers.set("meshls.status", {
    ...idle,
    servers: [{ name: "pyright", state: "failed", pid: null, restarts: 5, lastError: "exited" }],
  });
  await start();
  const item = fake.statusItem();
  assert.equal(item.text, "$(warning) $(hubot) gpt-4o-mini · idle");
  assert.equal(item.backgroundColor?.id, "statusBarItem.warningBackground");
});

test("a changed setting is sent as didChangeConfiguration, an unchanged one is not", async () => {
  fake.settings.set("agent.model", { globalValue: "a" });
  await start();
  const client = control.last();
  await fake.changeSettings({ "agent.max_steps": { globalValue: 7, workspaceValue: 99 } });
  assert.deepEqual(client.notifications, [
    {
      method: "workspace/didChangeConfiguration",
      params: { settings: { meshls: { agent: { model: "a", max_steps: 7 } } } },
    },
  ]);
  // Only a workspace value of a machine setting: meshls has it all already.
  await fake.changeSettings({ "agent.base_url": { workspaceValue: "https://attacker.example" } });
  await fake.changeSettings({ "trace.server": { globalValue: "messages" } });
  assert.equal(client.notifications.length, 1);
  assert.deepEqual(fake.messages, []);
});

test("a setting changed while meshls starts is sent once it runs", async () => {
  control.duringStart = () => fake.changeSettings({ "agent.model": { globalValue: "late" } });
  await start();
  const client = control.last();
  assert.deepEqual(client.initializationOptions, {});
  assert.deepEqual(client.notifications, [
    { method: "workspace/didChangeConfiguration", params: { settings: { meshls: { agent: { model: "late" } } } } },
  ]);
});

test("a removed setting is sent, and needs no restart", async () => {
  fake.settings.set("agent.model", { globalValue: "a" });
  await start();
  await fake.changeSettings({ "agent.model": undefined });
  const client = control.last();
  // meshls takes the latest settings in place of those it started with.
  assert.deepEqual(client.notifications, [
    { method: "workspace/didChangeConfiguration", params: { settings: { meshls: {} } } },
  ]);
  assert.equal(fake.messages.length, 0);
  assert.equal(control.clients.length, 1);
});

test("a new meshls.path offers a restart, which starts the new program", async () => {
  await start();
  fake.messageAnswer = "Restart";
  await fake.changeSettings({ path: { globalValue: "/opt/new/meshls" } });
  await settle();
  assert.match(fake.messages[0]?.text ?? "", /meshls\.path/);
  assert.equal(control.clients.length, 2);
  assert.equal(control.clients[0]?.stops, 1);
  assert.deepEqual(control.last().serverOptions, { command: "/opt/new/meshls", args: ["--stdio"] });
  assert.ok(control.last().isRunning());
});

test("meshls missing: the status bar and a message say how to install it, and restart tries again", async () => {
  control.startError = "Launching server using command meshls failed. Error: spawn meshls ENOENT";
  await start();
  await settle();
  const item = fake.statusItem();
  assert.equal(item.text, "$(circle-slash) meshls");
  assert.match(String(item.tooltip), /ENOENT/);
  const error = fake.messages.find((message) => message.kind === "error");
  assert.match(error?.text ?? "", /cargo install --locked --path server/);
  assert.deepEqual(error?.items, ["Open Settings"]);

  await fake.commands.get("meshls.client.cancel")?.();
  assert.match(fake.messages[fake.messages.length - 1]?.text ?? "", /meshls is not running/);

  control.startError = undefined;
  await fake.commands.get("meshls.client.restart")?.();
  await settle();
  assert.ok(control.last().isRunning());
  assert.equal(item.text, "$(hubot) gpt-4o-mini · idle");
});
