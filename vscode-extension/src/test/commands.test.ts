// The command handlers against a fake host: what each sends to meshls, and
// what the user sees when there is nothing to send or meshls refuses.

import assert from "node:assert/strict";
import { test } from "node:test";

import { ActiveLocation, CommandHost, runCommand } from "../commands";

class FakeHost implements CommandHost {
  sent: { command: string; args: unknown[] }[] = [];
  infos: string[] = [];
  errors: string[] = [];
  logged: string[] = [];
  statuses: unknown[] = [];
  restarts = 0;
  refreshes = 0;
  chatReveals = 0;
  instruction: string | undefined = "Fix the type error";
  location: ActiveLocation | undefined = undefined;
  answer: (command: string) => Promise<unknown> = async () => null;

  executeCommand(command: string, args: unknown[]): Promise<unknown> {
    this.sent.push({ command, args });
    return this.answer(command);
  }
  async restart(): Promise<void> {
    this.restarts += 1;
  }
  async askInstruction(): Promise<string | undefined> {
    return this.instruction;
  }
  activeLocation(): ActiveLocation | undefined {
    return this.location;
  }
  showInfo(message: string): void {
    this.infos.push(message);
  }
  showError(message: string): void {
    this.errors.push(message);
  }
  log(text: string): void {
    this.logged.push(text);
  }
  statusChanged(status: unknown): void {
    this.statuses.push(status);
  }
  refreshStatus(): void {
    this.refreshes += 1;
  }
  async revealChat(): Promise<void> {
    this.chatReveals += 1;
  }
}

const range = { start: { line: 3, character: 0 }, end: { line: 5, character: 2 } };

test("ask sends the instruction and where the cursor is", async () => {
  const host = new FakeHost();
  host.location = { uri: "file:///w/src/lib.rs", scheme: "file", range };
  await runCommand("meshls.client.ask", host);
  assert.deepEqual(host.sent, [
    { command: "meshls.ask", args: ["Fix the type error", { uri: "file:///w/src/lib.rs", range }] },
  ]);
  assert.equal(host.refreshes, 1);
  assert.deepEqual(host.errors, []);
});

test("ask without a file sends the instruction alone", async () => {
  for (const location of [undefined, { uri: "git:/w/src/lib.rs?ref", scheme: "git", range }]) {
    const host = new FakeHost();
    host.location = location;
    await runCommand("meshls.client.ask", host);
    assert.deepEqual(host.sent, [{ command: "meshls.ask", args: ["Fix the type error"] }]);
  }
});

test("ask sends nothing when the box is dismissed or left empty", async () => {
  for (const instruction of [undefined, "", "   "]) {
    const host = new FakeHost();
    host.instruction = instruction;
    await runCommand("meshls.client.ask", host);
    assert.deepEqual(host.sent, []);
  }
});

test("review needs a file on disk", async () => {
  const host = new FakeHost();
  await runCommand("meshls.client.reviewFile", host);
  host.location = { uri: "untitled:Untitled-1", scheme: "untitled", range };
  await runCommand("meshls.client.reviewFile", host);
  assert.deepEqual(host.sent, []);
  assert.equal(host.errors.length, 2);
  host.location = { uri: "file:///w/a.py", scheme: "file", range };
  await runCommand("meshls.client.reviewFile", host);
  assert.deepEqual(host.sent, [{ command: "meshls.review", args: ["file:///w/a.py"] }]);
});

test("cancel says so when no run was going on", async () => {
  const host = new FakeHost();
  host.answer = async () => ({ cancelled: 0 });
  await runCommand("meshls.client.cancel", host);
  host.answer = async () => ({ cancelled: 1 });
  await runCommand("meshls.client.cancel", host);
  assert.deepEqual(host.sent, [
    { command: "meshls.cancel", args: [] },
    { command: "meshls.cancel", args: [] },
  ]);
  assert.deepEqual(host.infos, ["meshls: no agent run to cancel."]);
});

test("show status asks without quiet, logs the answer and updates the status bar", async () => {
  const host = new FakeHost();
  const status = { servers: [], agent: { model: { model: "m" }, session: null } };
  host.answer = async () => status;
  await runCommand("meshls.client.showStatus", host);
  assert.deepEqual(host.sent, [{ command: "meshls.status", args: [] }]);
  assert.deepEqual(host.statuses, [status]);
  assert.match(host.logged.join("\n"), /"model": "m"/);
});

test("restart restarts", async () => {
  const host = new FakeHost();
  await runCommand("meshls.client.restart", host);
  assert.equal(host.restarts, 1);
  assert.deepEqual(host.sent, []);
});

test("open chat shows the chat view and sends nothing", async () => {
  const host = new FakeHost();
  await runCommand("meshls.chat", host);
  assert.equal(host.chatReveals, 1);
  assert.deepEqual(host.sent, []);
});

test("a refusal from meshls becomes one error message", async () => {
  const host = new FakeHost();
  // vscode-languageclient rejects with a ResponseError: an Error with a code.
  host.answer = async () => {
    throw Object.assign(new Error("the agent is already working in session s1; wait for it to finish"), {
      code: -32602,
    });
  };
  await runCommand("meshls.client.ask", host);
  assert.deepEqual(host.errors, ["meshls: the agent is already working in session s1; wait for it to finish"]);
  await runCommand("meshls.client.nope", host);
  assert.deepEqual(host.errors.slice(1), ["meshls: no command meshls.client.nope"]);
});

test("undo run asks meshls to undo the session's latest run", async () => {
  const host = new FakeHost();
  await runCommand("meshls.client.undoRun", host);
  assert.deepEqual(host.sent, [{ command: "meshls.undoRun", args: [] }]);
  assert.deepEqual(host.errors, []);
});

test("undo run with nothing to undo shows meshls's refusal once", async () => {
  const host = new FakeHost();
  host.answer = async () => {
    throw new Error("meshls agent: no run of this session changed a file, so there is nothing to undo");
  };
  await runCommand("meshls.client.undoRun", host);
  assert.deepEqual(host.errors, [
    "meshls: meshls agent: no run of this session changed a file, so there is nothing to undo",
  ]);
});

test("new session starts one and says so", async () => {
  const host = new FakeHost();
  await runCommand("meshls.client.newSession", host);
  assert.deepEqual(host.sent, [{ command: "meshls.newSession", args: [] }]);
  assert.equal(host.infos.length, 1);
});
