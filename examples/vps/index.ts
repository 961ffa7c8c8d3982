// `pulumi up` in this folder deploys examples/vps to one machine running Docker: the project network,
// the two images built on that machine, and one container per replica with its own CPU quota and
// memory limit, started after the services it calls are healthy.
// In a user's repository the imports read `from 'pyfleet'` and `from 'pyfleet/pulumi'`.
import * as pulumi from '@pulumi/pulumi';
import { App } from '../../lib';
import { DockerHostDeployment } from '../../lib/pulumi';
import { buildVps } from './main';

const config = new pulumi.Config();
const app = new App(); // staged build contexts go to ./dist (or $CDK8S_OUTDIR)
const vps = new DockerHostDeployment('vps', {
  stack: buildVps(app),
  host: config.require('host'),
});

/** `http://<host>:80` for the web front end. */
export const addresses = vps.addresses;
/** Container names by compose service. */
export const containers = Object.fromEntries(Object.entries(vps.containers).map(([svc, cs]) => [svc, cs.map((c) => c.name)]));
