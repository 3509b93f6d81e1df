// A fake of `vscode-languageclient/node`: it records how the extension
// builds and drives its client, and answers `workspace/executeCommand` as
// a test says. The protocol's message types are the real ones, and so is
// the part that shows the server's work-done progress: the real client's
// `ProgressPart`, driven the way the real client drives it.

import { ProgressPart } from "vscode-languageclient/lib/common/progressPart";
import { ClientCapabilities } from "vscode-languageserver-protocol";

import { commands, Disposable, FakeUri } from "./vscode";

export {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  WorkDoneProgressCancelNotification,
} from "vscode-languageserver-protocol";

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
  "meshls.sessions",
  "meshls.showSession",
  "meshls.undoRun",
];

export interface Sent {
  method: string;
  params: unknown;
}

type ProgressValue = { kind: string; [key: string]: unknown };

interface Options {
  initializationOptions?: unknown;
  middleware?: {
    handleWorkDoneProgress?: (
      token: string | number,
      params: ProgressValue,
      next: (token: string | number, params: ProgressValue) => void,
    ) => void;
  };
  [key: string]: unknown;
}

/** The parts of a `StaticFeature` the client calls. */
interface Feature {
  fillClientCapabilities(capabilities: ClientCapabilities): void;
  initialize(capabilities: object, documentSelector: unknown): void;
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
  private current = State.Stopped;
  readonly requests: Sent[] = [];
  readonly notifications: Sent[] = [];
  initializationOptions: unknown = undefined;
  /** The capabilities the client sent in `initialize`, its features' included. */
  capabilities: ClientCapabilities | undefined = undefined;
  stops = 0;
  private registered: Disposable[] = [];
  private readonly features: Feature[] = [];
  private readonly notificationHandlers = new Map<string, (params: unknown) => void>();
  private readonly progressHandlers = new Map<string | number, (value: ProgressValue) => void>();
  private stateListeners: ((change: { oldState: State; newState: State }) => void)[] = [];

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

  get state(): State {
    return this.current;
  }

  set state(state: State) {
    const oldState = this.current;
    this.current = state;
    if (oldState !== state) {
      this.stateListeners.forEach((listener) => listener({ oldState, newState: state }));
    }
  }

  onDidChangeState(listener: (change: { oldState: State; newState: State }) => void): Disposable {
    this.stateListeners.push(listener);
    return {
      dispose: () => {
        this.stateListeners = this.stateListeners.filter((l) => l !== listener);
      },
    };
  }

  registerFeature(feature: Feature): void {
    this.features.push(feature);
  }

  /** As the real client: handlers may be registered before it starts. */
  onNotification(method: string, handler: (params: unknown) => void): Disposable {
    this.notificationHandlers.set(method, handler);
    return { dispose: () => this.notificationHandlers.delete(method) };
  }

  /** A notification from the server. */
  notify(method: string, params: unknown): void {
    if (this.state !== State.Running) {
      throw new Error("the server sends nothing to a client that is not running");
    }
    this.notificationHandlers.get(method)?.(params);
  }

  async start(): Promise<void> {
    this.state = State.Starting;
    await Promise.resolve();
    if (control.startError !== undefined) {
      this.state = State.Stopped;
      throw control.startError;
    }
    const init = this.clientOptions.initializationOptions;
    this.initializationOptions = typeof init === "function" ? init() : init;
    // As computeClientCapabilities(): the client's own, then each feature's.
    const capabilities: ClientCapabilities = { window: { workDoneProgress: true } };
    this.features.forEach((feature) => feature.fillClientCapabilities(capabilities));
    this.capabilities = capabilities;
    await control.duringStart?.();
    this.features.forEach((feature) => feature.initialize({}, this.clientOptions.documentSelector));
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

  /**
   * `window/workDoneProgress/create` from the server: as the real client's
   * ProgressFeature, a real `ProgressPart` for the token, which listens
   * for its `$/progress` through `onProgress` below.
   */
  createProgress(token: string): void {
    new ProgressPart(this as never, token);
  }

  /** As the real client's `onProgress`: the middleware's `next` is the part's handler. */
  onProgress(_type: unknown, token: string | number, handler: (value: ProgressValue) => void): Disposable {
    const middleware = this.clientOptions.middleware?.handleWorkDoneProgress;
    this.progressHandlers.set(
      token,
      middleware === undefined ? handler : (value) => middleware(token, value, () => handler(value)),
    );
    return { dispose: () => this.progressHandlers.delete(token) };
  }

  /**
   * A `$/progress` from the server: to the part listening for the token,
   * or, when none was created, through the middleware alone.
   */
  progress(token: string, value: ProgressValue): void {
    const handler = this.progressHandlers.get(token);
    if (handler !== undefined) {
      handler(value);
      return;
    }
    this.clientOptions.middleware?.handleWorkDoneProgress?.(token, value, () => undefined);
  }

  /** Whether a part still listens for the token's progress. */
  listensFor(token: string): boolean {
    return this.progressHandlers.has(token);
  }
}
