// Activation: starts `meshls --stdio` through vscode-languageclient, sends it
// the settings the user set, and adds the status-bar item, the commands,
// the chat view and the runs' cancellable progress. The one file that uses
// `vscode` and the language client; what it wires lives in settings.ts,
// status.ts, commands.ts, chatView.ts and progress.ts.

import { randomBytes } from "node:crypto";

import * as vscode from "vscode";
import {
  DidChangeConfigurationNotification,
  ExecuteCommandRequest,
  LanguageClient,
  LanguageClientOptions,
  ServerOptions,
  State,
  StaticFeature,
  WorkDoneProgressCancelNotification,
} from "vscode-languageclient/node";

import { RUN_EVENT, RUN_EVENTS_CAPABILITY, parseRunEvent } from "./chat";
import { page } from "./chatHtml";
import { ChatView } from "./chatView";
import { COMMANDS, CommandHost, SERVER_COMMANDS, errorMessage, runCommand } from "./commands";
import { ProgressUi, RunProgress, ShownProgress } from "./progress";
import {
  Inspect,
  SECTION,
  Scope,
  Table,
  declaredScopes,
  didChangeConfigurationParams,
  sameTable,
  settingsTable,
  userValue,
} from "./settings";
import { StatusView, errorView, notRunningView, startingView, statusView } from "./status";

/** The languages whose files meshls serves (its servers' and its own). */
export const LANGUAGES: readonly string[] = [
  "rust",
  "typescript",
  "typescriptreact",
  "javascript",
  "javascriptreact",
  "python",
  "c",
  "cpp",
  "go",
];

/** How often the status-bar item asks meshls for its status. */
export const STATUS_INTERVAL_MS = 5000;

/** The chat view's id (package.json `contributes.views`). */
export const CHAT_VIEW = "meshls.chat";

// Notifications show backticks as they are, so messages have none.
const INSTALL_HINT =
  "Install it with \"cargo install --locked --path server\" from the meshls repository, or set meshls.path in your user settings.";

let active: Meshls | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const meshls = new Meshls(context);
  active = meshls;
  for (const id of Object.keys(COMMANDS)) {
    context.subscriptions.push(vscode.commands.registerCommand(id, () => runCommand(id, meshls.host)));
  }
  context.subscriptions.push(vscode.window.registerWebviewViewProvider(CHAT_VIEW, new ChatProvider(meshls.chat)));
  context.subscriptions.push(
    vscode.workspace.onDidChangeConfiguration((event) => meshls.configurationChanged(event)),
  );
  await meshls.start();
}

export async function deactivate(): Promise<void> {
  const meshls = active;
  active = undefined;
  await meshls?.stop();
}

/** One meshls server and the UI around it, for the life of the extension. */
class Meshls {
  readonly host: CommandHost;
  readonly chat: ChatView;
  private readonly progress: RunProgress;
  private readonly scopes: Map<string, Scope>;
  private readonly inspect: Inspect;
  private readonly output: vscode.OutputChannel;
  private readonly trace: vscode.OutputChannel;
  private readonly item: vscode.StatusBarItem;
  private readonly timer: ReturnType<typeof setInterval>;
  private client: LanguageClient;
  /** The settings meshls has now. */
  private sent: Table = {};
  private refreshing = false;
  /** Why the last start failed, for the status bar. */
  private startError: string | undefined;

  constructor(context: vscode.ExtensionContext) {
    this.scopes = declaredScopes(context.extension.packageJSON);
    // Scoped to the folder meshls takes as the workspace root, so that
    // resource settings of that folder count.
    this.inspect = (key) =>
      vscode.workspace.getConfiguration(SECTION, vscode.workspace.workspaceFolders?.[0]?.uri).inspect(key);
    // Named once and reused by every client, so restarts log to the same place.
    this.output = vscode.window.createOutputChannel("meshls");
    this.trace = vscode.window.createOutputChannel("meshls trace");
    this.item = vscode.window.createStatusBarItem("meshls.status", vscode.StatusBarAlignment.Left, 0);
    this.item.name = "meshls";
    this.item.command = "meshls.client.showStatus";
    this.show(startingView());
    this.item.show();
    context.subscriptions.push(this.output, this.trace, this.item);
    this.client = this.createClient();
    this.timer = setInterval(() => void this.refresh(), STATUS_INTERVAL_MS);
    this.host = {
      executeCommand: (command, args) => this.executeCommand(command, args),
      restart: () => this.restart(),
      askInstruction: () =>
        Promise.resolve(
          vscode.window.showInputBox({
            title: "Ask the meshls agent",
            prompt: "What should the agent do? It starts where the cursor is.",
            placeHolder: "Make this function async",
            ignoreFocusOut: true,
          }),
        ),
      activeLocation: () => {
        const editor = vscode.window.activeTextEditor;
        if (editor === undefined) {
          return undefined;
        }
        const convert = this.client.code2ProtocolConverter;
        return {
          uri: convert.asUri(editor.document.uri),
          scheme: editor.document.uri.scheme,
          range: convert.asRange(editor.selection),
        };
      },
      showInfo: (message) => void vscode.window.showInformationMessage(message),
      showError: (message) => void vscode.window.showErrorMessage(message),
      log: (text) => this.output.appendLine(text),
      statusChanged: (status) => this.show(statusView(status)),
      refreshStatus: () => void this.refresh(),
      revealChat: async () => {
        // Every view gets a `<id>.focus` command from VS Code.
        await vscode.commands.executeCommand(`${CHAT_VIEW}.focus`);
      },
    };
    this.chat = new ChatView({
      executeCommand: (command, args) => this.executeCommand(command, args),
      open: async (uri, line) => {
        const options: vscode.TextDocumentShowOptions =
          line === undefined ? {} : { selection: new vscode.Range(line - 1, 0, line - 1, 0) };
        await vscode.commands.executeCommand("vscode.open", vscode.Uri.parse(uri), options);
      },
      pickSession: (items) =>
        Promise.resolve(
          vscode.window.showQuickPick(items, {
            title: "meshls sessions",
            placeHolder: "Open a session's transcript",
            matchOnDescription: true,
            matchOnDetail: true,
          }),
        ),
      showInfo: (message) => void vscode.window.showInformationMessage(message),
      showError: (message) => void vscode.window.showErrorMessage(message),
      refreshStatus: () => void this.refresh(),
      root: () => vscode.workspace.workspaceFolders?.[0]?.uri.toString(),
    });
    this.progress = new RunProgress(this.progressUi());
  }

  private createClient(): LanguageClient {
    const path = userValue(this.scopes.get("path") ?? "machine", this.inspect("path"));
    const server: ServerOptions = {
      command: typeof path === "string" && path.trim() !== "" ? path : "meshls",
      args: ["--stdio"],
    };
    const options: LanguageClientOptions = {
      documentSelector: LANGUAGES.flatMap((language) => [
        { scheme: "file", language },
        { scheme: "untitled", language },
      ]),
      // A function, so that every (re)start sends the settings of the moment.
      initializationOptions: () => {
        this.sent = settingsTable(this.scopes, this.inspect);
        return this.sent;
      },
      outputChannel: this.output,
      traceOutputChannel: this.trace,
      middleware: {
        handleWorkDoneProgress: (token, params, next) => {
          // A run's progress is a notification with a Cancel button; the
          // client shows the rest in the status bar.
          if (!this.progress.handle(token, params)) {
            next(token, params);
          }
          // A run (or a server's indexing) ended: its tokens are counted now.
          if (params.kind === "end") {
            void this.refresh();
          }
        },
      },
    };
    const client = new LanguageClient("meshls", "meshls", server, options);
    client.registerFeature(runEventsFeature);
    client.onNotification(RUN_EVENT, (params: unknown) => {
      const event = parseRunEvent(params);
      const token = event?.kind === "start" ? event.fields.token : undefined;
      if (typeof token === "string") {
        this.progress.runStarted(token);
      }
      this.chat.runEvent(params);
    });
    client.onDidChangeState((change) => {
      // Stopped, or restarting after a crash: nothing more comes of the
      // runs it had going.
      if (change.newState !== State.Running) {
        this.progress.clear();
        this.chat.stopped();
      }
    });
    return client;
  }

  /** The runs' progress notifications, and the cancel they send. */
  private progressUi(): ProgressUi {
    return {
      show: (title, cancellable, cancelled) => showProgress(title, cancellable, cancelled),
      cancel: (token) => {
        this.client
          .sendNotification(WorkDoneProgressCancelNotification.type, { token })
          .catch((error: unknown) => this.output.appendLine(`meshls: could not cancel ${token}: ${errorMessage(error)}`));
      },
    };
  }

  async start(): Promise<void> {
    this.startError = undefined;
    try {
      await this.client.start();
    } catch (error) {
      this.startError = errorMessage(error);
      this.show(notRunningView(this.startError));
      // Not awaited: activation does not wait for the user to click.
      void Promise.resolve(
        vscode.window.showErrorMessage(`meshls did not start: ${this.startError}. ${INSTALL_HINT}`, "Open Settings"),
      ).then((choice) =>
        choice === "Open Settings"
          ? vscode.commands.executeCommand("workbench.action.openSettings", `${SECTION}.path`)
          : undefined,
      );
      return;
    }
    // Settings changed while it started were not sent.
    await this.sendSettings(settingsTable(this.scopes, this.inspect));
    await this.refresh();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.stopClient();
  }

  /**
   * A new client: one whose start failed cannot be started again, and a
   * new one reads `meshls.path` afresh.
   */
  private async restart(): Promise<void> {
    await this.stopClient();
    this.client = this.createClient();
    this.show(startingView());
    await this.start();
  }

  private async stopClient(): Promise<void> {
    const client = this.client;
    if (client.state === State.Starting) {
      // Stopped only once started; a failed start leaves nothing to stop.
      await client.start().catch(() => undefined);
    }
    if (client.isRunning()) {
      await client.stop();
    }
  }

  private async executeCommand(command: string, args: unknown[]): Promise<unknown> {
    if (!this.client.isRunning() && this.client.state !== State.Starting) {
      throw new Error('meshls is not running; run "meshls: Restart server" to start it');
    }
    return this.client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args });
  }

  async configurationChanged(event: vscode.ConfigurationChangeEvent): Promise<void> {
    if (!event.affectsConfiguration(SECTION)) {
      return;
    }
    const table = settingsTable(this.scopes, this.inspect);
    await this.sendSettings(table);
    // The settings reach the running meshls (they replace the ones it
    // started with); only another program needs a restart.
    if (!event.affectsConfiguration(`${SECTION}.path`)) {
      return;
    }
    const choice = await vscode.window.showInformationMessage(
      "meshls: meshls.path changed. Restart meshls now?",
      "Restart",
    );
    if (choice === "Restart") {
      await runCommand("meshls.client.restart", this.host);
    }
  }

  /** Sends the settings when meshls runs and has others. */
  private async sendSettings(table: Table): Promise<void> {
    if (sameTable(table, this.sent) || !this.client.isRunning()) {
      return;
    }
    try {
      await this.client.sendNotification(DidChangeConfigurationNotification.type, didChangeConfigurationParams(table));
      this.sent = table;
    } catch (error) {
      this.output.appendLine(`meshls: could not send the settings: ${errorMessage(error)}`);
    }
  }

  /** Asks meshls for its status, quietly, unless an answer is on its way. */
  private async refresh(): Promise<void> {
    if (this.refreshing) {
      return;
    }
    const client = this.client;
    if (!client.isRunning()) {
      if (client.state !== State.Starting) {
        this.show(notRunningView(this.startError));
      }
      return;
    }
    this.refreshing = true;
    try {
      const status = await client.sendRequest(ExecuteCommandRequest.type, {
        command: SERVER_COMMANDS.status,
        arguments: [{ quiet: true }],
      });
      this.show(statusView(status));
    } catch (error) {
      this.show(errorView(errorMessage(error)));
    } finally {
      this.refreshing = false;
    }
  }

  private show(view: StatusView): void {
    this.item.text = view.text;
    this.item.tooltip = view.tooltip;
    this.item.backgroundColor = view.warning ? new vscode.ThemeColor("statusBarItem.warningBackground") : undefined;
  }
}

/** Asks meshls for `meshls/runEvent`s (`experimental.meshlsRunEvents`). */
const runEventsFeature: StaticFeature = {
  fillClientCapabilities: (capabilities) => {
    const experimental = capabilities.experimental;
    capabilities.experimental = {
      ...(typeof experimental === "object" && experimental !== null && !Array.isArray(experimental) ? experimental : {}),
      [RUN_EVENTS_CAPABILITY]: true,
    };
  },
  initialize: () => undefined,
  getState: () => ({ kind: "static" }),
  clear: () => undefined,
};

/**
 * A notification with the progress's messages and, when cancellable, a
 * Cancel button; it closes on `done()`. `withProgress` may start the task
 * later than it returns, so what comes before is kept for it.
 */
function showProgress(title: string, cancellable: boolean, cancelled: () => void): ShownProgress {
  let reporter: vscode.Progress<{ message?: string }> | undefined;
  let message: string | undefined;
  let finished = false;
  let finish: (() => void) | undefined;
  void vscode.window.withProgress(
    { location: vscode.ProgressLocation.Notification, title, cancellable },
    (progress, token) => {
      reporter = progress;
      token.onCancellationRequested(cancelled);
      if (message !== undefined) {
        progress.report({ message });
      }
      return finished
        ? Promise.resolve()
        : new Promise<void>((resolve) => {
            finish = resolve;
          });
    },
  );
  return {
    report: (text) => {
      message = text;
      reporter?.report({ message: text });
    },
    done: () => {
      finished = true;
      finish?.();
    },
  };
}

/** The chat view: the page, and the webview's messages to `ChatView`. */
class ChatProvider implements vscode.WebviewViewProvider {
  constructor(private readonly chat: ChatView) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    // Scripts for the page's own, nonced script; no local or remote files.
    view.webview.options = { enableScripts: true, localResourceRoots: [] };
    view.webview.html = page(randomBytes(16).toString("base64"), view.webview.cspSource);
    const received = view.webview.onDidReceiveMessage((message: unknown) => this.chat.receive(message));
    const detach = this.chat.attach((message) => {
      // A webview that is going away refuses messages; it asks again when back.
      Promise.resolve(view.webview.postMessage(message)).catch(() => undefined);
    });
    view.onDidDispose(() => {
      received.dispose();
      detach();
    });
  }
}
