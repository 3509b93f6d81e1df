// The chat view's HTML: the page the webview loads once (strict CSP, one
// nonce for its style and script, nothing remote) and the transcript it
// shows, rendered from the model on every change. Everything from meshls
// or the model is escaped; the page's script is the only script.

import { ChatModel, Entry, Run, summaryLine } from "./chat";
import { escapeHtml, markdown } from "./markdown";
import { formatTokens } from "./status";

/** What the extension posts to the webview after every change. */
export interface RenderMessage {
  type: "render";
  /** The transcript. */
  html: string;
  /** A run is under way: Stop is on. */
  running: boolean;
  /** The run "Undo run" takes back, if any. */
  undo: { run: string; instruction: string } | undefined;
}

/** The render message for the model. `root` is the workspace root's URI, for short file names. */
export function renderMessage(model: ChatModel, root?: string): RenderMessage {
  const undoable = model.undoable();
  return {
    type: "render",
    html: render(model, root),
    running: model.running(),
    undo: undoable === undefined ? undefined : { run: undoable.id, instruction: undoable.instruction },
  };
}

/** The transcript of the model's session, as HTML. */
export function render(model: ChatModel, root?: string): string {
  if (model.runs.length === 0) {
    return (
      '<p class="empty">No agent run yet in this window. Ask below, or with "meshls: Ask agent" ' +
      "or a code action; each run shows here as it goes.</p>"
    );
  }
  return model.runs.map((run, index) => renderRun(run, index, root)).join("\n");
}

function renderRun(run: Run, index: number, root: string | undefined): string {
  const parts: string[] = [];
  const action = run.action === "ask" ? "" : `<span class="action">${escapeHtml(run.action)}</span> `;
  parts.push(`<header class="instruction">${action}${escapeHtml(run.instruction)}</header>`);
  for (let i = 0; i < run.entries.length; i++) {
    const entry = run.entries[i];
    if (entry === undefined) {
      continue;
    }
    if (entry.kind === "tool") {
      // A run's consecutive tool calls fold into one line.
      const tools: Extract<Entry, { kind: "tool" }>[] = [];
      let j = i;
      for (let next = run.entries[j]; next?.kind === "tool"; next = run.entries[++j]) {
        tools.push(next);
      }
      parts.push(renderTools(tools, `${index}:${i}`));
      i = j - 1;
      continue;
    }
    parts.push(renderEntry(entry, root));
  }
  if (run.end === undefined) {
    parts.push('<p class="running">Working…</p>');
  } else {
    parts.push(renderEnd(run));
  }
  return `<article class="run">\n${parts.join("\n")}\n</article>`;
}

function renderTools(tools: Extract<Entry, { kind: "tool" }>[], key: string): string {
  const going = tools.filter((tool) => tool.outcome === undefined).length;
  const failed = tools.filter((tool) => tool.outcome !== undefined && tool.outcome !== "ok").length;
  const names = [...new Set(tools.map((tool) => tool.name))].join(", ");
  let summary = `${tools.length} tool call${tools.length === 1 ? "" : "s"}: ${names}`;
  if (going > 0) {
    summary += ` (${going} going)`;
  } else if (failed > 0) {
    summary += ` (${failed} failed)`;
  }
  const items = tools.map((tool) => {
    const outcome = tool.outcome ?? "going";
    const state = tool.outcome === undefined ? "going" : tool.outcome === "ok" ? "ok" : "failed";
    const about = tool.about === "" ? "" : ` ${escapeHtml(tool.about)}`;
    return `<li class="${state}"><code>${escapeHtml(tool.name)}</code>${about} — ${escapeHtml(outcome)}</li>`;
  });
  return (
    `<details class="tools" data-key="${escapeHtml(key)}"><summary>${escapeHtml(summary)}</summary>` +
    `<ul>${items.join("")}</ul></details>`
  );
}

function renderEntry(entry: Entry, root: string | undefined): string {
  switch (entry.kind) {
    case "text":
      return `<div class="answer">${markdown(entry.text)}</div>`;
    case "tool":
      return renderTools([entry], "");
    case "edit": {
      const link = fileLink(entry.uri, summaryLine(entry.summary), label(entry.uri, root));
      return entry.summary === "created"
        ? `<p class="edit">Created ${link}</p>`
        : `<p class="edit">Edited ${link}, ${escapeHtml(entry.summary)}</p>`;
    }
    case "diagnostics": {
      if (entry.errors.length === 0) {
        return '<p class="diagnostics clean">No errors after the edits.</p>';
      }
      const items = entry.errors.map((error) => {
        const link = fileLink(error.uri, error.line, `${label(error.uri, root)}:${error.line}`);
        const source = error.source === "" ? "" : `${escapeHtml(error.source)}: `;
        return `<li>${link} ${source}${escapeHtml(error.message)}</li>`;
      });
      const count = entry.errors.length === 1 ? "1 error" : `${entry.errors.length} errors`;
      return `<div class="diagnostics"><p>${count} after the edits:</p><ul>${items.join("")}</ul></div>`;
    }
    case "approval":
      return `<p class="approval">Asked: ${escapeHtml(entry.asked)} — <strong>${escapeHtml(entry.answer)}</strong></p>`;
    case "undo": {
      const left = entry.left.map((item) => `<li>${escapeHtml(item.file)}: ${escapeHtml(item.why)}</li>`);
      const list = left.length === 0 ? "" : `<ul>${left.join("")}</ul>`;
      const message = entry.message !== "" ? entry.message : entry.undone ? "Undone." : "Not undone.";
      return `<div class="undo ${entry.undone ? "done" : "unchanged"}"><p>${escapeHtml(message)}</p>${list}</div>`;
    }
  }
}

function renderEnd(run: Run): string {
  const end = run.end;
  if (end === undefined) {
    return "";
  }
  const parts = [escapeHtml(end.outcome === "" ? "ended" : end.outcome)];
  parts.push(`${formatTokens(end.tokens.input)} tokens in, ${formatTokens(end.tokens.output)} out`);
  if (end.cost !== undefined) {
    parts.push(`$${end.cost.toFixed(4)}`);
  }
  if (end.files.length > 0) {
    parts.push(`changed ${end.files.map(escapeHtml).join(", ")}`);
  }
  if (run.undone) {
    parts.push("undone");
  }
  return `<footer class="end">${parts.join(" · ")}</footer>`;
}

/** A link the page's script turns into an "open" message. */
function fileLink(uri: string, line: number | undefined, text: string): string {
  const at = line === undefined ? "" : ` data-line="${line}"`;
  return `<a href="#" data-uri="${escapeHtml(uri)}"${at}>${escapeHtml(text)}</a>`;
}

/** A file's name as the user knows it: relative to the root when inside it. */
export function label(uri: string, root: string | undefined): string {
  const base = root?.replace(/\/+$/, "");
  let rest = uri;
  if (base !== undefined && uri.startsWith(`${base}/`)) {
    rest = uri.slice(base.length + 1);
  } else if (uri.startsWith("file://")) {
    rest = uri.slice("file://".length);
  }
  try {
    return decodeURIComponent(rest);
  } catch {
    return rest;
  }
}

/** The page the webview loads once; the transcript comes in render messages. */
export function page(nonce: string, cspSource: string): string {
  const csp = [
    "default-src 'none'",
    `style-src ${cspSource} 'nonce-${nonce}'`,
    `script-src 'nonce-${nonce}'`,
  ].join("; ");
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<title>meshls</title>
<style nonce="${nonce}">${STYLE}</style>
</head>
<body>
<nav id="toolbar">
<button id="stop" type="button" disabled title="Cancel the run under way (meshls.cancel)">Stop</button>
<button id="undo" type="button" disabled title="No run to undo">Undo run</button>
<button id="new-session" type="button" title="Start a new conversation (meshls.newSession)">New session</button>
<button id="sessions" type="button" title="Open the transcript of a session">Sessions</button>
</nav>
<main id="transcript" aria-live="polite"></main>
<div id="composer">
<textarea id="input" rows="3" aria-label="Instruction" placeholder="Ask the agent; it continues the session. Enter sends, Shift+Enter starts a new line."></textarea>
<button id="send" type="button">Send</button>
</div>
<script nonce="${nonce}">${SCRIPT}</script>
</body>
</html>
`;
}

const STYLE = `
html, body { height: 100%; margin: 0; padding: 0; }
body { display: flex; flex-direction: column; color: var(--vscode-foreground); font-family: var(--vscode-font-family); font-size: var(--vscode-font-size); }
#toolbar { display: flex; flex-wrap: wrap; gap: 4px; padding: 6px 8px; border-bottom: 1px solid var(--vscode-panel-border, transparent); }
#transcript { flex: 1; overflow-y: auto; padding: 0 8px; }
#composer { display: flex; gap: 4px; padding: 6px 8px; border-top: 1px solid var(--vscode-panel-border, transparent); }
#input { flex: 1; resize: vertical; font-family: inherit; font-size: inherit; color: var(--vscode-input-foreground); background: var(--vscode-input-background); border: 1px solid var(--vscode-input-border, transparent); padding: 4px; }
button { color: var(--vscode-button-foreground); background: var(--vscode-button-background); border: none; padding: 3px 8px; cursor: pointer; }
button:hover { background: var(--vscode-button-hoverBackground); }
button:disabled { opacity: 0.5; cursor: default; }
#toolbar button { color: var(--vscode-button-secondaryForeground); background: var(--vscode-button-secondaryBackground); }
.run { padding: 8px 0; border-bottom: 1px solid var(--vscode-panel-border, transparent); }
.instruction { white-space: pre-wrap; font-weight: 600; padding: 4px 6px; background: var(--vscode-textBlockQuote-background); border-left: 3px solid var(--vscode-textLink-foreground); }
.action { font-weight: normal; font-size: 0.85em; padding: 0 4px; border-radius: 3px; background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); }
.answer pre { overflow-x: auto; padding: 6px; background: var(--vscode-textCodeBlock-background); }
code { font-family: var(--vscode-editor-font-family); }
.tools summary { cursor: pointer; color: var(--vscode-descriptionForeground); }
.tools ul, .diagnostics ul, .undo ul { margin: 2px 0; padding-left: 18px; }
.tools li.failed, .diagnostics { color: var(--vscode-errorForeground); }
.edit, .approval, .running, .end, .empty, .undo.unchanged { color: var(--vscode-descriptionForeground); }
.diagnostics.clean { color: var(--vscode-descriptionForeground); }
a { color: var(--vscode-textLink-foreground); }
.end { font-size: 0.9em; margin-top: 4px; }
`;

/**
 * The page's script: sends the user's clicks and instructions to the
 * extension, and shows what it renders. Kept in the webview's state: the
 * instruction being written, so hiding the view loses nothing.
 */
export const SCRIPT = `
(function () {
  "use strict";
  const vscode = acquireVsCodeApi();
  const transcript = document.getElementById("transcript");
  const input = document.getElementById("input");
  const button = (id) => document.getElementById(id);
  const post = (message) => vscode.postMessage(message);
  const keep = () => vscode.setState({ draft: input.value });
  const saved = vscode.getState();
  if (saved && typeof saved.draft === "string") {
    input.value = saved.draft;
  }
  const ask = () => {
    const text = input.value;
    if (text.trim() === "") {
      return;
    }
    post({ type: "ask", text: text });
    input.value = "";
    keep();
  };
  button("send").addEventListener("click", ask);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      ask();
    }
  });
  input.addEventListener("input", keep);
  button("stop").addEventListener("click", () => post({ type: "stop" }));
  button("undo").addEventListener("click", () => post({ type: "undo" }));
  button("new-session").addEventListener("click", () => post({ type: "newSession" }));
  button("sessions").addEventListener("click", () => post({ type: "sessions" }));
  transcript.addEventListener("click", (event) => {
    const link = event.target && event.target.closest ? event.target.closest("[data-uri]") : null;
    if (link) {
      event.preventDefault();
      const line = Number(link.getAttribute("data-line"));
      post({ type: "open", uri: link.getAttribute("data-uri"), line: line > 0 ? line : undefined });
    }
  });
  window.addEventListener("message", (event) => {
    const message = event.data;
    if (message && message.type === "render") {
      const open = new Set();
      for (const details of transcript.querySelectorAll("details[open]")) {
        open.add(details.getAttribute("data-key"));
      }
      const follow = transcript.scrollHeight - transcript.scrollTop - transcript.clientHeight < 40;
      transcript.innerHTML = message.html;
      for (const details of transcript.querySelectorAll("details[data-key]")) {
        details.open = open.has(details.getAttribute("data-key"));
      }
      if (follow) {
        transcript.scrollTop = transcript.scrollHeight;
      }
      button("stop").disabled = !message.running;
      button("undo").disabled = !message.undo;
      button("undo").title = message.undo ? "Undo: " + message.undo.instruction : "No run to undo";
    } else if (message && message.type === "restore" && input.value === "") {
      input.value = message.text;
      keep();
    }
  });
  post({ type: "ready" });
})();
`;
