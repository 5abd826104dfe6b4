import { styleText } from 'node:util';
import { stringify } from 'yaml';

export const OUTPUT_FORMATS = ['table', 'json', 'yaml'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** A column of a table: its heading and how to read it from a row. */
export interface Column<T> {
  header: string;
  value: (row: T) => unknown;
}

/** Where a command writes: its result to stdout, everything for people (progress, notes) to stderr. */
export interface Terminal {
  format: OutputFormat;
  out(text: string): void;
  note(text: string): void;
  /** Colours `text` when the stream it goes to is a terminal (and NO_COLOR is unset). */
  style(format: Parameters<typeof styleText>[0], text: string, stream?: 'stdout' | 'stderr'): string;
  /** Transient progress on stderr, only on a terminal; `done` clears it. */
  progress(text: string | null): void;
}

export function processTerminal(format: OutputFormat, colour: boolean): Terminal {
  const stderrIsTty = process.stderr.isTTY === true;
  return {
    format,
    out: (text) => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
    note: (text) => void process.stderr.write(`${text}\n`),
    style(styles, text, stream = 'stdout') {
      if (!colour) return text;
      return styleText(styles, text, { stream: stream === 'stdout' ? process.stdout : process.stderr });
    },
    progress(text) {
      if (!stderrIsTty) return;
      process.stderr.write(text === null ? '\r\x1b[K' : `\r\x1b[K${text}`);
    },
  };
}

/** Prints a result in the chosen format: a table (or key: value lines for one object), JSON or YAML. */
export function printResult<T>(terminal: Terminal, value: T | T[], columns?: Column<T>[]): void {
  if (terminal.format === 'json') return terminal.out(JSON.stringify(value, null, 2));
  if (terminal.format === 'yaml') return terminal.out(stringify(value));
  if (Array.isArray(value)) return terminal.out(table(terminal, value, columns ?? inferColumns(value)));
  terminal.out(keyValueLines(terminal, value as Record<string, unknown>));
}

function inferColumns<T>(rows: T[]): Column<T>[] {
  const first = rows[0];
  if (!first || typeof first !== 'object') return [{ header: 'VALUE', value: (row) => row }];
  return Object.keys(first).map((key) => ({ header: key.toUpperCase(), value: (row) => (row as Record<string, unknown>)[key] }));
}

export function cell(value: unknown): string {
  if (value === null || value === undefined) return '-';
  if (typeof value === 'string') return value;
  return JSON.stringify(value);
}

function table<T>(terminal: Terminal, rows: T[], columns: Column<T>[]): string {
  if (rows.length === 0) return '(none)';
  const cells = rows.map((row) => columns.map((column) => cell(column.value(row))));
  const widths = columns.map((column, index) => Math.max(column.header.length, ...cells.map((row) => row[index]!.length)));
  const line = (values: string[]) => values.map((value, index) => (index === values.length - 1 ? value : value.padEnd(widths[index]!))).join('  ');
  return [terminal.style('bold', line(columns.map((column) => column.header))), ...cells.map(line)].join('\n');
}

function keyValueLines(terminal: Terminal, value: Record<string, unknown>): string {
  if (value === null || typeof value !== 'object') return cell(value);
  const width = Math.max(0, ...Object.keys(value).map((key) => key.length));
  return Object.entries(value).map(([key, field]) => `${terminal.style('bold', `${key}:`.padEnd(width + 1))} ${cell(field)}`).join('\n');
}
