import type { AuditEntry } from '@patternflow/control';
import type { CommandContext } from './context.ts';
import { type ExitCode, ExitCodes } from './exit.ts';
import { type Column, formatTable, printJson } from './output.ts';

/**
 * Prints audit entries (already filtered and ordered, newest first) as `policy history` and
 * `model history` show them: a table, or the entries themselves with --json.
 */
export function printAuditHistory(
  context: CommandContext,
  entries: readonly AuditEntry[],
  options: { what: string; showSubject: boolean },
): ExitCode {
  const { io } = context;
  if (context.json()) {
    printJson(io, entries);
    return ExitCodes.OK;
  }
  if (entries.length === 0) {
    io.out(`no ${options.what} change recorded on ${context.session().topics.audit}`);
    return ExitCodes.OK;
  }
  const columns: Column<AuditEntry>[] = [
    { header: 'at', value: (e) => e.at },
    ...(options.showSubject ? [{ header: 'subject', value: (e: AuditEntry) => e.subject }] : []),
    { header: 'action', value: (e) => e.action },
    { header: 'change', value: (e) => `${e.from ?? '-'} → ${e.to}` },
    { header: 'who', value: (e) => e.who },
    { header: 'reason', value: (e) => e.reason },
  ];
  io.out(formatTable(entries, columns));
  return ExitCodes.OK;
}
