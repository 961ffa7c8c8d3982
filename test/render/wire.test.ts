// The one-pass serializer of the Kubernetes target against the generated toJson functions it replaces.
import * as fs from 'fs';
import * as path from 'path';
import { k8s } from 'cdk8s-plus-27';
import { kubeObject } from '../../lib/render/kubernetes/object';
import { toWire, WIRE_MAP_FIELDS, WIRE_RENAMES } from '../../lib/render/kubernetes/wire';

const generatedSources = (): string[] => [
  require.resolve('cdk8s-plus-27/lib/imports/k8s.js'),
  ...fs.readdirSync(path.join(__dirname, '../../lib/imports')).filter((f) => f.endsWith('.ts')).map((f) => path.join(__dirname, '../../lib/imports', f)),
];

test('the rename table is exactly the renames the generated serializers make', () => {
  const found: Record<string, string> = {};
  for (const file of generatedSources()) {
    // Generated lines read `'setHostnameAsFQDN': obj.setHostnameAsFqdn,` (possibly through a map or a toJson call).
    for (const m of fs.readFileSync(file, 'utf8').matchAll(/'([^']+)': [^,\n]*?obj\.([A-Za-z0-9_]+)/g)) {
      if (m[1] !== m[2]) found[m[2]] = m[1];
    }
  }
  expect(Object.keys(found).length).toBeGreaterThan(30);
  expect(found).toEqual(WIRE_RENAMES);
});

test('the map-field list is exactly the free-form map fields of the generated types', () => {
  const found = new Set<string>();
  const k8sTypes = require.resolve('cdk8s-plus-27/lib/imports/k8s.d.ts');
  for (const file of [k8sTypes, ...generatedSources().filter((f) => f.endsWith('.ts'))]) {
    const text = fs.readFileSync(file, 'utf8');
    // `readonly labels?: {` followed by `[key: string]: ...` (multi-line in the .d.ts, one line in the imports).
    for (const m of text.matchAll(/readonly ([A-Za-z0-9_]+)\??: \{\s*\[key: string\]/g)) found.add(m[1]);
  }
  expect([...found].sort()).toEqual([...WIRE_MAP_FIELDS].sort());
});

test('renames apply to fields, never to the keys of a map; IntOrString and Quantity become values; null and undefined go', () => {
  const props: k8s.KubeDeploymentProps = {
    metadata: { name: 'web', labels: { clusterIp: 'kept', app: 'web' }, annotations: { hostIpc: 'kept' } },
    spec: {
      selector: { matchLabels: { app: 'web' } },
      strategy: { rollingUpdate: { maxSurge: k8s.IntOrString.fromNumber(1), maxUnavailable: k8s.IntOrString.fromString('10%') } },
      template: {
        spec: {
          setHostnameAsFqdn: false, hostIpc: false, nodeSelector: { setHostnameAsFqdn: 'kept', constructor: 'kept' } as any,
          containers: [{ name: 'app', resources: { limits: { cpu: k8s.Quantity.fromString('500m') } }, image: undefined }],
        },
      },
    },
  };
  const wire = toWire(props) as any;
  expect(wire.metadata).toEqual({ annotations: { hostIpc: 'kept' }, labels: { app: 'web', clusterIp: 'kept' }, name: 'web' });
  expect(Object.keys(wire.metadata.labels)).toEqual(['app', 'clusterIp']);
  const pod = wire.spec.template.spec;
  expect(Object.keys(pod)).toEqual(['containers', 'hostIPC', 'nodeSelector', 'setHostnameAsFQDN']);
  expect(pod.nodeSelector).toEqual({ constructor: 'kept', setHostnameAsFqdn: 'kept' });
  expect(pod.containers).toEqual([{ name: 'app', resources: { limits: { cpu: '500m' } } }]);
  expect(wire.spec.strategy.rollingUpdate).toEqual({ maxSurge: 1, maxUnavailable: '10%' });
  // The same as the generated serializer, sorted and without undefined.
  const ref = JSON.parse(JSON.stringify(k8s.toJson_KubeDeploymentProps(props)));
  expect(JSON.stringify(wire)).toBe(JSON.stringify(sortDeep(ref)));
});

test('under the check (on in every test run), a serializer drift fails loudly', () => {
  expect(process.env.PYFLEET_CHECK_SERIALIZER).toBe('1');
  const props: k8s.KubeServiceAccountProps = { metadata: { name: 'a' }, automountServiceAccountToken: false };
  expect(kubeObject(k8s.KubeServiceAccount.GVK, k8s.toJson_KubeServiceAccountProps, props)).toEqual({ apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'a' }, automountServiceAccountToken: false });
  const drifted = (p: k8s.KubeServiceAccountProps): unknown => ({ ...k8s.toJson_KubeServiceAccountProps(p), automountServiceAccountToken: true });
  expect(() => kubeObject(k8s.KubeServiceAccount.GVK, drifted, props)).toThrow(/serializer differs from the generated toJson for ServiceAccount/);
});

function sortDeep(v: any): any {
  if (Array.isArray(v)) return v.map(sortDeep);
  if (v === null || typeof v !== 'object') return v;
  return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortDeep(v[k])]));
}
