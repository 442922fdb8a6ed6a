/**
 * The registry's REST side, behind a two-method interface so the codec can be unit-tested
 * with an in-memory registry. The real implementation is the SchemaRegistry class of
 * @kafkajs/confluent-schema-registry; this module maps its failures to PipelineErrors.
 */
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
// The package's index does not re-export its error classes; this file is where they live
// (the same path in 3.x and 4.x).
import {
  ConfluentSchemaRegistryCompatibilityError,
  ConfluentSchemaRegistryError,
} from '@kafkajs/confluent-schema-registry/dist/errors.js';
import { ErrorCodes, PipelineError } from '@patternflow/errors';
import { isAvroType } from './avro.ts';

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

function unavailable(url: string, what: string, error: unknown): PipelineError {
  const status = statusOf(error);
  return new PipelineError(
    ErrorCodes.REGISTRY_UNAVAILABLE,
    `schema registry ${url} failed to ${what}: ${messageOf(error)}`,
    { cause: error, details: { url, status } },
  );
}

export function confluentRegistryClient(url: string): RegistryClient {
  // The library retries 5xx answers itself (3 times, exponential from 100 ms); a refused
  // connection comes back at once as status 400 and is left to the caller's retry.
  const registry = new SchemaRegistry({ host: url, clientId: 'patternflow' });
  let apiConfirmed: Promise<void> | undefined;

  /**
   * A 404 on /schemas/ids/{id} means "no such id" only if `url` really is a Confluent-API
   * registry; a wrong base path answers 404 to everything. GET /config exists on every
   * Confluent-compatible registry, so one successful probe settles it for the process.
   */
  const confirmApi = (): Promise<void> => {
    apiConfirmed ??= fetch(`${url.replace(/\/+$/, '')}/config`, { signal: AbortSignal.timeout(5_000) })
      .then(
        (response) => {
          if (!response.ok) {
            throw new Error(`GET /config answered ${response.status}: not a Confluent-compatible API`);
          }
        },
        (error: unknown) => {
          throw new Error(`GET /config failed: ${messageOf(error)}`);
        },
      )
      .catch((error: unknown) => {
        apiConfirmed = undefined;
        throw unavailable(url, 'answer as a Confluent-compatible registry', error);
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
        if (!isNotFound(error)) throw unavailable(url, `look up a schema under ${subject}`, error);
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
        throw unavailable(url, `register a schema under ${subject}`, error);
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
        throw unavailable(url, `fetch schema id ${id}`, error);
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
