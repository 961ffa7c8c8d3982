import * as path from 'path';
import { JsonPatch } from 'cdk8s';
import {
  App, ContainerImage, Cpu, DisruptionBudget, Duration, FastApiApp, Kubernetes, Mesh, MeshRoute, MicroService, PyfleetError, PyfleetValidationError,
  Size, Stack, TopologySpread,
} from '../../lib';
import { crossObjectProblems, validateComposeSchema, validateKubernetesObject } from '../support/checks';
import { synth, Synthesized } from '../support/synth';

const SHOP = path.join(__dirname, '..', '..', 'examples', 'shop', 'services');
const image = (tag = '1.0.0'): ContainerImage => ContainerImage.fromRegistry(`ghcr.io/acme/orders:${tag}`);

function thrown(fn: () => unknown): PyfleetError {
  try {
    fn();
  } catch (e) {
    if (e instanceof PyfleetError) return e;
    throw e;
  }
  throw new Error('expected a PyfleetError');
}

/** The problems a synth reports (nothing is written). */
function synthProblems(build: (app: App) => void): PyfleetError[] {
  const app = new App({ outdir: path.join(__dirname, 'never-written') });
  build(app);
  try {
    app.synthesize();
  } catch (e) {
    if (e instanceof PyfleetValidationError) return e.errors;
    throw e;
  }
  return [];
}

describe('autoscaling, disruption budgets and spread on Kubernetes', () => {
  let out: Synthesized;
  let warnings: Array<{ constructPath: string; message: string }>;
  beforeAll(() => {
    out = synth((app) => {
      const stack = new Stack(app, 'shop', { namespace: 'shop' });
      const orders = new MicroService(stack, 'order-service', {
        image: image(), cpu: Cpu.millis(1000), cpuRequest: Cpu.millis(500), memory: Size.mebibytes(512), memoryRequest: Size.mebibytes(256),
        autoscale: { min: 2, max: 10, cpuUtilization: 150, memoryUtilization: 80, scaleDownStabilization: Duration.minutes(10) },
      });
      orders.addVersion('v2', { image: image('2.0.0'), autoscale: { min: 3, max: 6 }, disruptionBudget: DisruptionBudget.minAvailable(2) });
      orders.addVersion('v3', { image: image('3.0.0'), replicas: 1 });
      new MicroService(stack, 'user-service', { image: image(), topologySpread: TopologySpread.nodesAndZones(), disruptionBudget: DisruptionBudget.maxUnavailable(2), replicas: 4 });
      new MicroService(stack, 'batch', { image: image(), topologySpread: TopologySpread.none(), disruptionBudget: DisruptionBudget.none() });
      warnings = app.warnings();
    });
  });
  afterAll(() => out.cleanup());

  test('an autoscaled version gets an autoscaling/v2 HPA on CPU (and memory when asked) with scale-down stabilization', () => {
    const hpa = out.find('shop', 'HorizontalPodAutoscaler', 'order-service-v1');
    expect(hpa.apiVersion).toBe('autoscaling/v2');
    expect(hpa.metadata.namespace).toBe('shop');
    expect(hpa.metadata.labels).toMatchObject({ app: 'order-service', version: 'v1' });
    expect(hpa.spec).toEqual({
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: 'order-service-v1' },
      minReplicas: 2,
      maxReplicas: 10,
      metrics: [
        { type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 150 } } },
        { type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 80 } } },
      ],
      behavior: { scaleDown: { stabilizationWindowSeconds: 600 } },
    });
    // Defaults: 70% CPU only, a 5-minute window.
    const v2 = out.find('shop', 'HorizontalPodAutoscaler', 'order-service-v2');
    expect(v2.spec.metrics).toEqual([{ type: 'Resource', resource: { name: 'cpu', target: { type: 'Utilization', averageUtilization: 70 } } }]);
    expect(v2.spec.behavior.scaleDown.stabilizationWindowSeconds).toBe(300);
    expect([v2.spec.minReplicas, v2.spec.maxReplicas]).toEqual([3, 6]);
  });

  test('a Deployment with an HPA has no replicas; one without keeps its count', () => {
    const v1 = out.find('shop', 'Deployment', 'order-service-v1');
    expect('replicas' in v1.spec).toBe(false);
    expect('replicas' in out.find('shop', 'Deployment', 'order-service-v2').spec).toBe(false);
    expect(out.find('shop', 'Deployment', 'order-service-v3').spec.replicas).toBe(1);
    expect(out.find('shop', 'Deployment', 'user-service-v1').spec.replicas).toBe(4);
    // The requests the HPA computes utilization from are there.
    expect(v1.spec.template.spec.containers[0].resources.requests).toEqual({ cpu: '500m', memory: '256Mi' });
    expect(out.k8s('shop').filter((o) => o.kind === 'HorizontalPodAutoscaler').map((o) => o.metadata.name)).toEqual(['order-service-v1', 'order-service-v2']);
  });

  test('a PodDisruptionBudget for each version with two or more pods (autoscale.min counts), none for one pod or none()', () => {
    const pdbs = out.k8s('shop').filter((o) => o.kind === 'PodDisruptionBudget');
    expect(pdbs.map((o) => o.metadata.name)).toEqual(['order-service-v1', 'order-service-v2', 'user-service-v1']);
    expect(pdbs[0].apiVersion).toBe('policy/v1');
    expect(pdbs[0].spec).toEqual({ maxUnavailable: 1, selector: { matchLabels: { app: 'order-service', version: 'v1' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdbs[1].spec).toEqual({ minAvailable: 2, selector: { matchLabels: { app: 'order-service', version: 'v2' } }, unhealthyPodEvictionPolicy: 'AlwaysAllow' });
    expect(pdbs[2].spec.maxUnavailable).toBe(2);
  });

  test('soft topology spread over nodes by default, nodes and zones when asked, none when turned off', () => {
    const spread = (name: string): any => out.find('shop', 'Deployment', name).spec.template.spec.topologySpreadConstraints;
    const soft = (key: string, app: string, version: string): object => ({ maxSkew: 1, topologyKey: key, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { app, version } } });
    expect(spread('order-service-v2')).toEqual([soft('kubernetes.io/hostname', 'order-service', 'v2')]);
    expect(spread('order-service-v3')).toEqual([soft('kubernetes.io/hostname', 'order-service', 'v3')]);
    expect(spread('user-service-v1')).toEqual([soft('kubernetes.io/hostname', 'user-service', 'v1'), soft('topology.kubernetes.io/zone', 'user-service', 'v1')]);
    expect(spread('batch-v1')).toBeUndefined();
  });

  test('apply order: each HPA and PDB after its Deployment', () => {
    const order = out.k8s('shop').map((o) => `${o.kind}/${o.metadata.name}`);
    const at = (k: string): number => order.indexOf(k);
    for (const name of ['order-service-v1', 'order-service-v2']) {
      expect(at(`Deployment/${name}`)).toBeLessThan(at(`PodDisruptionBudget/${name}`));
      expect(at(`PodDisruptionBudget/${name}`)).toBeLessThan(at(`HorizontalPodAutoscaler/${name}`));
    }
  });

  test('every object passes the strict schema checks and the cross-object checks', () => {
    const objects = out.k8s('shop');
    expect(objects.flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(objects)).toEqual([]);
  });

  test('compose runs autoscale.min containers and says so in a warning', () => {
    const doc = out.compose('shop');
    expect(validateComposeSchema(doc)).toEqual([]);
    expect(doc.services['order-service-v1'].deploy.replicas).toBe(2);
    expect(doc.services['order-service-v2'].deploy.replicas).toBe(3);
    expect(doc.services['order-service-v3'].deploy.replicas).toBe(1);
    const compose = warnings.filter((w) => /compose cannot autoscale/.test(w.message));
    expect(compose.map((w) => w.constructPath)).toEqual(['shop/order-service/v1', 'shop/order-service/v2']);
    expect(compose[0].message).toMatch(/runs autoscale\.min = 2 containers of "order-service-v1" \(the Kubernetes autoscaler may run up to 10\)/);
  });

  test('no other warnings for this program', () => {
    expect(warnings.filter((w) => !/compose cannot autoscale/.test(w.message))).toEqual([]);
  });
});

describe('cross-object checks catch broken HPAs and PDBs', () => {
  const deployment = (name: string, replicas?: number): any => ({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: 'ns' },
    spec: { replicas, selector: { matchLabels: { app: 'a', version: name } }, template: { metadata: { labels: { app: 'a', version: name } }, spec: { containers: [{ name: 'app', resources: { requests: { cpu: '1' } }, securityContext: { runAsNonRoot: true, allowPrivilegeEscalation: false, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' }, readOnlyRootFilesystem: true } }] } } },
  });
  const hpa = (target: string, min = 2): any => ({ apiVersion: 'autoscaling/v2', kind: 'HorizontalPodAutoscaler', metadata: { name: target, namespace: 'ns' },
    spec: { scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: target }, minReplicas: min, maxReplicas: 5, metrics: [{ type: 'Resource', resource: { name: 'memory', target: { type: 'Utilization', averageUtilization: 70 } } }] } });
  const pdb = (name: string, spec: object): any => ({ apiVersion: 'policy/v1', kind: 'PodDisruptionBudget', metadata: { name, namespace: 'ns' }, spec });

  test('an HPA naming no Deployment, one on a Deployment with replicas, one without the request it scales on', () => {
    expect(crossObjectProblems([deployment('v1', 2), hpa('v9'), hpa('v1')])).toEqual([
      'HorizontalPodAutoscaler/v9: scaleTargetRef apps/v1/Deployment/v9 is not a Deployment of the namespace',
      'HorizontalPodAutoscaler/v1: Deployment/v1 sets replicas, which every apply would reset',
      'HorizontalPodAutoscaler/v1: scales on memory utilization but container app has no memory request',
    ]);
  });

  test('a PDB selecting no pods or several versions, and one that blocks drains', () => {
    expect(crossObjectProblems([deployment('v1', 2), deployment('v2', 2), hpa('v2', 3),
      pdb('none', { maxUnavailable: 1, selector: { matchLabels: { app: 'b' } } }),
      pdb('both', { maxUnavailable: 1, selector: { matchLabels: { app: 'a' } } }),
      pdb('v1', { minAvailable: 2, selector: { matchLabels: { app: 'a', version: 'v1' } } }),
      pdb('v2', { minAvailable: 2, selector: { matchLabels: { app: 'a', version: 'v2' } } }),
    ]).filter((p) => p.startsWith('PodDisruptionBudget') || p.startsWith('HorizontalPodAutoscaler/v2: De'))).toEqual([
      'HorizontalPodAutoscaler/v2: Deployment/v2 sets replicas, which every apply would reset',
      'PodDisruptionBudget/none: selects the pods of 0 Deployments (), not exactly one version\'s',
      'PodDisruptionBudget/both: selects the pods of 2 Deployments (v1, v2), not exactly one version\'s',
      'PodDisruptionBudget/v1: minAvailable 2 of 2 pods blocks every drain',
    ]);
  });
});

describe('bad scaling input: each error names the construct and the fix', () => {
  const stack = (): Stack => new Stack(new App(), 's');

  test('min above max, max below 1, a negative min', () => {
    const e = thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 5, max: 3 } }));
    expect(e.constructPath).toBe('s/api');
    expect(e.problem).toBe('autoscale.min 5 is above autoscale.max 3');
    expect(e.fix).toMatch(/make min at most max/);
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 0, max: 0 } })).problem).toBe('autoscale.max 0 is not valid');
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: -1, max: 3 } })).problem).toBe('autoscale.min -1 is not valid');
    const v = thrown(() => new MicroService(stack(), 'api', { image: image() }).addVersion('v2', { autoscale: { min: 4, max: 2 } }));
    expect(v.constructPath).toBe('s/api/v2');
  });

  test('utilization targets: 1 to 100, or up to limit/request when the limit is above the request', () => {
    const e = thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 1, max: 3, cpuUtilization: 120 } }));
    expect(e.problem).toBe('autoscale.cpuUtilization 120% of the cpu request can never be reached: a pod is throttled at its cpu limit, which is 100% of the request');
    expect(e.fix).toBe('give at most 100 (or raise the CPU limit (cpu) above cpuRequest to allow more)');
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), cpu: Cpu.millis(1000), cpuRequest: Cpu.millis(400), autoscale: { min: 1, max: 3, cpuUtilization: 260 } })).fix).toBe('give at most 250');
    expect(() => new MicroService(stack(), 'api', { image: image(), cpu: Cpu.millis(1000), cpuRequest: Cpu.millis(400), autoscale: { min: 1, max: 3, cpuUtilization: 250 } })).not.toThrow();
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 1, max: 3, cpuUtilization: 0 } })).problem).toMatch(/autoscale\.cpuUtilization 0 is not a percentage of the cpu request/);
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 1, max: 3, memoryUtilization: 101 } })).problem).toMatch(/memoryUtilization 101% .* a pod is killed at its memory limit/);
    expect(thrown(() => new MicroService(stack(), 'api', { image: image(), autoscale: { min: 1, max: 3, scaleDownStabilization: Duration.minutes(61) } })).problem).toMatch(/scaleDownStabilization/);
  });

  test('replicas and autoscale together', () => {
    const e = thrown(() => new MicroService(stack(), 'api', { image: image(), replicas: 3, autoscale: { min: 1, max: 3 } }));
    expect(e.problem).toBe('both replicas and autoscale were given');
    const v = thrown(() => new MicroService(stack(), 'api', { image: image() }).addVersion('v2', { replicas: 1, autoscale: { min: 1, max: 3 } }));
    expect(v.constructPath).toBe('s/api/v2');
  });

  test('budgets that can never allow an eviction', () => {
    expect(thrown(() => DisruptionBudget.maxUnavailable(0)).fix).toMatch(/every node drain blocks/);
    expect(thrown(() => DisruptionBudget.minAvailable(0)).problem).toMatch(/minAvailable 0 is not valid/);
    const errors = synthProblems((app) => {
      const s = new Stack(app, 's');
      new MicroService(s, 'api', { image: image(), replicas: 2, disruptionBudget: DisruptionBudget.minAvailable(2) });
      new MicroService(s, 'auto', { image: image(), autoscale: { min: 3, max: 9 }, disruptionBudget: DisruptionBudget.minAvailable(3) });
      new MicroService(s, 'one', { image: image(), replicas: 1, disruptionBudget: DisruptionBudget.minAvailable(1) });
    });
    expect(errors.map((e) => [e.constructPath, e.problem, e.fix])).toEqual([
      ['s/api/v1', 'the disruption budget keeps minAvailable 2 pods available, but the version may have as few as 2 (2 replicas): no pod could ever be evicted and every node drain would wait forever',
        'use DisruptionBudget.maxUnavailable(1) (the default), or DisruptionBudget.minAvailable(1) at most, or raise replicas to 3'],
      ['s/auto/v1', 'the disruption budget keeps minAvailable 3 pods available, but the version may have as few as 3 (autoscale.min 3): no pod could ever be evicted and every node drain would wait forever',
        'use DisruptionBudget.maxUnavailable(1) (the default), or DisruptionBudget.minAvailable(2) at most, or raise autoscale.min to 4'],
      ['s/one/v1', expect.stringMatching(/minAvailable 1 pods available, but the version may have as few as 1 \(1 replica\)/), 'raise replicas to 2 or more, or use DisruptionBudget.maxUnavailable(1) (the default)'],
    ]);
  });

  test('autoscale.min 0: refused, naming the route that sends traffic to the version when there is one', () => {
    const errors = synthProblems((app) => {
      const s = new Stack(app, 's', { mesh: Mesh.istio() });
      const orders = new MicroService(s, 'orders', { image: image() });
      const v2 = orders.addVersion('v2', { autoscale: { min: 0, max: 4 } });
      new MeshRoute(s, 'canary', { service: orders, rules: [{ split: [{ to: orders.defaultVersion, weight: 90 }, { to: v2, weight: 10 }] }] });
      const users = new MicroService(s, 'users', { image: image() });
      users.addVersion('dark', { autoscale: { min: 0, max: 2 } });
    });
    expect(errors.map((e) => [e.constructPath, e.problem, e.fix])).toEqual([
      ['s/orders/v2', 'autoscale.min is 0 while s/canary rule 0 sends traffic to version "v2": with no pod those requests fail with 503, and an autoscaler on CPU or memory never scales up from zero pods (none reports usage)',
        'set autoscale.min to at least 1 (e.g. { min: 1, max: 4 }), or route that share to another version'],
      ['s/users/dark', 'autoscale.min is 0, but an autoscaler on CPU or memory never scales up from zero pods (none reports usage), so the version would stay at zero',
        'set autoscale.min to at least 1 (e.g. { min: 1, max: 2 }), or park the version with replicas: 0 instead of autoscale'],
    ]);
  });

  test('hatches: hpa and pdb are patched at render; a patch on one that is not rendered, or one that breaks the HPA, fails the synth', () => {
    const ok = synth((app) => {
      const s = new Stack(app, 's');
      const api = new MicroService(s, 'api', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(api).hpa.addJsonPatch(JsonPatch.add('/spec/behavior/scaleUp', { stabilizationWindowSeconds: 30 }));
      Kubernetes.of(api.defaultVersion).pdb.addJsonPatch(JsonPatch.replace('/spec/maxUnavailable', '50%'));
    });
    expect(ok.find('s', 'HorizontalPodAutoscaler', 'api-v1').spec.behavior).toEqual({ scaleDown: { stabilizationWindowSeconds: 300 }, scaleUp: { stabilizationWindowSeconds: 30 } });
    expect(ok.find('s', 'PodDisruptionBudget', 'api-v1').spec.maxUnavailable).toBe('50%');
    ok.cleanup();

    const errors = synthProblems((app) => {
      const s = new Stack(app, 's');
      const fixed = new MicroService(s, 'fixed', { image: image(), replicas: 1 });
      Kubernetes.of(fixed).hpa.addJsonPatch(JsonPatch.add('/spec/minReplicas', 1));
      Kubernetes.of(fixed).pdb.addJsonPatch(JsonPatch.add('/spec/maxUnavailable', 1));
      const auto = new MicroService(s, 'auto', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(auto).deployment.addJsonPatch(JsonPatch.add('/spec/replicas', 3));
      const noreq = new MicroService(s, 'noreq', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(noreq).deployment.addJsonPatch(JsonPatch.remove('/spec/template/spec/containers/0/resources/requests'));
    });
    expect(errors.map((e) => [e.constructPath, e.problem])).toEqual([
      ['s/fixed/v1', 'Kubernetes.of(...).hpa was patched, but version "v1" is not autoscaled, so there is no HorizontalPodAutoscaler to patch'],
      ['s/fixed/v1', 'Kubernetes.of(...).pdb was patched, but version "v1" gets no PodDisruptionBudget (it has 1 replica; budgets are written from 2)'],
    ]);
    const render = synthProblems((app) => {
      const s = new Stack(app, 's');
      const auto = new MicroService(s, 'auto', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(auto).deployment.addJsonPatch(JsonPatch.add('/spec/replicas', 3));
      const noreq = new MicroService(s, 'noreq', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(noreq).deployment.addJsonPatch(JsonPatch.remove('/spec/template/spec/containers/0/resources/requests'));
    });
    expect(render.map((e) => e.constructPath)).toEqual(['s/auto/v1']);
    expect(render[0].problem).toMatch(/the Deployment "auto-v1" is autoscaled but a JSON patch sets spec.replicas \(3\)/);
    const noRequest = synthProblems((app) => {
      const s = new Stack(app, 's');
      const noreq = new MicroService(s, 'noreq', { image: image(), autoscale: { min: 2, max: 4 } });
      Kubernetes.of(noreq).deployment.addJsonPatch(JsonPatch.remove('/spec/template/spec/containers/0/resources/requests'));
    });
    expect(noRequest[0].problem).toMatch(/scales on cpu utilization, a share of the cpu request, but container "app" has no cpu request/);
    expect(noRequest[0].fix).toMatch(/keep resources\.requests\.cpu/);
  });
});

describe('warnings (app.warnings(), never printed)', () => {
  test('a CPU target the gunicorn workers can never reach', () => {
    const app = new App();
    const s = new Stack(app, 'shop');
    // One uvicorn worker (fixed) can use about one core; 70% of a 2-core request is 1400m.
    new FastApiApp(s, 'order-service', {
      source: path.join(SHOP, 'user'), cpu: Cpu.cores(2), memory: Size.mebibytes(512), workers: 1,
      autoscale: { min: 2, max: 10, cpuUtilization: 70 },
    });
    // Sized from the limit (2 workers for 2 cores): 70% fits.
    new FastApiApp(s, 'user-service', { source: path.join(SHOP, 'user'), cpu: Cpu.cores(2), memory: Size.mebibytes(512), autoscale: { min: 2, max: 10 } });
    const fit = app.warnings().filter((w) => /never scale up/.test(w.message));
    expect(fit).toEqual([{
      constructPath: 'shop/order-service',
      message: 'autoscale.cpuUtilization 70% of the CPU request 2000m is 1400m per pod, but 1 uvicorn.workers.UvicornWorker worker can use about 1000m (one core each at most: Python runs under the GIL), so the autoscaler would never scale up. Lower cpuUtilization to 50 or less, lower cpuRequest, or run more workers',
    }]);
    // The worker count stays sized from the CPU limit.
    const users = s.services.find((x) => x.serviceName === 'user-service')!;
    expect(users.env.WEB_CONCURRENCY?.value).toBe('2');
  });

  test('a budget that lets every pod go at once, and one asked for a single pod', () => {
    const app = new App();
    const s = new Stack(app, 's', { compose: { enabled: false } });
    new MicroService(s, 'api', { image: image(), replicas: 2, disruptionBudget: DisruptionBudget.maxUnavailable(2) });
    new MicroService(s, 'solo', { image: image(), replicas: 1, disruptionBudget: DisruptionBudget.maxUnavailable(1) });
    new MicroService(s, 'auto', { image: image(), autoscale: { min: 2, max: 3 } });
    expect(app.warnings()).toEqual([
      { constructPath: 's/api/v1', message: 'the disruption budget allows 2 unavailable pods of 2: a node drain may evict every pod at once. Use DisruptionBudget.maxUnavailable(1) or fewer' },
      { constructPath: 's/solo/v1', message: expect.stringMatching(/the version runs 1 pod, which a drain cannot keep available: no PodDisruptionBudget is written/) },
    ]);
  });
});
