// The status-bar item from `meshls.status` answers: model, idle or running,
// tokens, and the servers' states in the tooltip.

import assert from "node:assert/strict";
import { test } from "node:test";

import { formatTokens, notRunningView, statusView } from "../status";

const rustAnalyzer = {
  name: "rust-analyzer",
  languages: ["rust"],
  state: "running",
  pid: 4242,
  restarts: 0,
  lastError: null,
  requests: { answered: 10, p50Ms: 1.5, p99Ms: 9.0 },
};

function status(session: unknown, servers: unknown[] = [rustAnalyzer]) {
  return {
    servers,
    agent: { model: { provider: "openai", model: "gpt-4o-mini", baseUrl: "https://api.openai.com/v1" }, session },
  };
}

const session = {
  id: "s1",
  title: "Make parse async",
  runs: 2,
  usage: { input_tokens: 1200, output_tokens: 345 },
  cost: 0.01234,
  running: false,
};

test("idle: the model, idle, and the session's tokens in and out", () => {
  const view = statusView(status(session));
  assert.equal(view.text, "$(hubot) gpt-4o-mini · idle · 1.5k tokens");
  assert.equal(view.warning, false);
  assert.equal(
    view.tooltip,
    [
      "meshls agent: gpt-4o-mini (openai) at https://api.openai.com/v1",
      'session "Make parse async": 2 run(s), 1200 tokens in, 345 out, $0.0123',
      "language servers:",
      "  rust-analyzer: running, pid 4242",
      "Click for the full status.",
    ].join("\n"),
  );
});

test("running: a spinning icon and the word", () => {
  const view = statusView(status({ ...session, running: true }));
  assert.equal(view.text, "$(sync~spin) gpt-4o-mini · running · 1.5k tokens");
  assert.match(view.tooltip, /2 run\(s\), one running,/);
});

test("no session yet: no tokens", () => {
  const view = statusView(status(null));
  assert.equal(view.text, "$(hubot) gpt-4o-mini · idle");
  assert.match(view.tooltip, /^no agent session yet$/m);
});

test("a failed or unstarted server: a warning, and why in the tooltip", () => {
  const view = statusView(
    status(null, [
      rustAnalyzer,
      { name: "pyright", state: "failed", pid: null, restarts: 5, lastError: "exited with code 1" },
      { name: "gopls", state: "notStarted", pid: null, restarts: 0, lastError: "not on PATH" },
      { name: "clangd", state: "restarting", pid: null, restarts: 1, lastError: null },
    ]),
  );
  assert.equal(view.text, "$(warning) $(hubot) gpt-4o-mini · idle");
  assert.equal(view.warning, true);
  const lines = view.tooltip.split("\n");
  assert.ok(lines.includes("  pyright: failed, 5 restart(s); last error: exited with code 1"), view.tooltip);
  assert.ok(lines.includes("  gopls: not started; last error: not on PATH"), view.tooltip);
  assert.ok(lines.includes("  clangd: restarting, 1 restart(s)"), view.tooltip);
});

test("a server that did not start is a warning on its own", () => {
  const view = statusView(status(null, [{ ...rustAnalyzer, state: "notStarted", pid: null }]));
  assert.equal(view.warning, true);
  assert.equal(view.text, "$(warning) $(hubot) gpt-4o-mini · idle");
});

test("a restarting server alone is no warning", () => {
  const view = statusView(status(null, [{ ...rustAnalyzer, state: "restarting", pid: null }]));
  assert.equal(view.warning, false);
  assert.equal(view.text, "$(hubot) gpt-4o-mini · idle");
});

test("no servers, and answers missing fields, still show", () => {
  assert.match(statusView(status(null, [])).tooltip, /no language servers run for this workspace/);
  const view = statusView(null);
  assert.equal(view.text, "$(hubot) unknown model · idle");
  assert.match(notRunningView("spawn meshls ENOENT").tooltip, /spawn meshls ENOENT/);
  assert.equal(notRunningView().text, "$(circle-slash) meshls");
});

test("token counts are short", () => {
  const cases: [number, string][] = [
    [0, "0"],
    [999, "999"],
    [1000, "1k"],
    [1545, "1.5k"],
    [999_949, "999.9k"],
    [999_950, "1M"],
    [2_500_000, "2.5M"],
  ];
  for (const [tokens, text] of cases) {
    assert.equal(formatTokens(tokens), text, String(tokens));
  }
});
