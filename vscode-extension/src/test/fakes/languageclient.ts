// A fake of `vscode-languageclient/node`: it records how the extension
// builds and drives its client, and answers `workspace/executeCommand` as
// a test says. The protocol's message types are the real ones.

import { commands, Disposable, FakeUri } from "./vscode";

export { DidChangeConfigurationNotification, ExecuteCommandRequest } from "vscode-languageserver-protocol";

/** The client's public states, with the real enum's values. */
export enum State {
  Stopped = 1,
  Running = 2,
  Starting = 3,
}

/**
 * The commands meshls advertises in `executeCommandProvider.commands`. The
 * real client registers each one in VS Code, so the fake does too: an
 * extension command with one of these ids would then fail to register.
 */
export const SERVER_ADVERTISED = [
  "meshls.status",
  "meshls.ask",
  "meshls.runAction",
  "meshls.fix",
  "meshls.review",
  "meshls.cancel",
  "meshls.newSession",
];

export interface Sent {
  method: string;
  params: unknown;
}

interface Options {
  initializationOptions?: unknown;
  middleware?: {
    handleWorkDoneProgress?: (token: string, params: { kind: string }, next: () => void) => void;
  };
  [key: string]: unknown;
}

/** Every client the extension made, oldest first, and how they behave. */
export const control = {
  clients: [] as LanguageClient[],
  /** Thrown by `start()`, as the real client rejects when the program is missing. */
  startError: undefined as string | undefined,
  /** Runs after `initialize` is sent and before the client is running. */
  duringStart: undefined as (() => Promise<void>) | undefined,
  /** meshls's answer to each command. */
  answers: new Map<string, unknown>(),
  reset(): void {
    this.clients = [];
    this.startError = undefined;
    this.duringStart = undefined;
    this.answers = new Map();
  },
  last(): LanguageClient {
    const client = this.clients[this.clients.length - 1];
    if (client === undefined) {
      throw new Error("the extension made no client");
    }
    return client;
  },
};

export class LanguageClient {
  state = State.Stopped;
  readonly requests: Sent[] = [];
  readonly notifications: Sent[] = [];
  initializationOptions: unknown = undefined;
  stops = 0;
  private registered: Disposable[] = [];

  constructor(
    readonly id: string,
    readonly name: string,
    readonly serverOptions: unknown,
    readonly clientOptions: Options,
  ) {
    control.clients.push(this);
  }

  readonly code2ProtocolConverter = {
    asUri: (uri: FakeUri) => uri.toString(),
    asRange: (range: { start: { line: number; character: number }; end: { line: number; character: number } }) => ({
      start: { line: range.start.line, character: range.start.character },
      end: { line: range.end.line, character: range.end.character },
    }),
  };

  async start(): Promise<void> {
    this.state = State.Starting;
    await Promise.resolve();
    if (control.startError !== undefined) {
      this.state = State.Stopped;
      throw control.startError;
    }
    const init = this.clientOptions.initializationOptions;
    this.initializationOptions = typeof init === "function" ? init() : init;
    await control.duringStart?.();
    this.registered = SERVER_ADVERTISED.map((id) => commands.registerCommand(id, () => undefined));
    this.state = State.Running;
  }

  isRunning(): boolean {
    return this.state === State.Running;
  }

  async stop(): Promise<void> {
    if (this.state !== State.Running) {
      throw new Error("Client is not running and can't be stopped");
    }
    this.registered.forEach((command) => command.dispose());
    this.registered = [];
    this.state = State.Stopped;
    this.stops += 1;
  }

  async sendRequest(type: { method: string }, params: { command: string }): Promise<unknown> {
    if (this.state !== State.Running) {
      throw new Error("Client is not running");
    }
    this.requests.push({ method: type.method, params });
    return control.answers.get(params.command) ?? null;
  }

  async sendNotification(type: { method: string }, params: unknown): Promise<void> {
    if (this.state !== State.Running) {
      throw new Error("Client is not running");
    }
    this.notifications.push({ method: type.method, params });
  }

  /** A `$/progress` from the server, through the middleware as the real client passes it. */
  progress(token: string, value: { kind: string }): void {
    const middleware = this.clientOptions.middleware?.handleWorkDoneProgress;
    const next = () => undefined;
    if (middleware === undefined) {
      next();
    } else {
      middleware(token, value, next);
    }
  }
}
