// `pulumi up` in this folder deploys the same shop that `cdk8s synth` renders in examples/shop: one
// Pulumi resource per manifest object, images built and pushed to the stack's imageRegistry and run by digest.
// In a user's repository the imports read `from 'pyfleet'` and `from 'pyfleet/pulumi'`.
import * as pulumi from '@pulumi/pulumi';
import { App, Duration } from '../../../lib';
import { KubernetesDeployment } from '../../../lib/pulumi';
import { buildShop } from '../main';

const config = new pulumi.Config();
const app = new App(); // staged build contexts go to ./dist (or $CDK8S_OUTDIR)
const shop = buildShop(app);

const deployment = new KubernetesDeployment('shop', {
  stack: shop,
  kubeconfig: config.get('kubeconfig') || undefined,
  context: config.get('context') || undefined,
  registry: {
    username: config.get('registryUser') || undefined,
    password: config.getSecret('registryPassword'),
  },
  // Workloads get five minutes to become ready; everything else uses Pulumi's defaults.
  await: { Deployment: { timeout: Duration.minutes(5) } },
});

/** `http://<load balancer>:<port>` of each public service. */
export const addresses = deployment.addresses;
/** The objects deployed, `Kind/namespace/name`, in apply order. */
export const objects = deployment.objects.map((o) => o.key);
