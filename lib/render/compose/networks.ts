import { createHash } from 'crypto';
import { PyfleetError } from '../../core/errors';
import { dictionaryMaker, dictionaryOf } from '../../core/dictionary';

/** Dictionaries keyed by network names: a large project has more than any other kind (see dictionary.ts). */
const networkDictionary = dictionaryMaker();
import { ComposeNetworkMode } from '../../core/stack';
import type { PyfleetWarning } from '../../core/warnings';
import type { ServiceModel, StackModel } from '../../model/stack';
import { callees, storeCallees } from '../../model/traffic';
import { needsGateway, publicGateways } from './gateway';
import { GRAFANA_SERVICE, grafanaEnabled, grafanaPublished, PROMETHEUS_SERVICE, scrapedContainers } from '../monitoring/compose';
import type { ComposeNetwork } from './types';

// The compose project's networks, from the call graph. A Docker network lets every container on it
// open connections to every other on any port and resolve its name, so segmentation is by
// membership:
//
// - one internal network per call: `<caller>_to_<callee>`, joined by the calling container and the
//   callee's entry (its only container, or its gateway proxy). Two callers of one service share no
//   network, so neither can reach (or resolve) the other through it;
// - a service's gateway proxy joins one internal network per version it routes to,
//   `<service>_to_<service>-<version>`; versions share none with each other;
// - what publishes a host port (an exposed service's container, or the gateway that publishes it or
//   a MeshGateway's ports) also joins `<service>_public`, the only kind of network that is not
//   internal: Docker publishes ports and gives outbound access only through one;
// - a container on no network runs with `network_mode: none` (compose would otherwise put it on a
//   `default` network with everything else); a swarm ignores `network_mode`, so on an overlay it gets
//   an internal network of its own, `<container>_alone`.
//
// - with monitoring (`Monitoring.prometheus()`), the Prometheus container joins one internal network
//   per container it scrapes, `prometheus_to_<container>` (each version's own container, not a
//   gateway: the proxy does not carry the metrics port); with Grafana, `grafana_to_prometheus` joins
//   the two, and on a bridge `grafana_public` lets Grafana publish its port (on the host's loopback);
//
// Networks are undirected: a callee can open connections back to its caller on their shared network,
// and an exposed container can reach the internet. The injected URLs (`http://<service>:<port>`) are
// unchanged: the callee's entry carries the service's name on each of its networks.
//
// Docker keeps a network's full name (`<project>_<key>`) to 63 characters (a DNS label: container
// names resolve as `<container>.<network>`, and swarm refuses longer ones): a key that would not fit
// is cut and suffixed with a hash of the whole. The budget is that of the project name the file
// declares (`name:`, the stack's); a longer `-p` given to compose by hand can exceed it.
//
// Host network mode cannot segment (every container shares the host's interfaces): a warning says so.
// With `networkPolicy: { enabled: false }` the project has one network, named like the stack, as before.

/** Longest full network name (`<project>_<key>`). */
export const MAX_NETWORK_NAME = 63;
/** Shortest key length left for a segmented project's network names (a cut name keeps a readable part and its hash). */
const MIN_KEY = 16;

/** A container's attachment to one network. */
export interface NetworkAttachment {
  readonly aliases: string[];
}

/** The networks of a compose project and what each compose service joins. */
export interface NetworkPlan {
  /** Networks by key, sorted (none in host network mode). */
  readonly networks: Record<string, ComposeNetwork>;
  /**
   * Networks of each compose service by key; an empty record means no network (`network_mode: none`).
   * Undefined in host network mode.
   */
  attachments(composeService: string): Record<string, NetworkAttachment> | undefined;
}

/** Whether a stack's compose project is split into networks per call. */
export function segmented(model: StackModel): boolean {
  return model.networkPolicy.enabled && model.compose.networkMode !== ComposeNetworkMode.HOST;
}

/** The compose services that call on behalf of a service: its versions behind a gateway, else its only container. */
function callingContainers(s: ServiceModel): string[] {
  return needsGateway(s.construct) ? s.versions.map((v) => v.workloadName) : [s.name];
}

/** Whether the service's entry container publishes host ports. */
function publishes(s: ServiceModel): boolean {
  return s.settings.exposedPort !== undefined || publicGateways(s.construct).length > 0;
}

function networkKey(project: string, readable: string): string {
  const budget = MAX_NETWORK_NAME - project.length - 1;
  if (readable.length <= budget) return readable;
  const hash = createHash('sha256').update(readable).digest('hex').slice(0, 8);
  return `${readable.slice(0, budget - hash.length - 1).replace(/[-_.]+$/, '')}-${hash}`;
}

/** The stack's network plan. */
export function networkPlan(model: StackModel): NetworkPlan {
  const mode = model.compose.networkMode;
  if (mode === ComposeNetworkMode.HOST) return { networks: {}, attachments: () => undefined };
  const driver: ComposeNetwork = mode === ComposeNetworkMode.OVERLAY ? { driver: 'overlay', attachable: true } : { driver: 'bridge' };
  // Each container answers to its own name: the service's, or `<service>-<version>` behind a gateway.
  const alias = new Map<string, string[]>();
  for (const s of model.services) {
    if (needsGateway(s.construct)) {
      alias.set(s.name, [s.name]);
      for (const v of s.versions) alias.set(v.workloadName, [v.workloadName]);
    } else {
      alias.set(s.name, [s.name]);
    }
  }
  // Backing services are containers of their own, named like the store.
  for (const d of model.dataStores) alias.set(d.name, [d.name]);
  // Workers and migration one-shots only call: each answers to its own name, on the networks of its calls.
  const background: Array<{ container: string; calls: readonly string[]; stores: readonly string[] }> = [
    ...model.workers.map((w) => ({ container: w.name, calls: w.calls, stores: w.stores })),
    ...model.migrations.map((r) => ({ container: r.composeName, calls: r.calls, stores: r.stores })),
  ];
  for (const b of background) alias.set(b.container, [b.container]);
  if (model.monitoring) {
    alias.set(PROMETHEUS_SERVICE, [PROMETHEUS_SERVICE]);
    if (grafanaEnabled(model)) alias.set(GRAFANA_SERVICE, [GRAFANA_SERVICE]);
  }
  const joined = new Map<string, Record<string, NetworkAttachment>>([...alias.keys()].map((c) => [c, networkDictionary<NetworkAttachment>()]));
  const networks = networkDictionary<ComposeNetwork>();
  const join = (key: string, members: string[], net: ComposeNetwork): void => {
    networks[key] = net;
    for (const m of members) joined.get(m)![key] = { aliases: [...alias.get(m)!] };
  };

  if (!model.networkPolicy.enabled) {
    // One project network, as before segmentation.
    for (const c of alias.keys()) joined.get(c)![model.name] = { aliases: [...alias.get(c)!] };
    networks[model.name] = driver;
  } else {
    const internal: ComposeNetwork = { ...driver, internal: true };
    for (const s of model.services) {
      for (const caller of callingContainers(s)) {
        for (const t of callees(model, s)) join(networkKey(model.name, `${caller}_to_${t.name}`), [caller, t.name], internal);
        for (const d of storeCallees(model, s)) join(networkKey(model.name, `${caller}_to_${d.name}`), [caller, d.name], internal);
      }
      if (needsGateway(s.construct)) {
        for (const v of s.versions) join(networkKey(model.name, `${s.name}_to_${v.workloadName}`), [s.name, v.workloadName], internal);
      }
      if (publishes(s)) join(networkKey(model.name, `${s.name}_public`), [s.name], driver);
    }
    for (const b of background) {
      for (const t of b.calls) join(networkKey(model.name, `${b.container}_to_${t}`), [b.container, t], internal);
      for (const d of b.stores) join(networkKey(model.name, `${b.container}_to_${d}`), [b.container, d], internal);
    }
    for (const c of scrapedContainers(model)) join(networkKey(model.name, `${PROMETHEUS_SERVICE}_to_${c.container}`), [PROMETHEUS_SERVICE, c.container], internal);
    if (grafanaEnabled(model)) {
      join(networkKey(model.name, `${GRAFANA_SERVICE}_to_${PROMETHEUS_SERVICE}`), [GRAFANA_SERVICE, PROMETHEUS_SERVICE], internal);
      if (grafanaPublished(model)) join(networkKey(model.name, `${GRAFANA_SERVICE}_public`), [GRAFANA_SERVICE], driver);
    }
    if (mode === ComposeNetworkMode.OVERLAY) {
      for (const [c, nets] of joined) if (Object.keys(nets).length === 0) join(networkKey(model.name, `${c}_alone`), [c], internal);
    }
  }
  const sorted = (o: Record<string, NetworkAttachment>): Record<string, NetworkAttachment> => dictionaryOf(Object.keys(o).sort().map((k) => [k, o[k]]), networkDictionary);
  return {
    networks: dictionaryOf(Object.keys(networks).sort().map((k) => [k, networks[k]]), networkDictionary),
    attachments: (c) => sorted(joined.get(c) ?? {}),
  };
}

/** A stack name that leaves too little of Docker's 63 characters for the network names of a segmented project. */
export function networkNameProblems(model: StackModel): PyfleetError[] {
  if (!segmented(model)) return [];
  const budget = MAX_NETWORK_NAME - model.name.length - 1;
  if (budget >= MIN_KEY) return [];
  return [new PyfleetError(model.path, `the compose project "${model.name}" leaves ${budget} of Docker's ${MAX_NETWORK_NAME} characters for its network names (<project>_<network>), fewer than the ${MIN_KEY} a network per call needs`,
    `give the stack an id of at most ${MAX_NETWORK_NAME - 1 - MIN_KEY} characters (the namespace can stay long: namespace: "..."), or turn segmentation off (networkPolicy: { enabled: false })`)];
}

/** Host network mode cannot keep containers apart (nor a gateway's versions from the gateway's callers): a warning per stack that would be segmented otherwise. */
export function hostModeWarnings(model: StackModel): PyfleetWarning[] {
  if (!model.compose.enabled || !model.networkPolicy.enabled || model.compose.networkMode !== ComposeNetworkMode.HOST || (model.services.length < 2 && !model.services.some((m) => needsGateway(m.construct)))) return [];
  return [{ constructPath: model.path, message: 'compose host network mode cannot segment the project: every container shares the host\'s interfaces, so each can reach every other\'s ports whether it calls it or not. Use ComposeNetworkMode.BRIDGE for a network per call' }];
}
