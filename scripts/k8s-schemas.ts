/**
 * Builds the JSON schemas kubeconform validates the Helm chart's manifests with, offline,
 * from specifications that come out of the Go module proxy (scripts/helm-check.sh fetches
 * them): Kubernetes' own OpenAPI v2 document (k8s.io/kubernetes api/openapi-spec/swagger.json)
 * and CustomResourceDefinition YAML files (KEDA's, the Prometheus operator's).
 *
 *   node scripts/k8s-schemas.ts --out <dir> --kubernetes-version 1.34.4 \
 *     --swagger <swagger.json> [--crd <crd.yaml>]...
 *
 * Layout (what kubeconform's -schema-location templates point at):
 *   <out>/v<version>-standalone-strict/<kind>-<group>-<version>.json   Kubernetes kinds (`{{ .ResourceKind }}{{ .KindSuffix }}`)
 *   <out>/crds/<group>/<kind>_<version>.json                             custom resources (`{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}`)
 *
 * Every file is standalone: the kind's schema plus, under `definitions`, exactly the
 * definitions it reaches (recursive types such as JSONSchemaProps stay references instead
 * of being inlined forever). "Strict" means an object with declared properties rejects
 * any other property, so a misspelt or misplaced field fails validation instead of being
 * dropped silently by the API server; objects Kubernetes declares open (maps,
 * x-kubernetes-preserve-unknown-fields) stay open. Nulls are not accepted where the
 * specification does not say `nullable`: a rendered `null` is a values mistake.
 */
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseAllDocuments } from 'yaml';

export type Schema = { [keyword: string]: unknown };

export interface SchemaFile {
  /** Path relative to the output directory. */
  path: string;
  schema: Schema;
}

const DEFINITION_REF = '#/definitions/';
const OBJECT_META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
/** Kubernetes serializes a quantity as a string, but YAML authors write `cpu: 2` and the API server takes it. */
const QUANTITY = 'io.k8s.apimachinery.pkg.api.resource.Quantity';
const INT_OR_STRING: Schema = { oneOf: [{ type: 'string' }, { type: 'integer' }] };
/** Keywords copied as they are (draft 4, the draft kubeconform compiles these schemas with). */
const PLAIN_KEYWORDS = [
  'type',
  'format',
  'enum',
  'required',
  'minimum',
  'maximum',
  'exclusiveMinimum',
  'exclusiveMaximum',
  'minLength',
  'maxLength',
  'pattern',
  'minItems',
  'maxItems',
  'uniqueItems',
  'minProperties',
  'maxProperties',
  'multipleOf',
] as const;

/** An OpenAPI v2 / structural-schema node → a strict JSON schema node; `refs` collects referenced definitions. */
export function convertNode(node: Schema, refs: Set<string>): Schema {
  if (typeof node.$ref === 'string') {
    const name = definitionName(node.$ref);
    refs.add(name);
    return { $ref: DEFINITION_REF + name };
  }
  // Some OpenAPI documents wrap a reference in allOf to give it a description or default.
  if (Array.isArray(node.allOf) && node.allOf.length === 1 && Object.keys(node).every(isAnnotationOrAllOf)) {
    return convertNode(node.allOf[0] as Schema, refs);
  }
  if (node['x-kubernetes-int-or-string'] === true || node.format === 'int-or-string') {
    return nullable(node, { ...INT_OR_STRING });
  }
  const out: Schema = {};
  for (const keyword of PLAIN_KEYWORDS) {
    if (node[keyword] !== undefined) out[keyword] = node[keyword];
  }
  if (node.properties !== undefined) {
    const properties: Schema = {};
    for (const [name, child] of Object.entries(node.properties as Record<string, Schema>)) {
      properties[name] = convertNode(child, refs);
    }
    out.properties = properties;
  }
  if (node.items !== undefined && !Array.isArray(node.items))
    out.items = convertNode(node.items as Schema, refs);
  for (const combinator of ['allOf', 'anyOf', 'oneOf'] as const) {
    const branches = node[combinator];
    if (Array.isArray(branches))
      out[combinator] = branches.map((branch) => convertNode(branch as Schema, refs));
  }
  if (node.not !== undefined) out.not = convertNode(node.not as Schema, refs);
  const preserveUnknown = node['x-kubernetes-preserve-unknown-fields'] === true;
  if (typeof node.additionalProperties === 'object' && node.additionalProperties !== null) {
    out.additionalProperties = convertNode(node.additionalProperties as Schema, refs);
  } else if (typeof node.additionalProperties === 'boolean') {
    out.additionalProperties = node.additionalProperties;
  } else if (node.properties !== undefined && !preserveUnknown) {
    out.additionalProperties = false;
  }
  return nullable(node, out);
}

function isAnnotationOrAllOf(keyword: string): boolean {
  return keyword === 'allOf' || keyword === 'description' || keyword === 'default';
}

function nullable(node: Schema, out: Schema): Schema {
  if (node.nullable !== true) return out;
  if (typeof out.type === 'string') return { ...out, type: [out.type, 'null'] };
  return { anyOf: [out, { type: 'null' }] };
}

function definitionName(ref: string): string {
  if (!ref.startsWith(DEFINITION_REF)) throw new Error(`unsupported $ref "${ref}" (only ${DEFINITION_REF}…)`);
  return ref.slice(DEFINITION_REF.length);
}

/** The definitions of an OpenAPI v2 document, converted, with Quantity and IntOrString made lenient as the API server is. */
function convertDefinitions(swagger: Schema): Map<string, { schema: Schema; refs: Set<string> }> {
  const definitions = swagger.definitions as Record<string, Schema> | undefined;
  if (!definitions || typeof definitions !== 'object')
    throw new Error('not an OpenAPI v2 document: no definitions');
  const converted = new Map<string, { schema: Schema; refs: Set<string> }>();
  for (const [name, definition] of Object.entries(definitions)) {
    const refs = new Set<string>();
    const schema =
      name === QUANTITY ? { oneOf: [{ type: 'string' }, { type: 'number' }] } : convertNode(definition, refs);
    converted.set(name, { schema, refs });
  }
  return converted;
}

/** The definitions reachable from `roots`, converted. */
function reachable(
  roots: Iterable<string>,
  converted: Map<string, { schema: Schema; refs: Set<string> }>,
): Record<string, Schema> {
  const found: Record<string, Schema> = {};
  const pending = [...roots];
  while (pending.length > 0) {
    const name = pending.pop()!;
    if (found[name] !== undefined) continue;
    const entry = converted.get(name);
    if (!entry) throw new Error(`the specification references ${name}, which it does not define`);
    found[name] = entry.schema;
    pending.push(...entry.refs);
  }
  return Object.fromEntries(Object.entries(found).sort(([a], [b]) => a.localeCompare(b)));
}

interface GroupVersionKind {
  group: string;
  version: string;
  kind: string;
}

function apiVersionOf({ group, version }: GroupVersionKind): string {
  return group === '' ? version : `${group}/${version}`;
}

/** kubeconform's `{{ .ResourceKind }}{{ .KindSuffix }}.json` for a kind. */
export function kubernetesFileName(gvk: GroupVersionKind): string {
  const groupPrefix = gvk.group.split('.')[0]!.toLowerCase();
  const suffix = gvk.group === '' ? `-${gvk.version}` : `-${groupPrefix}-${gvk.version}`;
  return `${gvk.kind.toLowerCase()}${suffix}.json`;
}

/** Pins apiVersion and kind, so a document never validates against another kind's schema. */
function pinKind(schema: Schema, gvk: GroupVersionKind): Schema {
  const properties = { ...(schema.properties as Schema | undefined) };
  properties.apiVersion = { type: 'string', enum: [apiVersionOf(gvk)] };
  properties.kind = { type: 'string', enum: [gvk.kind] };
  return { ...schema, properties };
}

/** One standalone, strict schema per kind the OpenAPI v2 document declares. */
export function kubernetesSchemas(swagger: Schema, kubernetesVersion: string): SchemaFile[] {
  const converted = convertDefinitions(swagger);
  const directory = `v${kubernetesVersion}-standalone-strict`;
  const files: SchemaFile[] = [];
  const definitions = swagger.definitions as Record<string, Schema>;
  for (const [name, definition] of Object.entries(definitions)) {
    const kinds = definition['x-kubernetes-group-version-kind'];
    if (!Array.isArray(kinds)) continue;
    const entry = converted.get(name)!;
    for (const gvk of kinds as GroupVersionKind[]) {
      files.push({
        path: join(directory, kubernetesFileName(gvk)),
        schema: { ...pinKind(entry.schema, gvk), definitions: reachable(entry.refs, converted) },
      });
    }
  }
  return files;
}

/**
 * One standalone, strict schema per version of each CustomResourceDefinition. A CRD's
 * own schema says only `metadata: {type: object}`; Kubernetes' ObjectMeta is put in its
 * place (when the OpenAPI document is given), so metadata is checked as strictly as a
 * built-in kind's.
 */
export function crdSchemas(crdYaml: string, swagger?: Schema): SchemaFile[] {
  const converted = swagger ? convertDefinitions(swagger) : undefined;
  const files: SchemaFile[] = [];
  for (const document of parseAllDocuments(crdYaml)) {
    if (document.errors.length > 0) throw new Error(`invalid CRD YAML: ${document.errors[0]!.message}`);
    const crd = document.toJS() as Schema | null;
    if (!crd) continue;
    if (crd.kind !== 'CustomResourceDefinition') {
      throw new Error(`expected a CustomResourceDefinition, got kind ${String(crd.kind)}`);
    }
    const spec = crd.spec as {
      group: string;
      names: { kind: string };
      versions: { name: string; schema?: { openAPIV3Schema?: Schema } }[];
    };
    for (const version of spec.versions) {
      const openApi = version.schema?.openAPIV3Schema;
      if (!openApi) throw new Error(`${spec.names.kind} ${version.name} has no openAPIV3Schema`);
      const refs = new Set<string>();
      let schema = convertNode(openApi, refs);
      if (converted) {
        schema = {
          ...schema,
          properties: { ...(schema.properties as Schema), metadata: { $ref: DEFINITION_REF + OBJECT_META } },
        };
        refs.add(OBJECT_META);
      }
      const gvk = { group: spec.group, version: version.name, kind: spec.names.kind };
      files.push({
        path: join('crds', spec.group, `${spec.names.kind.toLowerCase()}_${version.name}.json`),
        schema: {
          ...pinKind(schema, gvk),
          ...(converted && refs.size > 0 ? { definitions: reachable(refs, converted) } : {}),
        },
      });
    }
  }
  return files;
}

function parseArguments(argv: readonly string[]) {
  const options = { out: '', kubernetesVersion: '', swagger: '', crds: [] as string[] };
  for (let i = 0; i < argv.length; i += 2) {
    const [flag, value] = [argv[i], argv[i + 1]];
    if (value === undefined) throw new Error(`${flag} needs a value`);
    if (flag === '--out') options.out = value;
    else if (flag === '--kubernetes-version') options.kubernetesVersion = value;
    else if (flag === '--swagger') options.swagger = value;
    else if (flag === '--crd') options.crds.push(value);
    else throw new Error(`unknown argument ${flag}`);
  }
  if (!options.out || !options.swagger || !/^\d+\.\d+\.\d+$/.test(options.kubernetesVersion)) {
    throw new Error(
      'usage: node scripts/k8s-schemas.ts --out <dir> --kubernetes-version <x.y.z> --swagger <swagger.json> [--crd <crd.yaml>]...',
    );
  }
  return options;
}

function main(argv: readonly string[]): void {
  const options = parseArguments(argv);
  const swagger = JSON.parse(readFileSync(options.swagger, 'utf8')) as Schema;
  const files = [
    ...kubernetesSchemas(swagger, options.kubernetesVersion),
    ...options.crds.flatMap((file) => crdSchemas(readFileSync(file, 'utf8'), swagger)),
  ];
  // Built into a temporary sibling first.
  const staging = `${options.out}.tmp-${process.pid}`;
  rmSync(staging, { recursive: true, force: true });
  for (const file of files) {
    const path = join(staging, file.path);
    mkdirSync(join(path, '..'), { recursive: true });
    writeFileSync(path, JSON.stringify(file.schema));
  }
  rmSync(options.out, { recursive: true, force: true });
  mkdirSync(join(options.out, '..'), { recursive: true });
  // One rename: an interrupted build never leaves a half-written tree behind that the
  // next run would take for a finished one.
  renameSync(staging, options.out);
  console.log(`k8s-schemas: ${files.length} schemas in ${options.out}`);
}

if (import.meta.main) {
  try {
    main(process.argv.slice(2));
  } catch (error) {
    console.error(`k8s-schemas: ${(error as Error).message}`);
    process.exit(1);
  }
}
