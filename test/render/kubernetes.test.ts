import { ContainerImage, Cpu, Duration, EnvValue, HealthCheck, MicroService, Size, Stack } from '../../lib';
import { crossObjectProblems, restrictedProblems, validateKubernetesObject } from '../support/checks';
import { sourceDir, synth, Synthesized } from '../support/synth';

describe('Kubernetes output', () => {
  let out: Synthesized;
  beforeAll(() => {
    out = synth((app) => {
      const stack = new Stack(app, 'shop', { namespace: 'shop-prod', labels: { team: 'orders' }, imageRegistry: 'ghcr.io/acme/shop' });
      const users = new MicroService(stack, 'user-service', {
        image: ContainerImage.fromRegistry('ghcr.io/acme/users:1.4.2'),
        port: 8001,
        additionalPorts: { metrics: 9100 },
        env: { LOG_LEVEL: 'info', DB_PASSWORD: EnvValue.fromSecret('db-credentials', 'password') },
        cpu: Cpu.millis(750), cpuRequest: Cpu.millis(250), memory: Size.mebibytes(384),
        healthCheck: HealthCheck.http('/health/ready', { interval: Duration.seconds(7), timeout: Duration.seconds(3), failureThreshold: 4 }),
        gracefulShutdown: Duration.seconds(20),
      });
      const orders = new MicroService(stack, 'order-service', {
        image: ContainerImage.fromDirectory(sourceDir()),
        port: 5000,
        calls: [users],
        expose: { port: 80 },
        replicas: 3,
      });
      orders.addVersion('v2', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders@sha256:' + 'a'.repeat(64)), replicas: 1, env: { FEATURE: 'new-checkout' } });
    });
  });
  afterAll(() => out.cleanup());

  test('every object is valid against the Kubernetes schemas (kubernetes-models)', () => {
    const objects = out.k8s('shop');
    // Namespace, ServiceAccount + Service per service, a Deployment per version, 3 NetworkPolicies
    // (default-deny and one per service), and a PodDisruptionBudget per version with two or more
    // replicas (user-service v1, order-service v1).
    expect(objects.length).toBe(1 + 2 + 2 + 3 + 3 + 2);
    expect(objects.filter((o) => o.kind === 'NetworkPolicy').map((o) => o.metadata.name)).toEqual(['default-deny', 'order-service', 'user-service']);
    expect(objects.filter((o) => o.kind === 'PodDisruptionBudget').map((o) => o.metadata.name)).toEqual(['order-service-v1', 'user-service-v1']);
    expect(objects.flatMap(validateKubernetesObject)).toEqual([]);
  });

  test('cross-object rules hold: services select pods, ports are declared, PSS restricted', () => {
    expect(crossObjectProblems(out.k8s('shop'))).toEqual([]);
  });

  test('namespace is created first, labelled for Pod Security restricted, and every object lives in it', () => {
    const objects = out.k8s('shop');
    expect(objects[0].kind).toBe('Namespace');
    expect(objects[0].metadata.name).toBe('shop-prod');
    expect(objects[0].metadata.namespace).toBeUndefined();
    expect(objects[0].metadata.labels['pod-security.kubernetes.io/enforce']).toBe('restricted');
    for (const o of objects.slice(1)) expect(o.metadata.namespace).toBe('shop-prod');
    const kinds = objects.map((o) => o.kind);
    expect(kinds.lastIndexOf('ServiceAccount')).toBeLessThan(kinds.indexOf('Deployment'));
  });

  test('a Deployment per version, labelled app/version and app.kubernetes.io/*, selecting by app+version', () => {
    const v1 = out.find('shop', 'Deployment', 'order-service-v1');
    const v2 = out.find('shop', 'Deployment', 'order-service-v2');
    expect(v1.spec.replicas).toBe(3);
    expect(v2.spec.replicas).toBe(1);
    expect(v1.spec.selector.matchLabels).toEqual({ app: 'order-service', version: 'v1' });
    expect(v2.spec.selector.matchLabels).toEqual({ app: 'order-service', version: 'v2' });
    const labels = v2.spec.template.metadata.labels;
    expect(labels).toMatchObject({
      'app': 'order-service', 'version': 'v2', 'app.kubernetes.io/name': 'order-service', 'app.kubernetes.io/instance': 'order-service-v2',
      'app.kubernetes.io/version': 'v2', 'app.kubernetes.io/part-of': 'shop', 'app.kubernetes.io/managed-by': 'pyfleet', 'team': 'orders',
    });
    expect(Object.keys(labels).some((k) => k.startsWith('cdk8s.io'))).toBe(false);
    expect(v2.spec.template.spec.containers[0].image).toBe('ghcr.io/acme/orders@sha256:' + 'a'.repeat(64));
    expect(v2.spec.template.spec.containers[0].env).toContainEqual({ name: 'FEATURE', value: 'new-checkout' });
    expect(v1.spec.template.spec.containers[0].env.find((e: any) => e.name === 'FEATURE')).toBeUndefined();
  });

  test('built images are named <registry>/<service>:<content hash> and never pulled "Always"', () => {
    const c = out.find('shop', 'Deployment', 'order-service-v1').spec.template.spec.containers[0];
    expect(c.image).toMatch(/^ghcr\.io\/acme\/shop\/order-service:[0-9a-f]{12}$/);
    expect(c.imagePullPolicy).toBe('IfNotPresent');
    const tag = c.image.split(':')[1];
    expect([...out.files.keys()].some((f) => f.startsWith(`assets/context.${tag}/`))).toBe(true);
  });

  test('one Service per service selects every version, with named http port; public exposure is a LoadBalancer 80 -> http', () => {
    const svc = out.find('shop', 'Service', 'order-service');
    expect(svc.spec.type).toBe('LoadBalancer');
    expect(svc.spec.selector).toEqual({ app: 'order-service' });
    expect(svc.spec.ports).toEqual([{ name: 'http', appProtocol: 'http', port: 80, targetPort: 'http', protocol: 'TCP' }]);
    const users = out.find('shop', 'Service', 'user-service');
    expect(users.spec.type).toBe('ClusterIP');
    expect(users.spec.ports.map((p: any) => [p.name, p.port, p.targetPort])).toEqual([['http', 8001, 'http'], ['metrics', 9100, 'metrics']]);
    expect(out.k8s('shop').filter((o) => o.kind === 'Service')).toHaveLength(2);
  });

  test('a ServiceAccount per service, without an API token', () => {
    for (const name of ['user-service', 'order-service']) {
      expect(out.find('shop', 'ServiceAccount', name).automountServiceAccountToken).toBe(false);
      const d = out.find('shop', 'Deployment', `${name}-v1`);
      expect(d.spec.template.spec.serviceAccountName).toBe(name);
      expect(d.spec.template.spec.automountServiceAccountToken).toBe(false);
    }
  });

  test('Pod Security restricted, read-only root with a writable /tmp emptyDir', () => {
    const d = out.find('shop', 'Deployment', 'user-service-v1');
    expect(restrictedProblems(d)).toEqual([]);
    const spec = d.spec.template.spec;
    const c = spec.containers[0];
    expect(c.securityContext).toMatchObject({ runAsNonRoot: true, runAsUser: 10001, allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
    expect(spec.securityContext.seccompProfile).toEqual({ type: 'RuntimeDefault' });
    const mount = c.volumeMounts.find((m: any) => m.mountPath === '/tmp');
    expect(spec.volumes.find((v: any) => v.name === mount.name).emptyDir).toBeDefined();
  });

  test('probes hit the health check; requests and limits come from the units', () => {
    const c = out.find('shop', 'Deployment', 'user-service-v1').spec.template.spec.containers[0];
    expect(c.readinessProbe).toMatchObject({ httpGet: { path: '/health/ready', port: 8001 }, periodSeconds: 7, timeoutSeconds: 3, failureThreshold: 4 });
    expect(c.livenessProbe.httpGet.path).toBe('/health/ready');
    expect(c.startupProbe.httpGet).toMatchObject({ path: '/health/ready', port: 8001 });
    expect(c.startupProbe.tcpSocket).toBeUndefined();
    expect(c.resources).toEqual({ limits: { cpu: '750m', memory: '384Mi' }, requests: { cpu: '250m', memory: '384Mi' } });
  });

  test('zero-downtime rollouts: maxUnavailable 0, preStop pause, grace period longer than the graceful timeout', () => {
    const d = out.find('shop', 'Deployment', 'user-service-v1');
    expect(d.spec.strategy).toEqual({ type: 'RollingUpdate', rollingUpdate: { maxSurge: 1, maxUnavailable: 0 } });
    const spec = d.spec.template.spec;
    expect(spec.containers[0].lifecycle.preStop.exec.command).toEqual(['sleep', '5']);
    expect(spec.terminationGracePeriodSeconds).toBe(5 + 20 + 5);
    expect(spec.terminationGracePeriodSeconds).toBeGreaterThan(20 + 5);
  });

  test('calls inject <OTHER>_URL with the in-cluster address; secrets become secretKeyRefs', () => {
    const env = out.find('shop', 'Deployment', 'order-service-v1').spec.template.spec.containers[0].env;
    expect(env).toContainEqual({ name: 'USER_SERVICE_URL', value: 'http://user-service.shop-prod.svc.cluster.local:8001' });
    const users = out.find('shop', 'Deployment', 'user-service-v1').spec.template.spec.containers[0].env;
    expect(users).toContainEqual({ name: 'DB_PASSWORD', valueFrom: { secretKeyRef: { name: 'db-credentials', key: 'password' } } });
    expect(users).toContainEqual({ name: 'LOG_LEVEL', value: 'info' });
  });

  test('the cross-object checker itself catches a broken manifest', () => {
    const objects = JSON.parse(JSON.stringify(out.k8s('shop')));
    const svc = objects.find((o: any) => o.kind === 'Service' && o.metadata.name === 'user-service');
    svc.spec.selector = { app: 'nobody' };
    const d = objects.find((o: any) => o.kind === 'Deployment' && o.metadata.name === 'order-service-v1');
    delete d.spec.template.spec.containers[0].securityContext.capabilities;
    d.spec.template.spec.containers[0].readinessProbe.httpGet.port = 9999;
    const problems = crossObjectProblems(objects);
    expect(problems).toEqual(expect.arrayContaining([
      'Service/user-service: selects no pods',
      'Deployment/order-service-v1/app: capabilities do not drop ALL',
      'Deployment/order-service-v1: readinessProbe port 9999 is not declared by container app',
    ]));
    expect(validateKubernetesObject({ ...d, spec: { ...d.spec, replicas: 'three' } })).not.toEqual([]);
    // Unknown fields (a typo in a JSON patch) are caught too, at any depth, with their path.
    const typo = JSON.parse(JSON.stringify(d));
    typo.spec.template.spec.containers[0].imagePullPolcy = 'Always';
    typo.spec.strategy.rollingUpdate.maxSurged = 1;
    expect(validateKubernetesObject(typo)).toEqual([
      'Deployment/order-service-v1: unknown field spec.strategy.rollingUpdate.maxSurged (not in RollingUpdateDeployment)',
      'Deployment/order-service-v1: unknown field spec.template.spec.containers[0].imagePullPolcy (not in Container)',
    ]);
    const port = JSON.parse(JSON.stringify(objects.find((o: any) => o.kind === 'Service')));
    port.spec.ports[0].targetPorts = 'http';
    expect(validateKubernetesObject(port)).toEqual([`Service/${port.metadata.name}: unknown field spec.ports[0].targetPorts (not in ServicePort)`]);
  });

  test('a privileged port: the pod lowers ip_unprivileged_port_start to it (a safe sysctl), so the non-root app can bind it', () => {
    const o = synth((app) => {
      const stack = new Stack(app, 'low');
      new MicroService(stack, 'web', { image: ContainerImage.fromRegistry('nginxinc/nginx-unprivileged:1.27'), port: 80, additionalPorts: { admin: 8081 } });
      new MicroService(stack, 'api', { image: ContainerImage.fromRegistry('ghcr.io/acme/api:1.0.0'), port: 8080 });
    });
    const web = o.find('low', 'Deployment', 'web-v1').spec.template.spec;
    expect(web.securityContext.sysctls).toEqual([{ name: 'net.ipv4.ip_unprivileged_port_start', value: '80' }]);
    expect(web.containers[0].securityContext).toMatchObject({ runAsNonRoot: true, capabilities: { drop: ['ALL'] } });
    expect(o.find('low', 'Deployment', 'api-v1').spec.template.spec.securityContext.sysctls).toBeUndefined();
    expect(o.k8s('low').flatMap(validateKubernetesObject)).toEqual([]);
    expect(crossObjectProblems(o.k8s('low'))).toEqual([]);
    const bad = JSON.parse(JSON.stringify(o.find('low', 'Deployment', 'web-v1')));
    bad.spec.template.spec.securityContext.sysctls = [{ name: 'net.core.somaxconn', value: '1024' }];
    expect(restrictedProblems(bad)).toEqual(['Deployment/web-v1: sysctl net.core.somaxconn is not a safe sysctl']);
    o.cleanup();
  });

  test('no health check means no probes at all (not cdk8s-plus\'s injected TCP probe)', () => {
    const o = synth((app) => {
      const stack = new Stack(app, 'plain');
      new MicroService(stack, 'worker', { image: ContainerImage.fromRegistry('busybox:1.36.1'), healthCheck: HealthCheck.none(), preStopDelay: Duration.seconds(0) });
    });
    const c = o.find('plain', 'Deployment', 'worker-v1').spec.template.spec.containers[0];
    expect(c.startupProbe).toBeUndefined();
    expect(c.readinessProbe).toBeUndefined();
    expect(c.lifecycle).toBeUndefined();
    expect(o.k8s('plain').flatMap(validateKubernetesObject)).toEqual([]);
    o.cleanup();
  });
});
