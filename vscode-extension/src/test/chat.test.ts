// The chat view without VS Code: run events into the model, the model into
// escaped HTML, the webview's messages into meshls's commands (against a
// fake host), and the page's own script against a small fake DOM.

import assert from "node:assert/strict";
import { test } from "node:test";
import { runInNewContext } from "node:vm";

import { ChatModel } from "../chat";
import { SCRIPT, label, page, render, renderMessage } from "../chatHtml";
import { ChatHost, ChatView, SessionPick, ToWebview, sessionPicks } from "../chatView";
import { markdown } from "../markdown";

/** Sends a run's events to `model`, numbering them as meshls does (from 0). */
function runOf(model: ChatModel, run: string, session = "s1") {
  let seq = 0;
  return (kind: string, fields: Record<string, unknown> = {}) =>
    model.apply({ session, run, seq: seq++, kind, ...fields });
}

const end = (fields: Record<string, unknown> = {}) => ({
  outcome: "done",
  tokens: { input: 1200, output: 340 },
  cost: 0.0123,
  files: ["src/lib.rs"],
  undo: true,
  ...fields,
});

test("text deltas make one answer; a tool call's start and outcome fold into one entry", () => {
  const model = new ChatModel();
  const send = runOf(model, "r1");
  send("start", { instruction: "Make it async", action: "ask", token: "meshls-agent-1" });
  send("text", { text: "I'll " });
  send("text", { text: "read it." });
  send("tool", { name: "read_file", about: "src/lib.rs", outcome: null });
  send("tool", { name: "grep", about: "fn main", outcome: null });
  send("tool", { name: "read_file", about: "src/lib.rs", outcome: "ok" });
  send("tool", { name: "grep", about: "fn main", outcome: "error" });
  send("text", { text: "Done" });
  send("text", { text: "." });

  assert.equal(model.session, "s1");
  const [run] = model.runs;
  assert.equal(model.runs.length, 1);
  assert.equal(run?.instruction, "Make it async");
  assert.equal(run?.token, "meshls-agent-1");
  assert.deepEqual(run?.entries, [
    { kind: "text", text: "I'll read it." },
    { kind: "tool", name: "read_file", about: "src/lib.rs", outcome: "ok" },
    { kind: "tool", name: "grep", about: "fn main", outcome: "error" },
    { kind: "text", text: "Done." },
  ]);
  assert.equal(model.running(), true);

  const html = render(model);
  assert.match(html, /<details class="tools" data-key="0:1"><summary>2 tool calls: read_file, grep \(1 failed\)<\/summary>/);
  assert.match(html, /<li class="ok"><code>read_file<\/code> src\/lib\.rs — ok<\/li>/);
  assert.match(html, /<li class="failed"><code>grep<\/code> fn main — error<\/li>/);
  assert.match(html, /<p>I&#39;ll read it\.<\/p>/);
  assert.match(html, /Working…/);
});

test("a run's events apply once, in seq order: duplicates and late ones are dropped", () => {
  const model = new ChatModel();
  const event = (seq: number, kind: string, fields: Record<string, unknown> = {}) =>
    model.apply({ session: "s1", run: "r1", seq, kind, ...fields });
  assert.equal(event(0, "start", { instruction: "i", action: "ask" }), true);
  assert.equal(event(0, "start", { instruction: "again", action: "ask" }), false);
  assert.equal(event(1, "text", { text: "a" }), true);
  assert.equal(event(1, "text", { text: "a" }), false);
  // A gap is not waited for: over one ordered stream it was never sent.
  assert.equal(event(3, "text", { text: "c" }), true);
  assert.equal(event(2, "text", { text: "b" }), false);
  // Not an event, or one of a run never started.
  assert.equal(model.apply({ session: "s1", run: "r1", kind: "text", text: "x" }), false);
  assert.equal(model.apply({ session: "s1", run: "r9", seq: 1, kind: "text", text: "x" }), false);
  assert.equal(model.apply(null), false);
  assert.deepEqual(model.runs[0]?.entries, [{ kind: "text", text: "ac" }]);
  assert.equal(model.runs[0]?.instruction, "i");
});

test("edits and errors link to their files, at their lines, named from the root", () => {
  const model = new ChatModel();
  const send = runOf(model, "r1");
  send("start", { instruction: "Fix", action: "fix" });
  send("edit", { uri: "file:///w/src/lib.rs", summary: "lines 3-7" });
  send("edit", { uri: "file:///w/src/new%20file.rs", summary: "created" });
  send("diagnostics", {
    errors: [{ uri: "file:///w/src/lib.rs", line: 4, source: "rustc", message: "mismatched types" }],
  });
  send("approval", { asked: "edit src/other.rs?", answer: "allow" });
  send("diagnostics", { errors: [] });

  const html = render(model, "file:///w");
  assert.match(html, /<span class="action">fix<\/span> Fix/);
  assert.match(html, /Edited <a href="#" data-uri="file:\/\/\/w\/src\/lib\.rs" data-line="3">src\/lib\.rs<\/a>, lines 3-7/);
  assert.match(html, /Created <a href="#" data-uri="file:\/\/\/w\/src\/new%20file\.rs">src\/new file\.rs<\/a>/);
  assert.match(html, /1 error after the edits:.*<a href="#" data-uri="file:\/\/\/w\/src\/lib\.rs" data-line="4">src\/lib\.rs:4<\/a> rustc: mismatched types/s);
  assert.match(html, /Asked: edit src\/other\.rs\? — <strong>allow<\/strong>/);
  assert.match(html, /No errors after the edits\./);
  assert.equal(model.shows("file:///w/src/lib.rs"), true);
  assert.equal(model.shows("file:///etc/passwd"), false);

  assert.equal(label("file:///elsewhere/a%23b.rs", "file:///w"), "/elsewhere/a#b.rs");
  assert.equal(label("file:///w/a.rs", "file:///w/"), "a.rs");
});

test("the end line, and Undo takes the latest run whose end says undo", () => {
  const model = new ChatModel();
  const first = runOf(model, "r1");
  first("start", { instruction: "First", action: "ask" });
  first("end", end());
  const second = runOf(model, "r2");
  second("start", { instruction: "Second", action: "ask" });
  assert.equal(model.undoable()?.id, "r1", "a run going is not undoable");
  second("end", end({ outcome: "cancelled", undo: false, files: [] }));
  const third = runOf(model, "r3");
  third("start", { instruction: "Third", action: "ask" });
  third("end", end());

  assert.equal(model.running(), false);
  assert.equal(model.undoable()?.id, "r3");
  assert.deepEqual(renderMessage(model).undo, { run: "r3", instruction: "Third" });
  assert.match(render(model), /<footer class="end">done · 1\.2k tokens in, 340 out · \$0\.0123 · changed src\/lib\.rs<\/footer>/);

  const answered = model.undoAnswered({
    run: "r3",
    undone: true,
    restored: ["src/lib.rs"],
    deleted: [],
    left: [{ file: "src/main.rs", why: "changed since" }],
    message: "Restored 1 file; 1 left as it is.",
  });
  assert.equal(answered?.id, "r3");
  assert.equal(model.undoable()?.id, "r1");
  const html = render(model);
  assert.match(html, /<div class="undo done"><p>Restored 1 file; 1 left as it is\.<\/p><ul><li>src\/main\.rs: changed since<\/li><\/ul><\/div>/);
  assert.match(html, /· undone<\/footer>/);

  // Undone already (with meshls's own Undo button): not offered again.
  const already = 'meshls agent: "First" was undone already; nothing changed';
  assert.equal(model.undoAnswered({ run: "r1", undone: false, restored: [], deleted: [], left: [], message: already })?.id, "r1");
  assert.equal(model.undoable(), undefined);
  assert.match(render(model), /<div class="undo unchanged"><p>meshls agent: &quot;First&quot; was undone already; nothing changed<\/p><\/div>/);
  assert.equal(model.undoAnswered({ run: "nope", undone: true }), undefined);
});

test("a run in another session starts the view afresh; a new session empties it", () => {
  const model = new ChatModel();
  runOf(model, "r1", "s1")("start", { instruction: "old", action: "ask" });
  runOf(model, "r2", "s2")("start", { instruction: "new", action: "ask" });
  assert.equal(model.session, "s2");
  assert.deepEqual(
    model.runs.map((run) => run.instruction),
    ["new"],
  );
  model.newSession("s3");
  assert.equal(model.session, "s3");
  assert.deepEqual(model.runs, []);
  assert.match(render(model), /No agent run yet/);
});

test("when meshls stops, its runs end; what ended before can still be undone", () => {
  const model = new ChatModel();
  const before = runOf(model, "meshls-agent-1");
  before("start", { instruction: "done before", action: "ask" });
  before("end", end());
  runOf(model, "meshls-agent-2")("start", { instruction: "cut short", action: "ask" });
  assert.equal(model.stopped(), true);
  assert.equal(model.running(), false);
  assert.equal(model.runs[1]?.end?.outcome, "meshls stopped");
  // meshls keeps the runs with the session.
  assert.equal(model.undoable()?.id, "meshls-agent-1");

  // A run cut short may leave its id to the next: a new run all the same.

  const after = runOf(model, "meshls-agent-1");
  assert.equal(after("start", { instruction: "after", action: "ask" }), true);
  after("text", { text: "new" });
  assert.deepEqual(
    model.runs.map((run) => [run.instruction, run.entries.length]),
    [
      ["done before", 0],
      ["cut short", 0],
      ["after", 1],
    ],
  );
});

test("everything from meshls and the model is escaped", () => {
  const model = new ChatModel();
  const send = runOf(model, "r1");
  const evil = `<script>alert("x")</script><img src=x onerror=alert(1)>`;
  send("start", { instruction: evil, action: `<b>${evil}` });
  send("text", { text: `Here: ${evil}\n\n- **${evil}**\n\n\`${evil}\`\n\n\`\`\`html"><script>\n${evil}\n\`\`\`` });
  send("tool", { name: evil, about: evil, outcome: null });
  send("edit", { uri: `file:///w/a"><script>x</script>.rs`, summary: evil });
  send("diagnostics", { errors: [{ uri: `file:///w/"'.rs`, line: 1, source: evil, message: evil }] });
  send("approval", { asked: evil, answer: evil });
  send("end", end({ outcome: evil, files: [evil] }));
  model.undoAnswered({ run: "r1", undone: false, message: evil, left: [{ file: evil, why: evil }] });

  const html = render(model, "file:///w");
  assert.doesNotMatch(html, /<script/i);
  assert.doesNotMatch(html, /<img/i);
  assert.doesNotMatch(html, /<b>/);
  assert.match(html, /&lt;script&gt;alert\(&quot;x&quot;\)&lt;\/script&gt;/);
  // Attribute values cannot be left: every quote is escaped.
  assert.match(html, /data-uri="file:\/\/\/w\/a&quot;&gt;&lt;script&gt;x&lt;\/script&gt;\.rs"/);
  assert.match(html, /data-uri="file:\/\/\/w\/&quot;&#39;\.rs"/);
  assert.match(html, /<pre><code class="language-html">/);
});

test("markdown: paragraphs, headings, lists, fences, inline code, bold, italics", () => {
  assert.equal(
    markdown("# Plan\nFirst **bold** and *it* and `a<b>`.\nSecond line.\n\n- one\n- two `x`\n\n1. a\n2. b"),
    [
      "<h3>Plan</h3>",
      "<p>First <strong>bold</strong> and <em>it</em> and <code>a&lt;b&gt;</code>.<br>Second line.</p>",
      "<ul><li>one</li><li>two <code>x</code></li></ul>",
      "<ol><li>a</li><li>b</li></ol>",
    ].join("\n"),
  );
  assert.equal(markdown("```rust\nfn a() -> **b** {}\n```\nafter"), '<pre><code class="language-rust">fn a() -&gt; **b** {}</code></pre>\n<p>after</p>');
  // Still streaming: an open fence runs to the end.
  assert.equal(markdown("Look:\n```\nlet x = 1;"), "<p>Look:</p>\n<pre><code>let x = 1;</code></pre>");
  // Not markup: a lone star, snake_case, links.
  assert.equal(markdown("a * b, snake_case_name, [x](javascript:alert(1))"), "<p>a * b, snake_case_name, [x](javascript:alert(1))</p>");
});

test("the page: a strict CSP with one nonce, nothing remote, the script the only script", () => {
  const html = page("n0nce", "vscode-webview://source");
  const csp = /<meta http-equiv="Content-Security-Policy" content="([^"]*)">/.exec(html)?.[1];
  assert.equal(
    csp,
    "default-src 'none'; style-src vscode-webview://source 'nonce-n0nce'; script-src 'nonce-n0nce'",
  );
  assert.deepEqual(html.match(/<script[^>]*>/g), ['<script nonce="n0nce">']);
  assert.deepEqual(html.match(/<style[^>]*>/g), ['<style nonce="n0nce">']);
  assert.doesNotMatch(html, /https?:\/\//);
  assert.doesNotMatch(html, /\son\w+=/, "no inline event handlers, which the CSP would block");
  for (const id of ["transcript", "input", "send", "stop", "undo", "new-session", "sessions"]) {
    assert.match(html, new RegExp(`id="${id}"`), id);
  }
});

class FakeChatHost implements ChatHost {
  sent: { command: string; args: unknown[] }[] = [];
  opened: { uri: string; line: number | undefined }[] = [];
  picks: SessionPick[][] = [];
  pick: (items: SessionPick[]) => SessionPick | undefined = () => undefined;
  infos: string[] = [];
  errors: string[] = [];
  refreshes = 0;
  answers = new Map<string, unknown>();
  refuse: string | undefined = undefined;

  async executeCommand(command: string, args: unknown[]): Promise<unknown> {
    this.sent.push({ command, args });
    if (this.refuse !== undefined) {
      throw new Error(this.refuse);
    }
    return this.answers.get(command) ?? null;
  }
  async open(uri: string, line: number | undefined): Promise<void> {
    this.opened.push({ uri, line });
  }
  async pickSession(items: SessionPick[]): Promise<SessionPick | undefined> {
    this.picks.push(items);
    return this.pick(items);
  }
  showInfo(message: string): void {
    this.infos.push(message);
  }
  showError(message: string): void {
    this.errors.push(message);
  }
  refreshStatus(): void {
    this.refreshes += 1;
  }
  root(): string | undefined {
    return "file:///w";
  }
}

function chatWithView(): { host: FakeChatHost; chat: ChatView; posted: ToWebview[] } {
  const host = new FakeChatHost();
  const chat = new ChatView(host);
  const posted: ToWebview[] = [];
  chat.attach((message) => posted.push(message));
  return { host, chat, posted };
}

function lastRender(posted: ToWebview[]) {
  const renders = posted.filter((message) => message.type === "render");
  const last = renders[renders.length - 1];
  assert.ok(last !== undefined && last.type === "render", "nothing rendered");
  return last;
}

test("the input box sends meshls.ask with its text; a refusal puts the text back", async () => {
  const { host, chat, posted } = chatWithView();
  await chat.receive({ type: "ask", text: "Now add tests" });
  await chat.receive({ type: "ask", text: "   " });
  assert.deepEqual(host.sent, [{ command: "meshls.ask", args: ["Now add tests"] }]);
  assert.equal(host.refreshes, 1);

  host.refuse = "the agent is already working in session s1";
  await chat.receive({ type: "ask", text: "And docs" });
  assert.deepEqual(posted, [{ type: "restore", text: "And docs" }]);
  assert.deepEqual(host.errors, ["meshls: the agent is already working in session s1"]);
});

test("Stop sends meshls.cancel, and says so when nothing was going", async () => {
  const { host, chat } = chatWithView();
  host.answers.set("meshls.cancel", { cancelled: 1 });
  await chat.receive({ type: "stop" });
  host.answers.set("meshls.cancel", { cancelled: 0 });
  await chat.receive({ type: "stop" });
  assert.deepEqual(host.sent, [
    { command: "meshls.cancel", args: [] },
    { command: "meshls.cancel", args: [] },
  ]);
  assert.deepEqual(host.infos, ["meshls: no agent run to cancel."]);
});

test("Undo run sends meshls.undoRun with the latest undoable run and shows the answer", async () => {
  const { host, chat, posted } = chatWithView();
  await chat.receive({ type: "undo" });
  assert.deepEqual(host.sent, []);
  assert.deepEqual(host.infos, ["meshls: no run to undo."]);

  const first = runOf(chat.model, "run-a");
  first("start", { instruction: "A", action: "ask" });
  first("end", end());
  const second = runOf(chat.model, "run-b");
  second("start", { instruction: "B", action: "ask" });
  second("end", end({ undo: false }));
  host.answers.set("meshls.undoRun", {
    run: "run-a",
    undone: true,
    restored: ["src/lib.rs"],
    deleted: [],
    left: [],
    message: "Restored src/lib.rs.",
  });
  // What the webview says about the run does not count: the model decides.
  await chat.receive({ type: "undo", run: "run-b" });
  assert.deepEqual(host.sent, [{ command: "meshls.undoRun", args: [{ run: "run-a" }] }]);
  const shown = lastRender(posted);
  assert.match(shown.html, /Restored src\/lib\.rs\./);
  assert.equal(shown.undo, undefined);
});

test("New session empties the view; Sessions opens the chosen one's transcript", async () => {
  const { host, chat, posted } = chatWithView();
  runOf(chat.model, "r1")("start", { instruction: "old", action: "ask" });
  host.answers.set("meshls.newSession", { session: "s2" });
  await chat.receive({ type: "newSession" });
  assert.equal(chat.model.session, "s2");
  assert.match(lastRender(posted).html, /No agent run yet/);

  host.answers.set("meshls.sessions", [
    { id: "s2", title: "", started: "2025-01-02T10:00:00Z", updated: "2025-01-02T10:00:00Z", runs: 0, tokens: { input: 0, output: 0 }, cost: 0, state: "idle" },
    { id: "s1", title: "Make it async", updated: "2025-01-01T09:00:00Z", runs: 3, tokens: { input: 1000, output: 200 }, cost: 0.5, state: "idle" },
  ]);
  host.pick = (items) => items[1];
  await chat.receive({ type: "sessions" });
  assert.deepEqual(host.picks[0], [
    { id: "s2", label: "(no title)", description: "0 runs · 0 tokens · $0.0000", detail: "current · idle · updated 2025-01-02T10:00:00Z · s2" },
    { id: "s1", label: "Make it async", description: "3 runs · 1200 tokens · $0.5000", detail: "idle · updated 2025-01-01T09:00:00Z · s1" },
  ]);
  assert.deepEqual(host.sent.slice(-2), [
    { command: "meshls.sessions", args: [] },
    { command: "meshls.showSession", args: ["s1"] },
  ]);

  host.pick = () => undefined;
  await chat.receive({ type: "sessions" });
  assert.equal(host.sent[host.sent.length - 1]?.command, "meshls.sessions");
  assert.deepEqual(sessionPicks("nonsense", undefined), []);
});

test("a link opens only a file the transcript shows; ready renders it all again", async () => {
  const { host, chat, posted } = chatWithView();
  const send = runOf(chat.model, "r1");
  send("start", { instruction: "Fix", action: "ask" });
  send("edit", { uri: "file:///w/src/lib.rs", summary: "line 3" });
  await chat.receive({ type: "open", uri: "file:///w/src/lib.rs", line: 3 });
  await chat.receive({ type: "open", uri: "file:///etc/passwd", line: 1 });
  await chat.receive({ type: "open", uri: "command:workbench.action.quit" });
  await chat.receive({ type: "nonsense" });
  await chat.receive("ask");
  assert.deepEqual(host.opened, [{ uri: "file:///w/src/lib.rs", line: 3 }]);
  assert.deepEqual(host.sent, []);

  await chat.receive({ type: "ready" });
  const shown = lastRender(posted);
  assert.match(shown.html, /src\/lib\.rs<\/a>, line 3/);
  assert.equal(shown.running, true);
});

test("events render as they come while a view shows the chat, and not after it is gone", () => {
  const host = new FakeChatHost();
  const chat = new ChatView(host);
  const posted: ToWebview[] = [];
  const detach = chat.attach((message) => posted.push(message));
  chat.runEvent({ session: "s1", run: "r1", seq: 0, kind: "start", instruction: "Go", action: "ask" });
  chat.runEvent({ session: "s1", run: "r1", seq: 0, kind: "start", instruction: "Go", action: "ask" });
  assert.equal(posted.length, 1, "a duplicate changes nothing");
  detach();
  chat.runEvent({ session: "s1", run: "r1", seq: 1, kind: "text", text: "hidden" });
  assert.equal(posted.length, 1);
  // The model kept it for the next view.
  assert.deepEqual(chat.model.runs[0]?.entries, [{ kind: "text", text: "hidden" }]);
});

/** An element of the fake DOM the page's script runs against. */
class FakeElement {
  value = "";
  disabled = false;
  title = "";
  innerHTML = "";
  scrollTop = 0;
  scrollHeight = 0;
  clientHeight = 0;
  private readonly listeners = new Map<string, ((event: unknown) => void)[]>();
  addEventListener(type: string, listener: (event: unknown) => void): void {
    this.listeners.set(type, [...(this.listeners.get(type) ?? []), listener]);
  }
  querySelectorAll(): FakeElement[] {
    return [];
  }
  /** Fires an event; whether a listener called preventDefault(). */
  fire(type: string, event: Record<string, unknown> = {}): boolean {
    let prevented = false;
    for (const listener of this.listeners.get(type) ?? []) {
      listener({ ...event, preventDefault: () => (prevented = true) });
    }
    return prevented;
  }
}

function runPage(saved?: unknown) {
  const ids = ["transcript", "input", "send", "stop", "undo", "new-session", "sessions"];
  const elements = Object.fromEntries(ids.map((id) => [id, new FakeElement()]));
  const window = new FakeElement();
  const posted: unknown[] = [];
  let state = saved;
  const api = {
    postMessage: (message: unknown) => posted.push(message),
    getState: () => state,
    setState: (value: unknown) => {
      state = value;
    },
  };
  runInNewContext(SCRIPT, {
    acquireVsCodeApi: () => api,
    document: { getElementById: (id: string) => elements[id] ?? null },
    window,
  });
  const element = (id: string): FakeElement => {
    const found = elements[id];
    assert.ok(found !== undefined, id);
    return found;
  };
  // Objects made by the script have the context's prototypes: compared as data.
  const data = (value: unknown): unknown => (value === undefined ? undefined : JSON.parse(JSON.stringify(value)));
  return { element, window, posted: () => data(posted) as unknown[], state: () => data(state) };
}

test("the page's script: Enter and Send post the instruction, the buttons theirs, links open", () => {
  const view = runPage({ draft: "kept while hidden" });
  assert.deepEqual(view.posted(), [{ type: "ready" }]);
  const input = view.element("input");
  assert.equal(input.value, "kept while hidden");

  input.value = "Add a test";
  assert.equal(input.fire("keydown", { key: "Enter", shiftKey: true }), false, "Shift+Enter is a new line");
  assert.equal(input.fire("keydown", { key: "Enter", shiftKey: false }), true);
  assert.equal(input.value, "");
  assert.deepEqual(view.state(), { draft: "" });
  input.value = "  ";
  view.element("send").fire("click");
  input.value = "Then docs";
  view.element("send").fire("click");
  view.element("stop").fire("click");
  view.element("undo").fire("click");
  view.element("new-session").fire("click");
  view.element("sessions").fire("click");
  const link = { getAttribute: (name: string) => ({ "data-uri": "file:///w/a.rs", "data-line": "3" })[name] ?? null };
  view.element("transcript").fire("click", { target: { closest: () => link } });
  assert.deepEqual(view.posted().slice(1), [
    { type: "ask", text: "Add a test" },
    { type: "ask", text: "Then docs" },
    { type: "stop" },
    { type: "undo" },
    { type: "newSession" },
    { type: "sessions" },
    { type: "open", uri: "file:///w/a.rs", line: 3 },
  ]);
});

test("the page's script shows what the extension renders, and takes a refused instruction back", () => {
  const view = runPage();
  view.window.fire("message", { data: { type: "render", html: "<p>hi</p>", running: true, undo: undefined } });
  assert.equal(view.element("transcript").innerHTML, "<p>hi</p>");
  assert.equal(view.element("stop").disabled, false);
  assert.equal(view.element("undo").disabled, true);
  view.window.fire("message", { data: { type: "render", html: "", running: false, undo: { run: "r1", instruction: "Fix it" } } });
  assert.equal(view.element("stop").disabled, true);
  assert.equal(view.element("undo").disabled, false);
  assert.equal(view.element("undo").title, "Undo: Fix it");
  view.window.fire("message", { data: { type: "restore", text: "And docs" } });
  assert.equal(view.element("input").value, "And docs");
});
