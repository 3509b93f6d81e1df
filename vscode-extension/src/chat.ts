// The chat view's model: the current session's runs, built from meshls's
// `meshls/runEvent` notifications. Pure: every event comes from the
// server, so each field is checked before it is used, and an event that
// does not fit is dropped rather than thrown on.

import { arr, isObject, num, str } from "./json";

/** The notification meshls sends for each thing a run does. */
export const RUN_EVENT = "meshls/runEvent";
/** `experimental.meshlsRunEvents: true` asks meshls for run events. */
export const RUN_EVENTS_CAPABILITY = "meshlsRunEvents";

/** An error the servers reported after a run's edits. */
export interface RunError {
  uri: string;
  /** From 1. */
  line: number;
  source: string;
  message: string;
}

/** A file `meshls.undoRun` could not put back, and why. */
export interface Left {
  file: string;
  why: string;
}

/** One thing in a run, in the order it happened. */
export type Entry =
  | { kind: "text"; text: string }
  /** `outcome` is `undefined` while the call goes on. */
  | { kind: "tool"; name: string; about: string; outcome: string | undefined }
  | { kind: "edit"; uri: string; summary: string }
  | { kind: "diagnostics"; errors: RunError[] }
  | { kind: "approval"; asked: string; answer: string }
  /** The answer of `meshls.undoRun` for this run. */
  | { kind: "undo"; undone: boolean; message: string; left: Left[] };

export interface RunEnd {
  outcome: string;
  tokens: { input: number; output: number };
  /** US dollars; `undefined` when meshls sent none. */
  cost: number | undefined;
  /** The files the run changed, relative to the workspace root. */
  files: string[];
  /** Whether `meshls.undoRun` can take the run back. */
  undo: boolean;
}

export interface Run {
  /** The id `meshls.undoRun` takes. */
  id: string;
  instruction: string;
  /** `ask`, or the code action that started it (`fix`, `explain`, ...). */
  action: string;
  /** The run's `$/progress` token. */
  token: string | undefined;
  /** The `seq` of the last event applied. */
  seq: number;
  entries: Entry[];
  end: RunEnd | undefined;
  /** `meshls.undoRun` took it back. */
  undone: boolean;
  /**
   * The meshls that runs it still runs. An earlier meshls's runs are shown
   * and can be undone (meshls keeps the runs with the session), but no
   * event is theirs any more: a run it cut short may have left its id to
   * the next run.
   */
  live: boolean;
}

/** A `meshls/runEvent`'s common fields, checked, and the rest as sent. */
export interface RunEvent {
  session: string;
  run: string;
  seq: number;
  kind: string;
  fields: Record<string, unknown>;
}

/** The event in `params`, or `undefined` when it lacks a common field. */
export function parseRunEvent(params: unknown): RunEvent | undefined {
  if (!isObject(params)) {
    return undefined;
  }
  const { session, run, seq, kind } = params;
  if (typeof session !== "string" || typeof run !== "string" || typeof kind !== "string") {
    return undefined;
  }
  if (typeof seq !== "number" || !Number.isInteger(seq) || seq < 0) {
    return undefined;
  }
  return { session, run, seq, kind, fields: params };
}

/** The current session's runs, oldest first. */
export class ChatModel {
  /** The session the runs belong to, once meshls named it. */
  session: string | undefined = undefined;
  readonly runs: Run[] = [];

  /**
   * Applies one `meshls/runEvent`; whether the model changed. A run's
   * events apply in `seq` order: one whose `seq` is not past the last one
   * applied is a duplicate or late, and is dropped. A gap is not waited
   * for: the notifications come in order over one stream, so a missing
   * number was never sent and waiting would freeze the run.
   */
  apply(params: unknown): boolean {
    const event = parseRunEvent(params);
    if (event === undefined) {
      return false;
    }
    const { fields } = event;
    if (event.kind === "start") {
      if (this.live(event.run) !== undefined) {
        return false;
      }
      if (this.session !== event.session) {
        // A new session (meshls.newSession here or in another client): the
        // view shows one conversation, the one the runs now go on in.
        this.runs.length = 0;
        this.session = event.session;
      }
      this.runs.push({
        id: event.run,
        instruction: str(fields.instruction) ?? "",
        action: str(fields.action) ?? "ask",
        token: str(fields.token),
        seq: event.seq,
        entries: [],
        end: undefined,
        undone: false,
        live: true,
      });
      return true;
    }
    // Events come after their run's start; those of a run not shown (of
    // another session) are not this view's.
    const run = this.live(event.run);
    if (run === undefined || event.session !== this.session || event.seq <= run.seq) {
      return false;
    }
    if (!applyTo(run, event.kind, fields)) {
      return false;
    }
    run.seq = event.seq;
    return true;
  }

  /** `meshls.newSession` answered: the runs shown belong to the old one. */
  newSession(session: string | undefined): void {
    this.runs.length = 0;
    this.session = session;
  }

  /** Whether a run has started and not ended. */
  running(): boolean {
    return this.runs.some((run) => run.end === undefined);
  }

  /** The latest run `meshls.undoRun` can take back, if any. */
  undoable(): Run | undefined {
    for (let i = this.runs.length - 1; i >= 0; i--) {
      const run = this.runs[i];
      if (run !== undefined && run.end?.undo === true && !run.undone) {
        return run;
      }
    }
    return undefined;
  }

  /**
   * Records the answer of `meshls.undoRun` (`{run, undone, restored,
   * deleted, left, message}`) under its run; the run, or `undefined` when
   * the answer names none shown here. Either way the run is not offered
   * again: meshls undoes a run once, and answers `undone: false` only for
   * one undone already (from its own "Undo" button, say). An undo that
   * failed is an error, not an answer.
   */
  undoAnswered(answer: unknown): Run | undefined {
    if (!isObject(answer)) {
      return undefined;
    }
    const id = answer.run;
    const run =
      typeof id === "string" ? (this.live(id) ?? this.runs.find((candidate) => candidate.id === id)) : undefined;
    if (run === undefined) {
      return undefined;
    }
    const undone = answer.undone === true;
    const left = arr(answer.left).flatMap((item) => {
      const file = isObject(item) ? str(item.file) : undefined;
      return file === undefined ? [] : [{ file, why: (isObject(item) ? str(item.why) : undefined) ?? "" }];
    });
    run.entries.push({ kind: "undo", undone, message: str(answer.message) ?? "", left });
    run.undone = true;
    return run;
  }

  /** meshls stopped: runs still going will send nothing more. */
  stopped(): boolean {
    let changed = false;
    for (const run of this.runs) {
      if (run.end === undefined) {
        run.end = { outcome: "meshls stopped", tokens: { input: 0, output: 0 }, cost: undefined, files: [], undo: false };
        changed = true;
      }
      run.live = false;
    }
    return changed;
  }

  /** The run of the running meshls with this id. */
  private live(id: string): Run | undefined {
    return this.runs.find((run) => run.live && run.id === id);
  }

  /** Whether an edit or an error shown names `uri`: the view opens only those. */
  shows(uri: string): boolean {
    return this.runs.some((run) =>
      run.entries.some(
        (entry) =>
          (entry.kind === "edit" && entry.uri === uri) ||
          (entry.kind === "diagnostics" && entry.errors.some((error) => error.uri === uri)),
      ),
    );
  }
}

/** Applies one event other than `start` to its run; whether it fit. */
function applyTo(run: Run, kind: string, fields: Record<string, unknown>): boolean {
  const entries = run.entries;
  switch (kind) {
    case "text": {
      const text = str(fields.text);
      if (text === undefined) {
        return false;
      }
      // The answer streams in pieces: they make one entry until something
      // else happens.
      const last = entries[entries.length - 1];
      if (last?.kind === "text") {
        last.text += text;
      } else {
        entries.push({ kind: "text", text });
      }
      return true;
    }
    case "tool": {
      const name = str(fields.name);
      if (name === undefined) {
        return false;
      }
      const about = str(fields.about) ?? "";
      const outcome = str(fields.outcome);
      if (outcome !== undefined) {
        // The outcome of a call already shown: the latest one of that tool
        // on that thing still going (events carry no call id).
        for (let i = entries.length - 1; i >= 0; i--) {
          const entry = entries[i];
          if (entry?.kind === "tool" && entry.outcome === undefined && entry.name === name && entry.about === about) {
            entry.outcome = outcome;
            return true;
          }
        }
      }
      entries.push({ kind: "tool", name, about, outcome });
      return true;
    }
    case "edit": {
      const uri = str(fields.uri);
      if (uri === undefined) {
        return false;
      }
      entries.push({ kind: "edit", uri, summary: str(fields.summary) ?? "changed" });
      return true;
    }
    case "diagnostics": {
      const errors = arr(fields.errors).flatMap((error): RunError[] => {
        if (!isObject(error) || typeof error.uri !== "string") {
          return [];
        }
        return [
          {
            uri: error.uri,
            line: num(error.line) ?? 1,
            source: str(error.source) ?? "",
            message: str(error.message) ?? "",
          },
        ];
      });
      entries.push({ kind: "diagnostics", errors });
      return true;
    }
    case "approval": {
      entries.push({ kind: "approval", asked: str(fields.asked) ?? "", answer: str(fields.answer) ?? "no answer" });
      return true;
    }
    case "end": {
      const tokens = isObject(fields.tokens) ? fields.tokens : {};
      run.end = {
        outcome: str(fields.outcome) ?? "",
        tokens: { input: num(tokens.input) ?? 0, output: num(tokens.output) ?? 0 },
        cost: num(fields.cost),
        files: arr(fields.files).filter((file): file is string => typeof file === "string"),
        undo: fields.undo === true,
      };
      return true;
    }
    default:
      // A kind of a later meshls.
      return false;
  }
}

/** Where an edit's summary (`line 3`, `lines 3-7`) starts, from 1. */
export function summaryLine(summary: string): number | undefined {
  const match = /^lines? (\d+)/.exec(summary);
  return match === null ? undefined : Number(match[1]);
}
