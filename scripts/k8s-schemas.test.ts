import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  convertNode,
  crdSchemas,
  kubernetesFileName,
  kubernetesSchemas,
  type Schema,
} from './k8s-schemas.ts';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta';
/** A small OpenAPI v2 document shaped like Kubernetes' own. */
const swagger: Schema = {
  definitions: {
    [META]: {
      type: 'object',
      properties: {
        name: { type: 'string' },
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        ownerReferences: { type: 'array', items: { $ref: '#/definitions/test.OwnerReference' } },
      },
    },
    'test.OwnerReference': {
      type: 'object',
      required: ['name'],
      properties: { name: { type: 'string' } },
    },
    'io.k8s.apimachinery.pkg.util.intstr.IntOrString': { type: 'string', format: 'int-or-string' },
    'io.k8s.apimachinery.pkg.api.resource.Quantity': { type: 'string' },
    'test.Props': {
      type: 'object',
      properties: { not: { $ref: '#/definitions/test.Props' }, $ref: { type: 'string' } },
    },
    'test.WidgetSpec': {
      type: 'object',
      properties: {
        port: { $ref: '#/definitions/io.k8s.apimachinery.pkg.util.intstr.IntOrString' },
        memory: { $ref: '#/definitions/io.k8s.apimachinery.pkg.api.resource.Quantity' },
        schema: { $ref: '#/definitions/test.Props' },
      },
    },
    'test.Widget': {
      type: 'object',
      properties: {
        apiVersion: { type: 'string' },
        kind: { type: 'string' },
        metadata: { $ref: `#/definitions/${META}` },
        spec: { $ref: '#/definitions/test.WidgetSpec' },
      },
      'x-kubernetes-group-version-kind': [{ group: 'widgets.example.com', version: 'v2', kind: 'Widget' }],
    },
    'test.Unused': { type: 'object', properties: { x: { type: 'string' } } },
  },
};

test('an object with declared properties refuses others; maps and preserved objects stay open', () => {
  const refs = new Set<string>();
  const converted = convertNode(
    {
      type: 'object',
      description: 'dropped',
      properties: {
        labels: { type: 'object', additionalProperties: { type: 'string' } },
        raw: {
          type: 'object',
          'x-kubernetes-preserve-unknown-fields': true,
          properties: { a: { type: 'string' } },
        },
      },
    },
    refs,
  );
  assert.deepEqual(converted, {
    type: 'object',
    properties: {
      labels: { type: 'object', additionalProperties: { type: 'string' } },
      raw: { type: 'object', properties: { a: { type: 'string' } } },
    },
    additionalProperties: false,
  });
  assert.equal(refs.size, 0);
});

test('int-or-string and nullable become what the API server accepts', () => {
  const refs = new Set<string>();
  assert.deepEqual(convertNode({ 'x-kubernetes-int-or-string': true, anyOf: [{ type: 'integer' }] }, refs), {
    oneOf: [{ type: 'string' }, { type: 'integer' }],
  });
  assert.deepEqual(convertNode({ type: 'string', nullable: true }, refs), { type: ['string', 'null'] });
  assert.deepEqual(convertNode({ allOf: [{ $ref: '#/definitions/a.B' }], default: {} }, refs), {
    $ref: '#/definitions/a.B',
  });
  assert.deepEqual([...refs], ['a.B']);
  assert.throws(() => convertNode({ $ref: 'other.json#/x' }, refs), /unsupported \$ref/);
});

test('kind files are named as kubeconform looks them up', () => {
  assert.equal(kubernetesFileName({ group: '', version: 'v1', kind: 'Service' }), 'service-v1.json');
  assert.equal(
    kubernetesFileName({ group: 'apps', version: 'v1', kind: 'StatefulSet' }),
    'statefulset-apps-v1.json',
  );
  assert.equal(
    kubernetesFileName({ group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' }),
    'role-rbac-v1.json',
  );
});

test('a kind file is standalone: its kind pinned, exactly the definitions it reaches, recursion kept as references', () => {
  const files = kubernetesSchemas(swagger, '1.34.4');
  assert.deepEqual(
    files.map((file) => file.path),
    ['v1.34.4-standalone-strict/widget-widgets-v2.json'],
  );
  const schema = files[0]!.schema as {
    properties: Record<string, Schema>;
    definitions: Record<string, Schema>;
    additionalProperties: boolean;
  };
  assert.deepEqual(schema.properties.apiVersion, { type: 'string', enum: ['widgets.example.com/v2'] });
  assert.deepEqual(schema.properties.kind, { type: 'string', enum: ['Widget'] });
  assert.equal(schema.additionalProperties, false);
  assert.deepEqual(Object.keys(schema.definitions), [
    'io.k8s.apimachinery.pkg.api.resource.Quantity',
    META,
    'io.k8s.apimachinery.pkg.util.intstr.IntOrString',
    'test.OwnerReference',
    'test.Props',
    'test.WidgetSpec',
  ]);
  assert.deepEqual(schema.definitions['io.k8s.apimachinery.pkg.api.resource.Quantity'], {
    oneOf: [{ type: 'string' }, { type: 'number' }],
  });
  // Property names that look like keywords are properties, not keywords.
  assert.deepEqual(schema.definitions['test.Props'], {
    type: 'object',
    properties: { not: { $ref: '#/definitions/test.Props' }, $ref: { type: 'string' } },
    additionalProperties: false,
  });
});

test('a reference to an undefined definition is an error, not a schema that accepts anything', () => {
  const broken: Schema = {
    definitions: {
      'test.Thing': {
        type: 'object',
        properties: { spec: { $ref: '#/definitions/test.Missing' } },
        'x-kubernetes-group-version-kind': [{ group: '', version: 'v1', kind: 'Thing' }],
      },
    },
  };
  assert.throws(
    () => kubernetesSchemas(broken, '1.34.4'),
    /references test\.Missing, which it does not define/,
  );
});

const crd = `
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: gadgets.example.com
spec:
  group: example.com
  names: { kind: Gadget, plural: gadgets }
  scope: Namespaced
  versions:
    - name: v1alpha1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          properties:
            apiVersion: { type: string }
            kind: { type: string }
            metadata: { type: object }
            spec:
              type: object
              required: [target]
              properties:
                target: { type: string }
                count:
                  x-kubernetes-int-or-string: true
                  anyOf: [{ type: integer }, { type: string }]
                extra:
                  type: object
                  x-kubernetes-preserve-unknown-fields: true
                note: { type: string, nullable: true }
`;

test('a CRD version becomes a strict schema, with Kubernetes ObjectMeta for its metadata', () => {
  const files = crdSchemas(crd, swagger);
  assert.deepEqual(
    files.map((file) => file.path),
    ['crds/example.com/gadget_v1alpha1.json'],
  );
  const schema = files[0]!.schema as {
    properties: Record<string, Schema>;
    definitions: Record<string, Schema>;
  };
  assert.deepEqual(schema.properties.metadata, { $ref: `#/definitions/${META}` });
  assert.deepEqual(Object.keys(schema.definitions), [META, 'test.OwnerReference']);
  assert.deepEqual(schema.properties.kind, { type: 'string', enum: ['Gadget'] });
  assert.deepEqual(schema.properties.spec, {
    type: 'object',
    required: ['target'],
    properties: {
      target: { type: 'string' },
      count: { oneOf: [{ type: 'string' }, { type: 'integer' }] },
      extra: { type: 'object' },
      note: { type: ['string', 'null'] },
    },
    additionalProperties: false,
  });
});

test('something other than a CRD is refused', () => {
  assert.throws(() => crdSchemas('apiVersion: v1\nkind: ConfigMap\n'), /expected a CustomResourceDefinition/);
});
