/**
 * Configuration from environment variables, validated once at startup into a frozen,
 * typed object. Every problem is reported at once, each naming the variable, what it
 * must be and what it was, so a misconfigured service says exactly what to fix.
 */
import { readFileSync } from 'node:fs';
import { ErrorCodes, PipelineError } from '@patternflow/errors';

export type Env = Readonly<Record<string, string | undefined>>;

export interface Field<T> {
  readonly variable: string;
  parse(raw: string | undefined): T;
  /** The secret strings inside a parsed value (passwords): loadConfig keeps them for configSecrets. */
  secretsOf?(value: T): readonly string[];
}

/**
 * Thrown by a field's `parse` for a value it refuses: loadConfig reports it as
 * "<VARIABLE> <message>" with every other problem. The message must never quote a secret.
 */
export class InvalidValue extends Error {}

function field<T>(variable: string, fallback: T | undefined, parse: (raw: string) => T): Field<T> {
  return {
    variable,
    parse(raw) {
      if (raw === undefined || raw.trim() === '') {
        if (fallback === undefined) throw new InvalidValue('is required and not set');
        return fallback;
      }
      return parse(raw.trim());
    },
  };
}

export function string(variable: string, fallback?: string): Field<string> {
  return field(variable, fallback, (raw) => raw);
}

export function integer(
  variable: string,
  options: { default?: number; min?: number; max?: number } = {},
): Field<number> {
  const { min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER } = options;
  return field(variable, options.default, (raw) => {
    const value = Number(raw);
    if (!/^-?\d+$/.test(raw) || !Number.isSafeInteger(value) || value < min || value > max) {
      throw new InvalidValue(`must be an integer between ${min} and ${max}, got "${raw}"`);
    }
    return value;
  });
}

export function port(variable: string, fallback?: number): Field<number> {
  const options = fallback === undefined ? { min: 0, max: 65535 } : { default: fallback, min: 0, max: 65535 };
  return integer(variable, options);
}

export function boolean(variable: string, fallback?: boolean): Field<boolean> {
  return field(variable, fallback, (raw) => {
    if (/^(1|true|yes|on)$/i.test(raw)) return true;
    if (/^(0|false|no|off)$/i.test(raw)) return false;
    throw new InvalidValue(`must be true or false, got "${raw}"`);
  });
}

export function oneOf<T extends string>(variable: string, choices: readonly T[], fallback?: T): Field<T> {
  return field(variable, fallback, (raw) => {
    if (!(choices as readonly string[]).includes(raw)) {
      throw new InvalidValue(`must be one of ${choices.join(', ')}, got "${raw}"`);
    }
    return raw as T;
  });
}

/** A comma-separated list of non-empty items. */
export function list(variable: string, fallback?: readonly string[]): Field<readonly string[]> {
  return field(variable, fallback, (raw) => {
    const items = raw.split(',').map((item) => item.trim());
    if (items.some((item) => item === '')) throw new InvalidValue(`has an empty item in "${raw}"`);
    return items;
  });
}

/** A variable that is no longer read: setting it is an error that says what replaced it. */
export function removed(variable: string, replacement: string): Field<undefined> {
  return {
    variable,
    parse(raw) {
      if (raw !== undefined && raw.trim() !== '') throw new InvalidValue(replacement);
      return undefined;
    },
  };
}

/** Comma-separated host:port pairs, e.g. Kafka bootstrap servers. */
export function hostPorts(variable: string, fallback?: readonly string[]): Field<readonly string[]> {
  const items = list(variable, fallback);
  return {
    variable,
    parse(raw) {
      const values = items.parse(raw);
      for (const value of values) {
        const match = /^(.+):(\d{1,5})$/.exec(value);
        if (!match || Number(match[2]) > 65535)
          throw new InvalidValue(`must be host:port[,host:port…], got "${value}"`);
      }
      return values;
    },
  };
}

export function url(variable: string, protocols: readonly string[], fallback?: string): Field<string> {
  return field(variable, fallback, (raw) => {
    let parsed: URL;
    try {
      parsed = new URL(raw);
    } catch {
      throw new InvalidValue(`must be a URL, got "${redactUrl(raw)}"`);
    }
    if (!protocols.includes(parsed.protocol.replace(/:$/, ''))) {
      throw new InvalidValue(`must be a ${protocols.join(' or ')} URL, got "${redactUrl(raw)}"`);
    }
    return raw;
  });
}

/**
 * A password or token: set directly, optional. Its value is never part of an error message
 * and is listed by configSecrets, so loggers can scrub it from every line.
 */
export function secret(variable: string): Field<string> {
  return { ...string(variable, ''), secretsOf: (value) => (value === '' ? [] : [value]) };
}

/**
 * A password kept in a file (a mounted secret): the field's value is the file's content
 * without its trailing line break, read once at startup; empty when the variable is not set.
 * An unreadable or empty file is an error that names the variable and the path, not the content.
 */
export function secretFile(variable: string): Field<string> {
  return {
    variable,
    parse(raw) {
      if (raw === undefined || raw.trim() === '') return '';
      const path = raw.trim();
      const content = readText(path).replace(/\r?\n$/, '');
      if (content === '') throw new InvalidValue(`names the empty file ${path}`);
      return content;
    },
    secretsOf: (value) => (value === '' ? [] : [value]),
  };
}

/** A PEM file of one or more certificates (a CA bundle), read and checked at startup. */
export interface PemCertificates {
  readonly path: string;
  readonly pem: string;
}

/** A CA bundle in PEM, optional: undefined when the variable is not set. */
export function pemCertificates(variable: string): Field<PemCertificates | undefined> {
  return {
    variable,
    parse(raw) {
      if (raw === undefined || raw.trim() === '') return undefined;
      const path = raw.trim();
      const pem = readText(path);
      if (!/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.test(pem)) {
        throw new InvalidValue(
          `must name a PEM file of certificates, but ${path} holds no "BEGIN CERTIFICATE" block`,
        );
      }
      return { path, pem };
    },
  };
}

function readText(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'error';
    throw new InvalidValue(`names ${path}, which cannot be read (${code})`);
  }
}

/** Hides a password in a URL so that config errors and logs never print credentials. */
export function redactUrl(raw: string): string {
  return raw.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:***@');
}

export type ConfigSpec = Record<string, Field<unknown>>;
export type ConfigOf<S extends ConfigSpec> = {
  readonly [K in keyof S]: S[K] extends Field<infer T> ? T : never;
};

export type Check<C> = (config: C) => string | undefined;

/**
 * Parses `env` against `spec`. Throws one CONFIG_INVALID error listing every bad
 * variable; `checks` add cross-field rules (return a message to fail).
 */
export function loadConfig<S extends ConfigSpec>(
  spec: S,
  env: Env = process.env,
  checks: readonly Check<ConfigOf<S>>[] = [],
): ConfigOf<S> {
  const problems: string[] = [];
  const config: Record<string, unknown> = {};
  const secrets: string[] = [];
  for (const [key, spec_] of Object.entries(spec)) {
    try {
      config[key] = spec_.parse(env[spec_.variable]);
      if (spec_.secretsOf) secrets.push(...spec_.secretsOf(config[key]));
    } catch (error) {
      if (!(error instanceof InvalidValue)) throw error;
      problems.push(`${spec_.variable} ${error.message}`);
    }
  }
  if (problems.length === 0) {
    for (const check of checks) {
      const problem = check(config as ConfigOf<S>);
      if (problem) problems.push(problem);
    }
  }
  if (problems.length > 0) {
    throw new PipelineError(ErrorCodes.CONFIG_INVALID, `invalid configuration: ${problems.join('; ')}`, {
      details: { problems },
    });
  }
  const frozen = Object.freeze(config) as ConfigOf<S>;
  SECRETS.set(frozen, Object.freeze(secrets));
  return frozen;
}

const SECRETS = new WeakMap<object, readonly string[]>();

/**
 * The secret values (fields made with `secret` or `secretFile`) of a config that loadConfig
 * returned: what a logger must never print. Empty for any other object.
 */
export function configSecrets(config: object): readonly string[] {
  return SECRETS.get(config) ?? [];
}
