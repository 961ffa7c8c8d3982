// The NetworkPolicies of the Kubernetes target: their content, the Kubernetes schemas, the switch that
// turns them off, and the names they refuse. What they allow as a whole is checked by
// test/render/reachability.test.ts.
import { App, ContainerImage, Mesh, MeshGateway, MicroService, PyfleetValidationError, Stack, StackProps } from '../../lib';
import { validateKubernetesObject } from '../support/checks';

const image = (name: string): ContainerImage => ContainerImage.fromRegistry(`registry.example.com/${name}:1.0.0`);

function build(props: StackProps = {}): { app: App; stack: Stack } {
  const app = new App({ outdir: '/nonexistent-pyfleet-test' });
  const stack = new Stack(app, 'shop', { labels: { team: 'web' }, ...props });
  const users = new MicroService(stack, 'users', { image: image('users'), port: 8001, additionalPorts: { metrics: 9100 } });
  const orders = new MicroService(stack, 'orders', { image: image('orders'), port: 8002, calls: [users], expose: { port: 80 } });
  if (props.mesh) new MeshGateway(stack, 'public', { service: orders, hosts: ['shop.example.com'], httpPort: 8080 });
  return { app, stack };
}

const kube = (app: App): any[] => app.synthesize()[0].results.kubernetes as any[];
const policies = (objs: any[]): any[] => objs.filter((o) => o.kind === 'NetworkPolicy');
const byName = (objs: any[], name: string): any => policies(objs).find((o) => o.metadata.name === name);

describe('NetworkPolicies', () => {
  test('default-deny selects every pod for ingress and egress, and allows nothing', () => {
    const dd = byName(kube(build().app), 'default-deny');
    expect(dd.apiVersion).toBe('networking.k8s.io/v1');
    expect(dd.metadata).toEqual({ name: 'default-deny', namespace: 'shop', labels: { 'team': 'web', 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'pyfleet' } });
    expect(dd.spec).toEqual({ podSelector: {}, policyTypes: ['Ingress', 'Egress'] });
  });

  test('a callee admits its callers on every named port; an exposed service anyone on http; egress to callees and DNS', () => {
    const objs = kube(build().app);
    const users = byName(objs, 'users');
    expect(users.spec.podSelector).toEqual({ matchLabels: { app: 'users' } });
    expect(users.spec.ingress).toEqual([{ from: [{ podSelector: { matchLabels: { app: 'orders' } } }], ports: [{ port: 'http', protocol: 'TCP' }, { port: 'metrics', protocol: 'TCP' }] }]);
    const dns = { to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'kube-system' } }, podSelector: { matchLabels: { 'k8s-app': 'kube-dns' } } }], ports: [{ port: 53, protocol: 'UDP' }, { port: 53, protocol: 'TCP' }] };
    expect(users.spec.egress).toEqual([dns]);
    const orders = byName(objs, 'orders');
    expect(orders.spec.ingress).toEqual([{ ports: [{ port: 'http', protocol: 'TCP' }] }]);
    expect(orders.spec.egress).toEqual([{ to: [{ podSelector: { matchLabels: { app: 'users' } } }], ports: [{ port: 'http', protocol: 'TCP' }, { port: 'metrics', protocol: 'TCP' }] }, dns]);
    // the named ports are the ones the Services target and the containers declare
    const svc = objs.find((o) => o.kind === 'Service' && o.metadata.name === 'users');
    expect(svc.spec.ports.map((p: any) => p.targetPort)).toEqual(['http', 'metrics']);
    // policies are applied before any workload runs
    const kinds = objs.map((o) => o.kind);
    expect(kinds.lastIndexOf('NetworkPolicy')).toBeLessThan(kinds.indexOf('Deployment'));
  });

  test('in an Istio mesh: egress to istiod on 15012, ingress from the ingress gateway behind a MeshGateway', () => {
    const { app } = build({ mesh: Mesh.istio({ ingressNamespace: 'istio-ingress', controlPlaneNamespace: 'istio-control' }) });
    const objs = kube(app);
    const orders = byName(objs, 'orders');
    expect(orders.spec.ingress).toContainEqual({
      from: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-ingress' } }, podSelector: { matchLabels: { istio: 'ingressgateway' } } }],
      ports: [{ port: 'http', protocol: 'TCP' }],
    });
    for (const p of policies(objs).filter((x) => x.metadata.name !== 'default-deny')) {
      expect(p.spec.egress).toContainEqual({ to: [{ namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'istio-control' } }, podSelector: { matchLabels: { app: 'istiod' } } }], ports: [{ port: 15012, protocol: 'TCP' }] });
    }
  });

  test('every NetworkPolicy passes the Kubernetes schemas and the field lists (kubernetes-models, cdk8s-plus-27)', () => {
    for (const props of [{}, { mesh: Mesh.istio() }]) {
      const objs = policies(kube(build(props).app));
      expect(objs).toHaveLength(3);
      expect(objs.flatMap(validateKubernetesObject)).toEqual([]);
    }
    // the check catches a typo in a policy
    const bad = JSON.parse(JSON.stringify(byName(kube(build().app), 'users')));
    bad.spec.ingress[0].form = bad.spec.ingress[0].from;
    expect(validateKubernetesObject(bad).join('\n')).toMatch(/unknown field spec\.ingress\[0\]\.form/);
  });

  test('networkPolicy: { enabled: false } writes none; a service named default-deny is refused while they are on', () => {
    expect(policies(kube(build({ networkPolicy: { enabled: false } }).app))).toEqual([]);
    const app = new App({ outdir: '/nonexistent-pyfleet-test' });
    const stack = new Stack(app, 'shop');
    new MicroService(stack, 'default-deny', { image: image('x') });
    expect(() => app.synthesize()).toThrow(PyfleetValidationError);
    expect(() => app.synthesize()).toThrow(/shop\/default-deny: a service named "default-deny" would share its NetworkPolicy's name.*Fix: rename the service, or turn the policies off with networkPolicy: \{ enabled: false \}/);
    const off = new App({ outdir: '/nonexistent-pyfleet-test' });
    new MicroService(new Stack(off, 'shop', { networkPolicy: { enabled: false } }), 'default-deny', { image: image('x') });
    expect(() => off.synthesize()).not.toThrow();
    expect(() => new Stack(new App(), 's', { networkPolicy: { enabled: 'no' as unknown as boolean } })).toThrow(/networkPolicy.enabled is "no", not a boolean/);
  });
});
