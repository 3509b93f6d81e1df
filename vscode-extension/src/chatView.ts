// The chat view's logic: run events into the model, the model to the
// webview, and the webview's messages (an instruction, Stop, Undo run, New
// session, Sessions, a file to open) to meshls's commands. It talks to a
// small `ChatHost`, which extension.ts backs with VS Code and the language
// client, and tests with fakes. The model lives here, not in the webview,
// so a view that was hidden or closed shows it all again when it comes
// back.

import { ChatModel } from "./chat";
import { RenderMessage, renderMessage } from "./chatHtml";
import { SERVER_COMMANDS, errorMessage } from "./commands";

/** One of meshls's sessions, as the Sessions quick pick shows it. */
export interface SessionPick {
  id: string;
  label: string;
  description: string;
  detail: string;
}

/** What the chat view needs from VS Code and the language client. */
export interface ChatHost {
  /** Sends `workspace/executeCommand` to meshls; its result. */
  executeCommand(command: string, args: unknown[]): Promise<unknown>;
  /** Opens a file at a line (from 1). */
  open(uri: string, line: number | undefined): Promise<void>;
  /** Lets the user choose a session; `undefined` when dismissed. */
  pickSession(items: SessionPick[]): Promise<SessionPick | undefined>;
  showInfo(message: string): void;
  showError(message: string): void;
  /** Asks meshls for its status again soon (a run started). */
  refreshStatus(): void;
  /** The workspace root's URI, for short file names. */
  root(): string | undefined;
}

/** What the extension posts to the webview. */
export type ToWebview = RenderMessage | { type: "restore"; text: string };

/** What the webview posts, checked. */
export type FromWebview =
  | { type: "ready" | "stop" | "undo" | "newSession" | "sessions" }
  | { type: "ask"; text: string }
  | { type: "open"; uri: string; line: number | undefined };

/** The message the webview posted, or `undefined` when it is none of them. */
export function parseMessage(message: unknown): FromWebview | undefined {
  if (typeof message !== "object" || message === null) {
    return undefined;
  }
  const { type, text, uri, line } = message as Record<string, unknown>;
  switch (type) {
    case "ready":
    case "stop":
    case "undo":
    case "newSession":
    case "sessions":
      return { type };
    case "ask":
      return typeof text === "string" ? { type, text } : undefined;
    case "open":
      if (typeof uri !== "string") {
        return undefined;
      }
      return {
        type,
        uri,
        line: typeof line === "number" && Number.isInteger(line) && line > 0 ? line : undefined,
      };
    default:
      return undefined;
  }
}

export class ChatView {
  readonly model = new ChatModel();
  /** Posts to the webview while one shows the chat. */
  private post: ((message: ToWebview) => void) | undefined;

  constructor(private readonly host: ChatHost) {}

  /**
   * A webview shows the chat now; it asks for the transcript with `ready`.
   * Returns what to call when that webview is gone.
   */
  attach(post: (message: ToWebview) => void): () => void {
    this.post = post;
    return () => {
      // A later webview may have taken its place.
      if (this.post === post) {
        this.post = undefined;
      }
    };
  }

  /** A `meshls/runEvent` from meshls. */
  runEvent(params: unknown): void {
    if (this.model.apply(params)) {
      this.update();
    }
  }

  /** meshls stopped: the runs it had going end here. */
  stopped(): void {
    if (this.model.stopped()) {
      this.update();
    }
  }

  /** A message from the webview; a failure becomes one error message. */
  async receive(raw: unknown): Promise<void> {
    const message = parseMessage(raw);
    if (message === undefined) {
      return;
    }
    try {
      switch (message.type) {
        case "ready":
          return this.update();
        case "ask":
          return await this.ask(message.text);
        case "stop":
          return await this.stop();
        case "undo":
          return await this.undo();
        case "newSession":
          return await this.newSession();
        case "sessions":
          return await this.sessions();
        case "open":
          return await this.open(message.uri, message.line);
      }
    } catch (error) {
      this.host.showError(`meshls: ${errorMessage(error)}`);
    }
  }

  private async ask(text: string): Promise<void> {
    if (text.trim() === "") {
      return;
    }
    try {
      // The instruction alone: a follow-up continues the session, about
      // whatever it was about. "meshls: Ask agent" sends where you are.
      await this.host.executeCommand(SERVER_COMMANDS.ask, [text]);
    } catch (error) {
      // Refused (a run is going): the instruction goes back in the box.
      this.post?.({ type: "restore", text });
      throw error;
    }
    this.host.refreshStatus();
  }

  private async stop(): Promise<void> {
    const answer = await this.host.executeCommand(SERVER_COMMANDS.cancel, []);
    if (typeof answer === "object" && answer !== null && (answer as { cancelled?: unknown }).cancelled === 0) {
      this.host.showInfo("meshls: no agent run to cancel.");
    }
  }

  private async undo(): Promise<void> {
    // The run comes from the model, never from the webview.
    const run = this.model.undoable();
    if (run === undefined) {
      this.host.showInfo("meshls: no run to undo.");
      return;
    }
    const answer = await this.host.executeCommand(SERVER_COMMANDS.undoRun, [{ run: run.id }]);
    if (this.model.undoAnswered(answer) === undefined) {
      const message = typeof answer === "object" && answer !== null ? (answer as { message?: unknown }).message : undefined;
      this.host.showInfo(`meshls: ${typeof message === "string" ? message : "the run was not undone"}`);
    }
    this.update();
  }

  private async newSession(): Promise<void> {
    const answer = await this.host.executeCommand(SERVER_COMMANDS.newSession, []);
    const session = typeof answer === "object" && answer !== null ? (answer as { session?: unknown }).session : undefined;
    this.model.newSession(typeof session === "string" ? session : undefined);
    this.update();
  }

  private async sessions(): Promise<void> {
    const answer = await this.host.executeCommand(SERVER_COMMANDS.sessions, []);
    const items = sessionPicks(answer, this.model.session);
    if (items.length === 0) {
      this.host.showInfo("meshls: no agent session yet.");
      return;
    }
    const chosen = await this.host.pickSession(items);
    if (chosen !== undefined) {
      await this.host.executeCommand(SERVER_COMMANDS.showSession, [chosen.id]);
    }
  }

  private async open(uri: string, line: number | undefined): Promise<void> {
    // Only the files the transcript links to: a message names any URI.
    if (!uri.startsWith("file:") || !this.model.shows(uri)) {
      return;
    }
    await this.host.open(uri, line);
  }

  private update(): void {
    this.post?.(renderMessage(this.model, this.host.root()));
  }
}

/** The answer of `meshls.sessions` as quick-pick items, newest first as sent. */
export function sessionPicks(answer: unknown, current: string | undefined): SessionPick[] {
  if (!Array.isArray(answer)) {
    return [];
  }
  return answer.flatMap((session): SessionPick[] => {
    if (typeof session !== "object" || session === null) {
      return [];
    }
    const { id, title, updated, runs, tokens, cost, state } = session as Record<string, unknown>;
    if (typeof id !== "string") {
      return [];
    }
    const description: string[] = [];
    if (typeof runs === "number") {
      description.push(`${runs} run${runs === 1 ? "" : "s"}`);
    }
    if (typeof tokens === "object" && tokens !== null) {
      const { input, output } = tokens as Record<string, unknown>;
      const total = (typeof input === "number" ? input : 0) + (typeof output === "number" ? output : 0);
      description.push(`${total} tokens`);
    }
    if (typeof cost === "number" && Number.isFinite(cost)) {
      description.push(`$${cost.toFixed(4)}`);
    }
    const detail: string[] = [];
    if (id === current) {
      detail.push("current");
    }
    if (typeof state === "string" && state !== "") {
      detail.push(state);
    }
    if (typeof updated === "string" && updated !== "") {
      detail.push(`updated ${updated}`);
    }
    detail.push(id);
    return [
      {
        id,
        label: typeof title === "string" && title.trim() !== "" ? title : "(no title)",
        description: description.join(" · "),
        detail: detail.join(" · "),
      },
    ];
  });
}
