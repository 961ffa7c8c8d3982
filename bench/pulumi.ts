// How much the Pulumi components add on top of rendering the stack, per stack size, under Pulumi mocks
// (the engine's own work in a live `pulumi up` is not measured: no CLI or plugin can run here).
// Run: npx ts-node --project bench/tsconfig.json bench/pulumi.ts [sizes...]
// Measured on the 2-core dev machine (200 services, 2 replicas each): synthesize 129 ms; KubernetesDeployment
// 2.3 s for 601 resources; DockerHostDeployment 13.9 s for 400 containers. A CPU profile puts most of it in
// Pulumi's per-promise stack capture (debuggablePromise) and ts-node's source-map-support, not in pyfleet.
import * as fs from 'fs';
import * as os from 'os';
import * as path from 'path';
import * as pulumi from '@pulumi/pulumi';
import { App, ContainerImage, MicroService, Stack } from '../lib';
import { DockerHostDeployment, KubernetesDeployment } from '../lib/pulumi';

function build(n: number, outdir: string): { app: App; stack: Stack } {
  const app = new App({ outdir });
  const stack = new Stack(app, 'bench', { imageRegistry: 'registry.example.com/bench' });
  let prev: MicroService | undefined;
  for (let i = 0; i < n; i++) {
    prev = new MicroService(stack, `svc-${i}`, {
      image: ContainerImage.fromRegistry(`ghcr.io/acme/svc-${i}:1.0.0`),
      replicas: 2,
      calls: prev && i % 10 !== 0 ? [prev] : [],
    });
  }
  return { app, stack };
}

async function mocks(): Promise<void> {
  await pulumi.runtime.setMocks({
    newResource: (a) => ({ id: `${a.name}-id`, state: { ...a.inputs, ...(a.inputs.metadata ? { metadata: { ...a.inputs.metadata, name: a.inputs.metadata.name ?? a.name } } : {}) } }),
    call: (a) => a.inputs,
  }, 'bench', 'bench', false);
}

const settle = (rs: pulumi.Resource[]): Promise<unknown> => Promise.all(rs.map((r) => new Promise((ok) => r.urn.apply(ok))));

async function main(): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter((x) => x > 0);
  const outdir = fs.mkdtempSync(path.join(os.tmpdir(), 'pyfleet-bench-pulumi-'));
  try {
    console.log('services  synthesize ms  KubernetesDeployment ms (resources)  ratio  DockerHostDeployment ms (containers)  ratio');
    for (const n of sizes.length > 0 ? sizes : [10, 50, 200]) {
      let t = Date.now();
      build(n, outdir).app.synthesize();
      const synthMs = Date.now() - t;

      await mocks();
      t = Date.now();
      const k = new KubernetesDeployment(`k${n}`, { stack: build(n, outdir).stack });
      await settle(k.objects.map((o) => o.resource));
      const k8sMs = Date.now() - t;

      await mocks();
      t = Date.now();
      const d = new DockerHostDeployment(`d${n}`, { stack: build(n, outdir).stack });
      const cs = Object.values(d.containers).flat();
      await settle(cs);
      const dockerMs = Date.now() - t;

      console.log(`${String(n).padStart(8)}  ${String(synthMs).padStart(13)}  ${String(k8sMs).padStart(23)} (${String(k.objects.length).padStart(5)})  ${(k8sMs / synthMs).toFixed(1).padStart(5)}  ${String(dockerMs).padStart(23)} (${String(cs.length).padStart(6)})  ${(dockerMs / synthMs).toFixed(1).padStart(5)}`);
    }
  } finally {
    fs.rmSync(outdir, { recursive: true, force: true });
  }
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
