import { terminalSafeJson } from './terminal.ts';

/** Where a command writes: injected, so tests read what a person or a script would see. */
export interface Io {
  out(text: string): void;
  err(text: string): void;
}

export const processIo: Io = {
  out: (text) => process.stdout.write(text.endsWith('\n') ? text : `${text}\n`),
  err: (text) => process.stderr.write(text.endsWith('\n') ? text : `${text}\n`),
};

/** One JSON document per call: `--json` output that scripts parse (and that is safe on a terminal). */
export function printJson(io: Io, value: unknown): void {
  io.out(terminalSafeJson(JSON.stringify(value, (_key, v) => (typeof v === 'bigint' ? v.toString() : v), 2)));
}

export interface Column<Row> {
  readonly header: string;
  readonly value: (row: Row) => string | number | boolean | null | undefined;
  /** Numbers read better right-aligned. */
  readonly align?: 'left' | 'right';
}

/** A plain-text table: a header row, then one line per row, columns padded to fit. */
export function formatTable<Row>(rows: readonly Row[], columns: readonly Column<Row>[]): string {
  const cells = rows.map((row) => columns.map((column) => String(column.value(row) ?? '-')));
  const widths = columns.map((column, i) =>
    Math.max(column.header.length, ...cells.map((line) => (line[i] as string).length)),
  );
  const line = (values: readonly string[]) =>
    values
      .map((value, i) =>
        columns[i]?.align === 'right'
          ? value.padStart(widths[i] as number)
          : value.padEnd(widths[i] as number),
      )
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), ...cells.map(line)].join('\n');
}
