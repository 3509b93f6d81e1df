// The status-bar item's text and tooltip from the answer of `meshls.status`.
// Pure: the answer comes from the server, so every field is checked before
// it is used, and a missing one shows as unknown rather than throwing.

import { arr, field, isObject, num, str } from "./json";

/** What the status-bar item shows. */
export interface StatusView {
  text: string;
  tooltip: string;
  /** A language server failed or did not start: the item is highlighted. */
  warning: boolean;
}

const CLICK = "Click for the full status.";

/** The item while meshls starts. */
export function startingView(): StatusView {
  return { text: "$(sync~spin) meshls", tooltip: "meshls is starting.", warning: false };
}

/** The item while meshls is not running (not started yet, or failed to start). */
export function notRunningView(reason?: string): StatusView {
  const lines = ["meshls is not running."];
  if (reason !== undefined) {
    lines.push(reason);
  }
  lines.push("Run \"meshls: Restart server\" to start it.");
  return { text: "$(circle-slash) meshls", tooltip: lines.join("\n"), warning: true };
}

/** The item when meshls runs but its status could not be had. */
export function errorView(message: string): StatusView {
  return { text: "$(warning) meshls", tooltip: `meshls.status failed: ${message}\n${CLICK}`, warning: true };
}

/** The item for the answer of `meshls.status` (`{servers, agent}`). */
export function statusView(status: unknown): StatusView {
  const agent = field(status, "agent");
  const model = field(agent, "model");
  const modelName = str(field(model, "model")) ?? "unknown model";
  const session = field(agent, "session");
  const running = field(session, "running") === true;
  const usage = field(session, "usage");
  const tokens = (num(field(usage, "input_tokens")) ?? 0) + (num(field(usage, "output_tokens")) ?? 0);

  const servers = arr(field(status, "servers"));
  const troubled = servers.filter((server) => {
    const state = field(server, "state");
    return state === "failed" || state === "notStarted";
  });

  const parts = [`${running ? "$(sync~spin)" : "$(hubot)"} ${modelName}`, running ? "running" : "idle"];
  if (isObject(session)) {
    parts.push(`${formatTokens(tokens)} tokens`);
  }
  const text = (troubled.length > 0 ? "$(warning) " : "") + parts.join(" · ");

  const lines = [
    `meshls agent: ${modelName} (${str(field(model, "provider")) ?? "unknown provider"}) at ${
      str(field(model, "baseUrl")) ?? "unknown endpoint"
    }`,
  ];
  if (isObject(session)) {
    const title = str(field(session, "title"));
    const runs = num(field(session, "runs")) ?? 0;
    const cost = num(field(session, "cost"));
    lines.push(
      `session ${title !== undefined && title !== "" ? `"${title}"` : str(field(session, "id")) ?? ""}: ` +
        `${runs} run(s)${running ? ", one running" : ""}, ` +
        `${num(field(usage, "input_tokens")) ?? 0} tokens in, ${num(field(usage, "output_tokens")) ?? 0} out` +
        (cost !== undefined ? `, $${cost.toFixed(4)}` : ""),
    );
  } else {
    lines.push("no agent session yet");
  }
  if (servers.length === 0) {
    lines.push("no language servers run for this workspace (see `meshls doctor`)");
  } else {
    lines.push("language servers:");
    for (const server of servers) {
      lines.push(`  ${serverLine(server)}`);
    }
  }
  lines.push(CLICK);
  return { text, tooltip: lines.join("\n"), warning: troubled.length > 0 };
}

/** `1234` as `1.2k`, `2500000` as `2.5M`: short enough for a status bar. */
export function formatTokens(tokens: number): string {
  if (tokens < 1000) {
    return String(tokens);
  }
  // Below 999,950 so that rounding never shows "1000k".
  if (tokens < 999_950) {
    return `${trimZero((tokens / 1000).toFixed(1))}k`;
  }
  return `${trimZero((tokens / 1_000_000).toFixed(1))}M`;
}

function serverLine(server: unknown): string {
  const state = str(field(server, "state")) ?? "unknown";
  let line = `${str(field(server, "name")) ?? "?"}: ${state === "notStarted" ? "not started" : state}`;
  const pid = num(field(server, "pid"));
  if (pid !== undefined) {
    line += `, pid ${pid}`;
  }
  const restarts = num(field(server, "restarts")) ?? 0;
  if (restarts > 0) {
    line += `, ${restarts} restart(s)`;
  }
  const error = str(field(server, "lastError"));
  if (error !== undefined) {
    line += `; last error: ${error}`;
  }
  return line;
}

function trimZero(fixed: string): string {
  return fixed.endsWith(".0") ? fixed.slice(0, -2) : fixed;
}
