import { App, ContainerImage, MicroService, Stack } from '../../lib';
import { KubernetesDeployment } from '../../lib/pulumi';
import { cleanup, tempDir } from './fixtures';
import { installMocks, ofType, plain, registered, settle } from './mocks';

beforeEach(async () => {
  await installMocks();
});
afterAll(cleanup);

function autoscaledStack(): Stack {
  const app = new App({ outdir: tempDir('pyfleet-pulumi-scale-') });
  const stack = new Stack(app, 'shop', { namespace: 'shop' });
  const orders = new MicroService(stack, 'order-service', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:1.0.0'), autoscale: { min: 2, max: 8 } });
  orders.addVersion('v2', { image: ContainerImage.fromRegistry('ghcr.io/acme/orders:2.0.0'), replicas: 3 });
  return stack;
}

describe('KubernetesDeployment: autoscalers and disruption budgets', () => {
  test('HPAs and PDBs are typed resources created after the Deployment they govern, with the synthesized content', async () => {
    const stack = autoscaledStack();
    const d = new KubernetesDeployment('shop', { stack });
    await settle(d.objects.map((o) => o.resource));

    const hpas = ofType('kubernetes:autoscaling/v2:HorizontalPodAutoscaler');
    const pdbs = ofType('kubernetes:policy/v1:PodDisruptionBudget');
    expect(hpas.map((r) => r.name)).toEqual(['shop-horizontalpodautoscaler-order-service-v1']);
    expect(pdbs.map((r) => r.name).sort()).toEqual(['shop-poddisruptionbudget-order-service-v1', 'shop-poddisruptionbudget-order-service-v2']);

    // What the engine receives as dependencies, and the order it is asked to create them in.
    const byName = new Map(registered.map((r) => [r.name, r]));
    const order = registered.map((r) => r.name);
    for (const [name, deployment] of [
      ['shop-horizontalpodautoscaler-order-service-v1', 'shop-deployment-order-service-v1'],
      ['shop-poddisruptionbudget-order-service-v1', 'shop-deployment-order-service-v1'],
      ['shop-poddisruptionbudget-order-service-v2', 'shop-deployment-order-service-v2'],
    ]) {
      expect(byName.get(name)!.dependsOn).toEqual(expect.arrayContaining(['shop-namespace-shop', deployment]));
      expect(order.indexOf(deployment)).toBeLessThan(order.indexOf(name));
    }
    // A budget waits for its own version's Deployment only.
    expect(byName.get('shop-poddisruptionbudget-order-service-v2')!.dependsOn).not.toContain('shop-deployment-order-service-v1');
    expect(d.objects.find((o) => o.key === 'PodDisruptionBudget/shop/order-service-v1')!.dependsOn).toEqual(['Deployment/shop/order-service-v1', 'Namespace/shop']);

    // The autoscaled Deployment goes to the cluster without replicas; the HPA with its range.
    const dep = ofType('kubernetes:apps/v1:Deployment').find((r) => r.name === 'shop-deployment-order-service-v1')!;
    expect('replicas' in plain(dep.inputs).spec).toBe(false);
    expect(plain(hpas[0].inputs).spec).toMatchObject({ minReplicas: 2, maxReplicas: 8, scaleTargetRef: { kind: 'Deployment', name: 'order-service-v1' } });
    expect(plain(pdbs.find((r) => r.name.endsWith('v2'))!.inputs).spec).toMatchObject({ maxUnavailable: 1, selector: { matchLabels: { app: 'order-service', version: 'v2' } } });
  });
});
