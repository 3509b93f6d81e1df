// activate() and deactivate() with a fake `vscode` and a fake language
// client: the server it starts, the commands it registers and what each
// sends, the settings it sends, the status bar, the chat view, and the
// runs' progress with its Cancel button.

import "./fakes/install";

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterEach, beforeEach, mock, test } from "node:test";

import type * as vscode from "vscode";

import { CHAT_VIEW, LANGUAGES, STATUS_INTERVAL_MS, activate, deactivate } from "../extension";
import { SERVER_ADVERTISED, Sent, control } from "./fakes/languageclient";
import { Disposable, FakeEditor, ProgressLocation, Range, commands, fake, fileUri, window } from "./fakes/vscode";

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

function executeCommand(command: string, args: unknown[]): Sent {
  return { method: "workspace/executeCommand", params: { command, arguments: args } };
}

/** Sends the run's events from meshls, numbered from 0 as meshls does. */
function runEvents(run: string, session = "s1") {
  let seq = 0;
  return (kind: string, fields: Record<string, unknown> = {}) =>
    control.last().notify("meshls/runEvent", { session, run, seq: seq++, kind, ...fields });
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
  const cases: Record<string, { setup?: () => void; sends: Sent[]; then?: () => void }> = {
    "meshls.client.ask": {
      setup: () => {
        fake.inputBoxAnswer = "Add doc comments";
        window.activeTextEditor = editor;
      },
      sends: [executeCommand("meshls.ask", ["Add doc comments", { uri: "file:///w/src/main.rs", range }])],
    },
    "meshls.client.cancel": { sends: [executeCommand("meshls.cancel", [])] },
    "meshls.client.undoRun": { sends: [executeCommand("meshls.undoRun", [])] },
    "meshls.client.newSession": { sends: [executeCommand("meshls.newSession", [])] },
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
    "meshls.chat": {
      sends: [],
      then: () => {
        assert.deepEqual(
          fake.executedCommands.map((command) => command.id),
          ["meshls.chat", "meshls.chat.focus"],
        );
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
    await commands.executeCommand(id);
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

test("the client asks meshls for run events in its capabilities", async () => {
  await start();
  const capabilities = control.last().capabilities;
  assert.deepEqual(capabilities?.experimental, { meshlsRunEvents: true });
  // The client's own stay.
  assert.equal(capabilities?.window?.workDoneProgress, true);
});

test("package.json contributes the chat view, and activate provides exactly it", async () => {
  await start();
  assert.deepEqual([...fake.viewProviders.keys()], [CHAT_VIEW]);
  const views = Object.values(packageJson.contributes.views as Record<string, { id: string; type: string }[]>).flat();
  assert.deepEqual(views, [{ type: "webview", id: CHAT_VIEW, name: "Chat", contextualTitle: "meshls" }]);
  const containers = packageJson.contributes.viewsContainers.activitybar as { id: string; icon: string }[];
  assert.deepEqual(
    containers.map((container) => container.id),
    Object.keys(packageJson.contributes.views),
  );
  for (const container of containers) {
    assert.ok(readFileSync(join(__dirname, "..", "..", container.icon), "utf8").startsWith("<svg"), container.icon);
  }
});

test("the chat view streams a run and sends its input, Stop and Undo run to meshls", async () => {
  await start();
  const view = await fake.showView(CHAT_VIEW);
  const webview = view.webview;
  assert.deepEqual(webview.options, { enableScripts: true, localResourceRoots: [] });
  const nonce = /script-src 'nonce-([^']+)'/.exec(webview.html)?.[1] ?? "";
  assert.ok(nonce.length >= 16);
  assert.ok(webview.html.includes(`<script nonce="${nonce}">`));
  await webview.receive({ type: "ready" });
  assert.match(webview.lastRender().html, /No agent run yet/);

  const send = runEvents("run-1");
  send("start", { instruction: "Make it <async>", action: "ask", token: "meshls-agent-1" });
  send("text", { text: "Reading" });
  send("text", { text: " the file." });
  send("tool", { name: "read_file", about: "src/lib.rs", outcome: null });
  send("tool", { name: "read_file", about: "src/lib.rs", outcome: "ok" });
  send("edit", { uri: "file:///w/src/lib.rs", summary: "line 2" });
  send("diagnostics", { errors: [] });
  send("end", { outcome: "done", tokens: { input: 10, output: 5 }, cost: 0.001, files: ["src/lib.rs"], undo: true });
  await settle();
  const shown = webview.lastRender();
  assert.match(shown.html, /Make it &lt;async&gt;/);
  assert.match(shown.html, /<p>Reading the file\.<\/p>/);
  assert.match(shown.html, /1 tool call: read_file<\/summary>/);
  assert.match(shown.html, /Edited <a href="#" data-uri="file:\/\/\/w\/src\/lib\.rs" data-line="2">src\/lib\.rs<\/a>, line 2/);
  assert.match(shown.html, /done · 10 tokens in, 5 out · \$0\.0010 · changed src\/lib\.rs/);
  assert.deepEqual(shown.undo, { run: "run-1", instruction: "Make it <async>" });
  assert.equal(shown.running, false);

  await webview.receive({ type: "ask", text: "Now the tests" });
  await webview.receive({ type: "stop" });
  control.answers.set("meshls.undoRun", {
    run: "run-1",
    undone: true,
    restored: ["src/lib.rs"],
    deleted: [],
    left: [],
    message: "Restored src/lib.rs.",
  });
  await webview.receive({ type: "undo" });
  await settle();
  assert.deepEqual(requests(), [
    executeCommand("meshls.ask", ["Now the tests"]),
    executeCommand("meshls.cancel", []),
    executeCommand("meshls.undoRun", [{ run: "run-1" }]),
  ]);
  assert.match(webview.lastRender().html, /Restored src\/lib\.rs\./);
  assert.equal(webview.lastRender().undo, undefined);

  await webview.receive({ type: "open", uri: "file:///w/src/lib.rs", line: 2 });
  const opened = fake.executedCommands.find((command) => command.id === "vscode.open");
  assert.equal(String(opened?.args[0]), "file:///w/src/lib.rs");
  assert.deepEqual(opened?.args[1], { selection: new Range(1, 0, 1, 0) });
  assert.deepEqual(
    fake.messages.filter((message) => message.kind === "error"),
    [],
  );
});

test("the chat keeps the session while no view shows it", async () => {
  await start();
  const first = await fake.showView(CHAT_VIEW);
  const send = runEvents("run-1");
  send("start", { instruction: "Explain", action: "explain", token: "meshls-agent-1" });
  first.dispose();
  const postedBefore = first.webview.posted.length;
  send("text", { text: "It parses **TOML**." });
  assert.equal(first.webview.posted.length, postedBefore);

  const again = await fake.showView(CHAT_VIEW);
  await again.webview.receive({ type: "ready" });
  const html = again.webview.lastRender().html;
  assert.match(html, /<span class="action">explain<\/span> Explain/);
  assert.match(html, /It parses <strong>TOML<\/strong>\./);
});

test("Cancel on a run's progress notification sends window/workDoneProgress/cancel for its token", async () => {
  await start();
  const client = control.last();
  const token = "meshls-agent-1";
  // As meshls does it: the start event, then the token, then its progress.
  runEvents("run-1")("start", { instruction: "Fix it", action: "fix", token });
  client.createProgress(token);
  client.progress(token, { kind: "begin", title: "meshls agent", message: "Fix it", cancellable: true });
  client.progress(token, { kind: "report", message: "read_file src/lib.rs" });
  await settle();
  // Shown once, as a notification: not in the status bar too.
  assert.equal(fake.progresses.length, 1);
  const shown = fake.progresses[0];
  assert.deepEqual(shown?.options, { location: ProgressLocation.Notification, title: "meshls agent", cancellable: true });
  assert.deepEqual(shown?.messages, ["Fix it", "read_file src/lib.rs"]);

  shown?.clickCancel();
  shown?.clickCancel();
  await settle();
  assert.deepEqual(client.notifications, [{ method: "window/workDoneProgress/cancel", params: { token } }]);

  client.progress(token, { kind: "end", message: "cancelled" });
  await settle();
  assert.equal(shown?.finished, true);
  // The client's own part for the token let go of it, and the status bar was asked.
  assert.equal(client.listensFor(token), false);
  assert.equal(quietStatusCount(), 2);
});

test("other progress stays with the client, in the status bar, where VS Code shows no Cancel", async () => {
  await start();
  const client = control.last();
  // A language server's, or a run's of a meshls that sent no start event.
  client.createProgress("rust-analyzer/flycheck");
  client.progress("rust-analyzer/flycheck", { kind: "begin", title: "cargo check", cancellable: true });
  await settle();
  const shown = fake.progresses[0];
  assert.deepEqual(shown?.options, { location: ProgressLocation.Window, title: "cargo check", cancellable: true });
  assert.throws(() => shown?.clickCancel(), /no Cancel button/);
  client.progress("rust-analyzer/flycheck", { kind: "end" });
  await settle();
  assert.equal(shown?.finished, true);
  assert.equal(client.listensFor("rust-analyzer/flycheck"), false);
  assert.deepEqual(client.notifications, []);
});

test("a restart ends the runs shown and closes their progress", async () => {
  await start();
  const view = await fake.showView(CHAT_VIEW);
  const token = "meshls-agent-1";
  runEvents("meshls-agent-1")("start", { instruction: "Long one", action: "ask", token });
  control.last().createProgress(token);
  control.last().progress(token, { kind: "begin", title: "meshls agent", cancellable: true });
  await commands.executeCommand("meshls.client.restart");
  await settle();
  assert.equal(fake.progresses[0]?.finished, true);
  const shown = view.webview.lastRender();
  assert.match(shown.html, /meshls stopped/);
  assert.equal(shown.running, false);
  // A run cut short may leave its id to the next one: a new run, not a duplicate.
  runEvents("meshls-agent-1")("start", { instruction: "After", action: "ask", token });
  await settle();
  assert.match(view.webview.lastRender().html, /After/);
  assert.equal(view.webview.lastRender().running, true);
});
