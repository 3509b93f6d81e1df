// A fake of the parts of the `vscode` module the extension uses, with the
// state a test sets up (settings, the editor, the user's answers) and reads
// back (commands, messages, the status-bar item, output, progress, the
// chat view's webview). install.ts makes `require("vscode")` return this
// module; vscode-languageclient's own ProgressPart gets it too.

import { readFileSync } from "node:fs";
import { join } from "node:path";

import type { Inspected } from "../../settings";

export interface Disposable {
  dispose(): void;
}

export interface FakeUri {
  scheme: string;
  toString(): string;
}

export interface FakePosition {
  line: number;
  character: number;
}

export interface FakeEditor {
  document: { uri: FakeUri };
  selection: { start: FakePosition; end: FakePosition };
}

export class FakeOutputChannel implements Disposable {
  readonly lines: string[] = [];
  disposed = false;
  constructor(readonly name: string) {}
  append(text: string): void {
    this.lines.push(text);
  }
  appendLine(text: string): void {
    this.lines.push(text);
  }
  show(): void {}
  dispose(): void {
    this.disposed = true;
  }
}

export class FakeStatusBarItem implements Disposable {
  text = "";
  tooltip: unknown = undefined;
  command: unknown = undefined;
  name: string | undefined = undefined;
  backgroundColor: ThemeColor | undefined = undefined;
  visible = false;
  constructor(readonly id: string) {}
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  dispose(): void {
    this.visible = false;
  }
}

export class ThemeColor {
  constructor(readonly id: string) {}
}

export enum StatusBarAlignment {
  Left = 1,
  Right = 2,
}

/** With the real enum's values. */
export enum ProgressLocation {
  SourceControl = 1,
  Window = 10,
  Notification = 15,
}

export class Range {
  constructor(
    readonly startLine: number,
    readonly startCharacter: number,
    readonly endLine: number,
    readonly endCharacter: number,
  ) {}
}

export const Uri = {
  parse(value: string): FakeUri {
    const scheme = /^([a-z][\w+.-]*):/i.exec(value)?.[1] ?? "file";
    return { scheme, toString: () => value };
  },
};

/** One `window.withProgress`: how it was shown, what it said, and its Cancel button. */
export class FakeProgress {
  readonly messages: string[] = [];
  finished = false;
  private readonly cancelListeners: (() => void)[] = [];
  constructor(readonly options: { location: ProgressLocation; title?: string; cancellable?: boolean }) {}
  /** The user clicks Cancel: VS Code shows the button only on a cancellable notification. */
  clickCancel(): void {
    if (this.options.location !== ProgressLocation.Notification || this.options.cancellable !== true) {
      throw new Error(`VS Code shows no Cancel button on ${JSON.stringify(this.options)}`);
    }
    this.cancelListeners.forEach((listener) => listener());
  }
  readonly token = {
    isCancellationRequested: false,
    onCancellationRequested: (listener: () => void): Disposable => {
      this.cancelListeners.push(listener);
      return disposable(() => this.cancelListeners.splice(this.cancelListeners.indexOf(listener), 1));
    },
  };
}

/** The chat view's webview: what the extension set and posted, and a way to post to it. */
export class FakeWebview {
  options: unknown = undefined;
  html = "";
  readonly cspSource = "vscode-webview://fake";
  readonly posted: unknown[] = [];
  private listeners: ((message: unknown) => unknown)[] = [];
  async postMessage(message: unknown): Promise<boolean> {
    this.posted.push(message);
    return true;
  }
  onDidReceiveMessage(listener: (message: unknown) => unknown): Disposable {
    this.listeners.push(listener);
    return disposable(() => {
      this.listeners = this.listeners.filter((l) => l !== listener);
    });
  }
  /** The page's script posts `message`; resolves once the extension handled it. */
  async receive(message: unknown): Promise<void> {
    await Promise.all(this.listeners.map((listener) => listener(message)));
  }
  /** The last render message posted. */
  lastRender(): { type: "render"; html: string; running: boolean; undo: { run: string } | undefined } {
    const renders = this.posted.filter((message) => (message as { type?: string }).type === "render");
    const last = renders[renders.length - 1];
    if (last === undefined) {
      throw new Error("nothing was rendered");
    }
    return last as ReturnType<FakeWebview["lastRender"]>;
  }
}

export class FakeWebviewView {
  readonly webview = new FakeWebview();
  private disposeListeners: (() => void)[] = [];
  onDidDispose(listener: () => void): Disposable {
    this.disposeListeners.push(listener);
    return disposable(() => undefined);
  }
  dispose(): void {
    this.disposeListeners.forEach((listener) => listener());
  }
}

interface WebviewViewProvider {
  resolveWebviewView(view: FakeWebviewView, context: unknown, token: unknown): void | Promise<void>;
}

export interface Message {
  kind: "info" | "error" | "warning";
  text: string;
  items: string[];
}

/** Everything a test sets up and reads back; `reset()` before each test. */
export const fake = {
  commands: new Map<string, (...args: unknown[]) => unknown>(),
  executedCommands: [] as { id: string; args: unknown[] }[],
  /** Settings by key without `meshls.`, at each level; the default comes from package.json. */
  settings: new Map<string, Inspected>(),
  /** The scope `getConfiguration` was asked for last. */
  configurationScope: undefined as unknown,
  configurationListeners: [] as ((event: { affectsConfiguration(section: string): boolean }) => unknown)[],
  inputBoxAnswer: undefined as string | undefined,
  /** The button the user picks in the next message, if any. */
  messageAnswer: undefined as string | undefined,
  messages: [] as Message[],
  outputChannels: [] as FakeOutputChannel[],
  statusBarItems: [] as FakeStatusBarItem[],
  progresses: [] as FakeProgress[],
  viewProviders: new Map<string, WebviewViewProvider>(),
  /** The items each quick pick offered. */
  quickPicks: [] as unknown[][],
  /** The index of the item the user picks in the next quick pick, if any. */
  quickPickAnswer: undefined as number | undefined,

  reset(): void {
    this.commands.clear();
    this.executedCommands = [];
    this.settings.clear();
    this.configurationScope = undefined;
    this.configurationListeners = [];
    this.inputBoxAnswer = undefined;
    this.messageAnswer = undefined;
    this.messages = [];
    this.outputChannels = [];
    this.statusBarItems = [];
    this.progresses = [];
    this.viewProviders.clear();
    this.quickPicks = [];
    this.quickPickAnswer = undefined;
    window.activeTextEditor = undefined;
    workspace.workspaceFolders = [{ uri: fileUri("/w"), name: "w", index: 0 }];
  },

  /** Changes settings and tells the extension, as VS Code does. */
  async changeSettings(changes: Record<string, Inspected | undefined>): Promise<void> {
    for (const [key, value] of Object.entries(changes)) {
      if (value === undefined) {
        this.settings.delete(key);
      } else {
        this.settings.set(key, value);
      }
    }
    const changed = Object.keys(changes).map((key) => `meshls.${key}`);
    const event = {
      affectsConfiguration: (section: string) =>
        changed.some((key) => key === section || key.startsWith(`${section}.`)),
    };
    await Promise.all(this.configurationListeners.map((listener) => listener(event)));
  },

  /** VS Code shows the view: the provider resolves a new webview view. */
  async showView(id: string): Promise<FakeWebviewView> {
    const provider = this.viewProviders.get(id);
    if (provider === undefined) {
      throw new Error(`no provider for the view ${id}`);
    }
    const view = new FakeWebviewView();
    await provider.resolveWebviewView(view, { state: undefined }, { isCancellationRequested: false });
    return view;
  },

  statusItem(): FakeStatusBarItem {
    const item = this.statusBarItems[0];
    if (item === undefined) {
      throw new Error("no status-bar item was created");
    }
    return item;
  },
};

export function fileUri(path: string): FakeUri {
  return { scheme: "file", toString: () => `file://${path}` };
}

const packageJson = JSON.parse(readFileSync(join(__dirname, "..", "..", "..", "package.json"), "utf8"));

/** VS Code's default for a setting: its `default`, else its type's. */
function defaultValue(key: string): unknown {
  for (const section of packageJson.contributes.configuration) {
    const property = section.properties[`meshls.${key}`];
    if (property !== undefined) {
      if ("default" in property) {
        return property.default;
      }
      return { boolean: false, integer: 0, number: 0, string: "", array: [], object: {} }[
        property.type as string
      ];
    }
  }
  return undefined;
}

function disposable(dispose: () => void): Disposable {
  return { dispose };
}

export const window = {
  activeTextEditor: undefined as FakeEditor | undefined,
  createOutputChannel(name: string): FakeOutputChannel {
    const channel = new FakeOutputChannel(name);
    fake.outputChannels.push(channel);
    return channel;
  },
  createStatusBarItem(id: string): FakeStatusBarItem {
    const item = new FakeStatusBarItem(id);
    fake.statusBarItems.push(item);
    return item;
  },
  async showInputBox(): Promise<string | undefined> {
    return fake.inputBoxAnswer;
  },
  async showQuickPick<T>(items: T[]): Promise<T | undefined> {
    fake.quickPicks.push(items);
    return fake.quickPickAnswer === undefined ? undefined : items[fake.quickPickAnswer];
  },
  withProgress<R>(
    options: { location: ProgressLocation; title?: string; cancellable?: boolean },
    task: (progress: { report(value: { message?: string }): void }, token: FakeProgress["token"]) => Promise<R>,
  ): Promise<R> {
    const shown = new FakeProgress(options);
    fake.progresses.push(shown);
    const report = (value: { message?: string }) => {
      if (value.message !== undefined) {
        shown.messages.push(value.message);
      }
    };
    const done = task({ report }, shown.token).finally(() => {
      shown.finished = true;
    });
    // As VS Code, which settles the task whoever waits for it.
    done.catch(() => undefined);
    return done;
  },
  registerWebviewViewProvider(id: string, provider: WebviewViewProvider): Disposable {
    if (fake.viewProviders.has(id)) {
      throw new Error(`a provider for the view ${id} is already registered`);
    }
    fake.viewProviders.set(id, provider);
    return disposable(() => fake.viewProviders.delete(id));
  },
  async showInformationMessage(text: string, ...items: string[]): Promise<string | undefined> {
    fake.messages.push({ kind: "info", text, items });
    return items.length > 0 ? fake.messageAnswer : undefined;
  },
  async showWarningMessage(text: string, ...items: string[]): Promise<string | undefined> {
    fake.messages.push({ kind: "warning", text, items });
    return items.length > 0 ? fake.messageAnswer : undefined;
  },
  async showErrorMessage(text: string, ...items: string[]): Promise<string | undefined> {
    fake.messages.push({ kind: "error", text, items });
    return items.length > 0 ? fake.messageAnswer : undefined;
  },
};

export const commands = {
  registerCommand(id: string, callback: (...args: unknown[]) => unknown): Disposable {
    // VS Code refuses a second command with the same id.
    if (fake.commands.has(id)) {
      throw new Error(`command '${id}' already exists`);
    }
    fake.commands.set(id, callback);
    return disposable(() => fake.commands.delete(id));
  },
  async executeCommand(id: string, ...args: unknown[]): Promise<unknown> {
    fake.executedCommands.push({ id, args });
    return fake.commands.get(id)?.(...args);
  },
};

export const workspace = {
  workspaceFolders: undefined as { uri: FakeUri; name: string; index: number }[] | undefined,
  getConfiguration(section: string, scope?: unknown) {
    if (section !== "meshls") {
      throw new Error(`the extension read settings of ${section}`);
    }
    fake.configurationScope = scope;
    return {
      inspect(key: string): (Inspected & { key: string }) | undefined {
        const defaults = defaultValue(key);
        // VS Code answers undefined for a key no extension declares.
        if (defaults === undefined) {
          return undefined;
        }
        return { key: `meshls.${key}`, defaultValue: defaults, ...fake.settings.get(key) };
      },
    };
  },
  onDidChangeConfiguration(
    listener: (event: { affectsConfiguration(section: string): boolean }) => unknown,
  ): Disposable {
    fake.configurationListeners.push(listener);
    return disposable(() => {
      fake.configurationListeners = fake.configurationListeners.filter((l) => l !== listener);
    });
  },
};
