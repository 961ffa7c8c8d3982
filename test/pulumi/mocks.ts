// Pulumi mocks for the component tests: records every registered resource with its inputs, its
// dependencies as the Pulumi engine would receive them, its provider and custom timeouts.
import { createHash } from 'crypto';
import * as pulumi from '@pulumi/pulumi';
import { MockMonitor } from '@pulumi/pulumi/runtime/mocks';

export interface Registered {
  readonly type: string;
  readonly name: string;
  readonly urn: string;
  readonly inputs: any;
  /** Names (not URNs) of the resources this one depends on, explicit and through inputs. */
  readonly dependsOn: string[];
  readonly provider: string;
  readonly customTimeouts?: { create: string; update: string; delete: string };
  readonly parent: string;
  readonly deleteBeforeReplace: boolean;
}

export const registered: Registered[] = [];

/** What the mocked registry answers for a pushed image: a digest derived from the reference. */
export function mockDigest(reference: string): string {
  return `${reference.slice(0, reference.lastIndexOf(':'))}@sha256:${createHash('sha256').update(reference).digest('hex')}`;
}

const nameOfUrn = (urn: string): string => urn.split('::').pop() ?? urn;

let patched = false;
function patchMonitor(): void {
  if (patched) return;
  patched = true;
  const original = MockMonitor.prototype.registerResource;
  MockMonitor.prototype.registerResource = function (this: MockMonitor, req: any, callback: any) {
    const ct = req.getCustomtimeouts?.();
    const wrapped = (err: any, resp: any): void => {
      if (!err && resp) {
        const i = registered.findIndex((r) => r.urn === '' && r.name === req.getName() && r.type === req.getType());
        if (i >= 0) (registered[i] as any).urn = resp.getUrn();
      }
      callback(err, resp);
    };
    registered.push({
      type: req.getType(),
      name: req.getName(),
      urn: '',
      inputs: undefined,
      dependsOn: (req.getDependenciesList() as string[]).map(nameOfUrn).sort(),
      provider: req.getProvider(),
      customTimeouts: ct ? { create: ct.getCreate(), update: ct.getUpdate(), delete: ct.getDelete() } : undefined,
      parent: nameOfUrn(req.getParent() ?? ''),
      deleteBeforeReplace: req.getDeletebeforereplace(),
    });
    return original.call(this, req, wrapped);
  } as any;
}

/** Installs fresh mocks (and clears the record). Await it before creating resources. */
export async function installMocks(project = 'pyfleet-test', stack = 'test'): Promise<void> {
  patchMonitor();
  registered.length = 0;
  await pulumi.runtime.setMocks({
    newResource(args) {
      const rec = [...registered].reverse().find((r) => r.name === args.name && r.type === args.type && r.inputs === undefined);
      if (rec) (rec as any).inputs = args.inputs;
      const state: any = { ...args.inputs };
      if (args.type.startsWith('kubernetes:') && args.type !== 'pulumi:providers:kubernetes') {
        state.metadata = { ...(args.inputs.metadata ?? {}), name: args.inputs.metadata?.name ?? args.name };
        if (args.type === 'kubernetes:core/v1:Service' && args.inputs.spec?.type === 'LoadBalancer') {
          state.status = { loadBalancer: { ingress: [{ ip: '203.0.113.10' }] } };
        }
      }
      if (args.type === 'random:index/randomPassword:RandomPassword') {
        state.result = `mock-password-${args.name.length}`;
      }
      if (args.type === 'docker:index/image:Image') {
        state.repoDigest = mockDigest(args.inputs.imageName);
      }
      if (args.type === 'docker:index/remoteImage:RemoteImage') {
        state.imageId = `sha256:${createHash('sha256').update(args.inputs.name).digest('hex')}`;
        state.repoDigest = mockDigest(args.inputs.name);
      }
      return { id: `${args.name}-id`, state };
    },
    call(args) {
      return args.inputs;
    },
  }, project, stack, false);
}

/** Resolves an Output's value (mocks run applies). */
export function valueOf<T>(o: pulumi.Input<T>): Promise<T> {
  return new Promise((resolve) => pulumi.output(o).apply((v) => { resolve(v as T); return v; }));
}

/** Waits until every given resource is registered with the (mock) engine. */
export async function settle(resources: pulumi.Resource[]): Promise<void> {
  await Promise.all(resources.map((r) => valueOf(r.urn)));
}

/** Registered resources of a type. */
export function ofType(type: string): Registered[] {
  return registered.filter((r) => r.type === type);
}

/** The inputs Pulumi sends for a value: JSON round trip drops undefined like the engine does. */
export function plain<T>(v: T): T {
  return JSON.parse(JSON.stringify(v));
}
