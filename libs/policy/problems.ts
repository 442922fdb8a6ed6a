/** Problems found in one policy; they are all reported in one POLICY_INVALID error. */
export class Problems {
  readonly list: string[] = [];
  add(where: string, problem: string): void {
    this.list.push(where ? `${where}: ${problem}` : problem);
  }
}

export const isPlainObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export const ruleLabel = (index: number, name: unknown): string =>
  typeof name === 'string' ? `rule #${index + 1} "${name}"` : `rule #${index + 1}`;

/** A non-empty list of strings, or undefined. */
export const stringList = (v: unknown): string[] | undefined =>
  Array.isArray(v) && v.length > 0 && v.every((s) => typeof s === 'string') ? (v as string[]) : undefined;
