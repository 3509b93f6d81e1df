// The extension's own commands: what each one sends to meshls. The handlers
// talk to a small `CommandHost`, which extension.ts backs with VS Code and
// the language client, and tests with fakes.
//
// The ids are `meshls.client.*`, never meshls's own command ids:
// vscode-languageclient registers in VS Code every command the server
// advertises (`meshls.ask`, `meshls.status`, ...), and VS Code refuses a
// second command with the same id. `meshls.chat`, which shows the chat
// view, is the one exception: meshls has no command of that name.

import { isObject } from "./json";

/** meshls's commands (`workspace/executeCommand`). */
export const SERVER_COMMANDS = {
  ask: "meshls.ask",
  cancel: "meshls.cancel",
  review: "meshls.review",
  status: "meshls.status",
  newSession: "meshls.newSession",
  sessions: "meshls.sessions",
  showSession: "meshls.showSession",
  undoRun: "meshls.undoRun",
} as const;

/** An LSP position and range (lines and UTF-16 columns from 0). */
export interface Position {
  line: number;
  character: number;
}
export interface Range {
  start: Position;
  end: Position;
}

/** The active editor's document, as the client names it to meshls, and its selection. */
export interface ActiveLocation {
  uri: string;
  scheme: string;
  range: Range;
}

/** What the commands need from VS Code and the language client. */
export interface CommandHost {
  /** Sends `workspace/executeCommand` to meshls; its result. */
  executeCommand(command: string, args: unknown[]): Promise<unknown>;
  /** Restarts meshls (`LanguageClient.restart()`). */
  restart(): Promise<void>;
  /** Asks the user what the agent should do; `undefined` when dismissed. */
  askInstruction(): Promise<string | undefined>;
  activeLocation(): ActiveLocation | undefined;
  showInfo(message: string): void;
  showError(message: string): void;
  /** Appends to the "meshls" output channel. */
  log(text: string): void;
  /** A fresh answer of `meshls.status`, for the status bar. */
  statusChanged(status: unknown): void;
  /** Asks meshls for its status again soon (a run started or ended). */
  refreshStatus(): void;
  /** Shows the chat view. */
  revealChat(): Promise<void>;
}

export type Handler = (host: CommandHost) => Promise<void>;

/** Extension command id to handler; package.json contributes exactly these. */
export const COMMANDS: Readonly<Record<string, Handler>> = {
  "meshls.client.ask": async (host) => {
    const instruction = await host.askInstruction();
    if (instruction === undefined || instruction.trim() === "") {
      return;
    }
    const here = host.activeLocation();
    const args: unknown[] = [instruction];
    // Where you are, when it is a document meshls knows: not a diff's old
    // side or an output panel.
    if (here !== undefined && (here.scheme === "file" || here.scheme === "untitled")) {
      args.push({ uri: here.uri, range: here.range });
    }
    // The answer is `{session, token}`; the run reports through `$/progress`.
    await host.executeCommand(SERVER_COMMANDS.ask, args);
    host.refreshStatus();
  },

  "meshls.client.cancel": async (host) => {
    const result = await host.executeCommand(SERVER_COMMANDS.cancel, []);
    if (isObject(result) && result.cancelled === 0) {
      host.showInfo("meshls: no agent run to cancel.");
    }
    host.refreshStatus();
  },

  "meshls.client.reviewFile": async (host) => {
    const here = host.activeLocation();
    if (here === undefined) {
      host.showError("meshls: open the file to review first.");
      return;
    }
    if (here.scheme !== "file") {
      // meshls reviews a file on disk: it names it by its path.
      host.showError("meshls: the agent can review only a file saved on disk.");
      return;
    }
    await host.executeCommand(SERVER_COMMANDS.review, [here.uri]);
    host.refreshStatus();
  },

  "meshls.client.showStatus": async (host) => {
    // Without `{"quiet": true}`, meshls shows its own summary.
    const status = await host.executeCommand(SERVER_COMMANDS.status, []);
    host.log(`meshls.status: ${JSON.stringify(status, null, 2)}`);
    host.statusChanged(status);
  },

  "meshls.client.restart": async (host) => {
    await host.restart();
    host.refreshStatus();
  },

  "meshls.client.undoRun": async (host) => {
    // meshls applies the undo as one workspace edit and says what it did
    // (or why nothing was done) in its own message.
    await host.executeCommand(SERVER_COMMANDS.undoRun, []);
    host.refreshStatus();
  },

  "meshls.client.newSession": async (host) => {
    await host.executeCommand(SERVER_COMMANDS.newSession, []);
    host.showInfo("meshls: a new agent session starts with your next question.");
    host.refreshStatus();
  },

  "meshls.chat": async (host) => {
    await host.revealChat();
  },
};

/**
 * Runs one command; a failure (meshls refused, or is not running) becomes
 * one error message instead of an unhandled rejection.
 */
export async function runCommand(id: string, host: CommandHost): Promise<void> {
  const handler = COMMANDS[id];
  if (handler === undefined) {
    host.showError(`meshls: no command ${id}`);
    return;
  }
  try {
    await handler(host);
  } catch (error) {
    host.showError(`meshls: ${errorMessage(error)}`);
  }
}

/** The message of whatever was thrown (an Error, a ResponseError, a string). */
export function errorMessage(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  if (isObject(error) && typeof error.message === "string") {
    return error.message;
  }
  return String(error);
}
