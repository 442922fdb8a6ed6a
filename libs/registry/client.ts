/**
 * The registry's REST side, behind a two-method interface so the codec can be unit-tested
 * with an in-memory registry. The real implementation is the SchemaRegistry class of
 * @kafkajs/confluent-schema-registry; this module maps its failures to PipelineErrors.
 */
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
// The package's index does not re-export its error classes; this file is where they live
// (the same path in 3.x and 4.x).
import {
  ConfluentSchemaRegistryCompatibilityError,
  ConfluentSchemaRegistryError,
} from '@kafkajs/confluent-schema-registry/dist/errors.js';
import { certificateFailureOf, ErrorCodes, PipelineError } from '@patternflow/errors';
import { isAvroType } from './avro.ts';

/** Where the registry is and how to reach it: plain data (libs/service builds it from PF_REGISTRY_*). */
export interface RegistryLink {
  /** Base URL of a Confluent-compatible API, e.g. https://127.0.0.1:18443/apis/ccompat/v7. */
  readonly url: string;
  /** HTTP basic auth, sent only when both are set (libs/service refuses them over http). */
  readonly username?: string;
  readonly password?: string;
  /** PEM certificates to trust for an https URL instead of Node's built-in roots. */
  readonly ca?: string;
}

/**
 * The constructor arguments of @kafkajs/confluent-schema-registry's SchemaRegistry for a
 * link: the certificate is always verified (chain and host name), keep-alive connections.
 */
export function confluentRegistryArgs(link: RegistryLink): {
  host: string;
  auth?: { username: string; password: string };
  agent: HttpAgent;
} {
  return {
    host: link.url,
    ...(link.username && link.password ? { auth: { username: link.username, password: link.password } } : {}),
    agent: agentFor(link),
  };
}

const agents = new WeakMap<RegistryLink, HttpAgent>();

function agentFor(link: RegistryLink): HttpAgent {
  let agent = agents.get(link);
  if (!agent) {
    agent = link.url.startsWith('https:')
      ? new HttpsAgent({ keepAlive: true, rejectUnauthorized: true, ...(link.ca ? { ca: link.ca } : {}) })
      : new HttpAgent({ keepAlive: true });
    agents.set(link, agent);
  }
  return agent;
}

export interface RegistryClient {
  /** Id of `schema` under `subject`, registering it first when the subject lacks it. */
  register(subject: string, schema: object): Promise<number>;
  /** The writer schema (Avro JSON) registered under `id`. */
  writerSchema(id: number): Promise<object>;
}

/** The registry-side shape of the library's HTTP failures (its ResponseError). */
interface ResponseErrorLike {
  status?: number;
  message?: string;
}

const statusOf = (error: unknown): number | undefined =>
  typeof error === 'object' && error !== null && typeof (error as ResponseErrorLike).status === 'number'
    ? (error as ResponseErrorLike).status
    : undefined;

/** The library's own "not found": exactly its base class (its subclasses mean other things). */
const isNotFound = (error: unknown): boolean =>
  error instanceof ConfluentSchemaRegistryError && error.constructor === ConfluentSchemaRegistryError;

const messageOf = (error: unknown): string => (error instanceof Error ? error.message : String(error));

/** The status of GET `url` through `agent`, or the transport's error (refused, TLS, timeout). */
function getStatus(url: string, agent: HttpAgent, authorization: string | undefined): Promise<number> {
  const request = url.startsWith('https:') ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const call = request(
      url,
      { agent, timeout: 5_000, headers: authorization ? { authorization } : {} },
      (response) => {
        response.resume();
        resolve(response.statusCode ?? 0);
      },
    );
    call.on('timeout', () =>
      call.destroy(Object.assign(new Error('timed out after 5 s'), { code: 'ETIMEDOUT' })),
    );
    call.on('error', reject);
    call.end();
  });
}

export function confluentRegistryClient(link: RegistryLink): RegistryClient {
  const { url, username } = link;
  const args = confluentRegistryArgs(link);
  // The library retries 5xx answers itself (3 times, exponential from 100 ms); a refused
  // connection comes back at once as status 400 and is left to the caller's retry.
  const registry = new SchemaRegistry({ ...args, clientId: 'patternflow' });
  const authorization = args.auth
    ? `Basic ${Buffer.from(`${args.auth.username}:${args.auth.password}`).toString('base64')}`
    : undefined;
  let apiConfirmed: Promise<void> | undefined;

  /**
   * GET /config, which every Confluent-compatible registry answers, with the link's
   * credentials and TLS settings; the answer says what is wrong when a call fails.
   * Refused credentials (401/403) and a certificate that fails verification are fatal
   * (REGISTRY_AUTH, REGISTRY_TLS): waiting does not fix them. Anything else is unavailable.
   */
  const probe = async (): Promise<void> => {
    let status: number;
    try {
      status = await getStatus(`${url.replace(/\/+$/, '')}/config`, args.agent, authorization);
    } catch (error) {
      const certificate = certificateFailureOf(error);
      if (certificate !== undefined) {
        throw new PipelineError(
          ErrorCodes.REGISTRY_TLS,
          `the TLS certificate of schema registry ${url} failed verification (${certificate}: ${messageOf(error)}): PF_REGISTRY_CA_FILE must hold the CA that signed it, and it must name the host in PF_REGISTRY_URL`,
          { cause: error, details: { url, certificate } },
        );
      }
      throw unavailable(
        'answer GET /config',
        new Error(`GET /config failed: ${messageOf(error)}`, { cause: error }),
      );
    }
    if (status === 401 || status === 403) {
      const who = username
        ? `refused the credentials of PF_REGISTRY_USERNAME "${username}"`
        : 'wants credentials and none are set';
      throw new PipelineError(
        ErrorCodes.REGISTRY_AUTH,
        `schema registry ${url} ${who} (HTTP ${status}): check PF_REGISTRY_USERNAME and PF_REGISTRY_PASSWORD or PF_REGISTRY_PASSWORD_FILE`,
        { details: { url, status } },
      );
    }
    if (status < 200 || status >= 300) {
      throw unavailable(
        'answer as a Confluent-compatible registry',
        new Error(`GET /config answered ${status}: not a Confluent-compatible API`),
      );
    }
  };

  function unavailable(what: string, error: unknown): PipelineError {
    const status = statusOf(error);
    return new PipelineError(
      ErrorCodes.REGISTRY_UNAVAILABLE,
      `schema registry ${url} failed to ${what}: ${messageOf(error)}`,
      { cause: error, details: { url, status } },
    );
  }

  /**
   * A failed library call: 401/403 are refused credentials. The library reports a request
   * that got no answer (refused, reset, a certificate it rejected) as status 400 with only
   * the message, so the probe asks again to learn whether the certificate was the reason.
   */
  const failed = async (what: string, error: unknown): Promise<PipelineError> => {
    const status = statusOf(error);
    if (status === 401 || status === 403 || status === 400) {
      try {
        await probe();
      } catch (failure) {
        if (failure instanceof PipelineError && failure.code !== ErrorCodes.REGISTRY_UNAVAILABLE)
          return failure;
      }
    }
    return unavailable(what, error);
  };

  /**
   * A 404 on /schemas/ids/{id} means "no such id" only if `url` really is a Confluent-API
   * registry; a wrong base path answers 404 to everything. One successful probe settles it
   * for the process.
   */
  const confirmApi = (): Promise<void> => {
    apiConfirmed ??= probe().catch((error: unknown) => {
      apiConfirmed = undefined;
      throw error;
    });
    return apiConfirmed;
  };

  const lookUpAfterRace = async (subject: string, schema: object): Promise<number | undefined> => {
    for (let attempt = 0; attempt < 10; attempt++) {
      await new Promise((resolve) => setTimeout(resolve, 100 * (attempt + 1)));
      try {
        return await registry.getRegistryIdBySchema(subject, schema as never);
      } catch {
        // not there yet
      }
    }
    return undefined;
  };

  return {
    async register(subject, schema) {
      try {
        // Look up first: re-registering on every start is then a read, and it never trips
        // over the library's compatibility-level check below.
        return await registry.getRegistryIdBySchema(subject, schema as never);
      } catch (error) {
        // The library turns the registry's 404 ("subject or schema not found") into its
        // base error class, without a status; anything else is a transport failure.
        if (!isNotFound(error)) throw await failed(`look up a schema under ${subject}`, error);
      }
      try {
        const { id } = await registry.register(schema as never, { subject });
        return id;
      } catch (error) {
        const status = statusOf(error);
        if (error instanceof ConfluentSchemaRegistryCompatibilityError) {
          // Two stages registering the same schema at once (the tagger its output, the
          // router that output as its input): the loser sees the subject before the
          // winner set its level. The schema is then there to be looked up.
          const id = await lookUpAfterRace(subject, schema);
          if (id !== undefined) return id;
          throw new PipelineError(
            ErrorCodes.CONFIG_INVALID,
            `subject ${subject}: ${error.message}; the codec registers new subjects as BACKWARD, set the subject's level with PUT /config/${subject} {"compatibility":"BACKWARD"}`,
            { cause: error, details: { subject } },
          );
        }
        if (status === 409 || status === 422) {
          // 409 is also what the loser of a start race gets when it sets the level the
          // winner just set ("A rule named 'COMPATIBILITY' already exists").
          const id = status === 409 ? await lookUpAfterRace(subject, schema) : undefined;
          if (id !== undefined) return id;
          throw new PipelineError(
            ErrorCodes.CONFIG_INVALID,
            `registry refused the schema for ${subject} (HTTP ${status}): ${messageOf(error)}`,
            { cause: error, details: { subject, status } },
          );
        }
        throw await failed(`register a schema under ${subject}`, error);
      }
    },

    async writerSchema(id) {
      let type: unknown;
      try {
        type = await registry.getSchema(id);
      } catch (error) {
        if (statusOf(error) === 404) {
          await confirmApi();
          throw new PipelineError(
            ErrorCodes.UNKNOWN_SCHEMA_ID,
            `schema id ${id} is unknown to the registry`,
            { cause: error, details: { schemaId: id } },
          );
        }
        throw await failed(`fetch schema id ${id}`, error);
      }
      if (!isAvroType(type)) {
        throw new PipelineError(ErrorCodes.SCHEMA_VIOLATION, `schema id ${id} is not an Avro schema`, {
          details: { schemaId: id },
        });
      }
      // exportAttrs keeps logicalType and other attributes; the codec rebuilds the type
      // with its own avsc options.
      return type.schema({ exportAttrs: true }) as object;
    },
  };
}
