// An agent run's progress as a notification with a Cancel button.
//
// vscode-languageclient shows a server's work-done progress in the status
// bar (`ProgressLocation.Window`), where VS Code shows no Cancel button
// whatever `cancellable` says. So the progress of meshls's runs, whose
// tokens come with their `start` run events, is taken out of its hands and
// shown here; every other progress (the language servers' indexing) stays
// in the status bar. Pure: extension.ts backs `ProgressUi` with
// `window.withProgress` and the language client.

/** The `$/progress` values of work-done progress (`begin`, `report`, `end`). */
export interface WorkDoneValue {
  kind: string;
  title?: string;
  message?: string;
  cancellable?: boolean;
}

/** A notification shown for one run. */
export interface ShownProgress {
  report(message: string): void;
  done(): void;
}

export interface ProgressUi {
  /** Shows a notification; `cancelled` runs when the user clicks its Cancel. */
  show(title: string, cancellable: boolean, cancelled: () => void): ShownProgress;
  /** Sends `window/workDoneProgress/cancel` for `token`. */
  cancel(token: string): void;
}

export class RunProgress {
  /** The tokens of runs that started and whose progress has not ended. */
  private readonly runs = new Set<string>();
  private readonly shown = new Map<string, ShownProgress>();

  constructor(private readonly ui: ProgressUi) {}

  /**
   * A run started with this progress token. meshls sends the `start` event
   * before it creates the token, so its `begin` always comes after.
   */
  runStarted(token: string): void {
    this.runs.add(token);
  }

  /**
   * One `$/progress` value; whether it was a run's and shown here, so that
   * the language client's own handler must not show it too. The `end` of
   * a run goes to the client's handler as well, which then lets go of the
   * token.
   */
  handle(token: string | number, value: WorkDoneValue): boolean {
    if (typeof token !== "string") {
      return false;
    }
    switch (value.kind) {
      case "begin": {
        if (!this.runs.has(token) || this.shown.has(token)) {
          return false;
        }
        let asked = false;
        const shown = this.ui.show(value.title ?? "meshls agent", value.cancellable === true, () => {
          // One cancel is enough; a second click before the run ends would
          // only repeat it.
          if (!asked && this.shown.has(token)) {
            asked = true;
            this.ui.cancel(token);
          }
        });
        this.shown.set(token, shown);
        if (value.message !== undefined) {
          shown.report(value.message);
        }
        return true;
      }
      case "report": {
        const shown = this.shown.get(token);
        if (shown === undefined) {
          return false;
        }
        if (value.message !== undefined) {
          shown.report(value.message);
        }
        return true;
      }
      case "end": {
        this.shown.get(token)?.done();
        this.shown.delete(token);
        this.runs.delete(token);
        return false;
      }
      default:
        return false;
    }
  }

  /** The client stopped: its progress will not end by itself. */
  clear(): void {
    for (const shown of this.shown.values()) {
      shown.done();
    }
    this.shown.clear();
    this.runs.clear();
  }
}
