import { createHash } from 'crypto';
import { dumpDocument, prerender, tryDumpDocument } from '../yaml';
import { PyfleetError } from '../../core/errors';
import type { PyfleetWarning } from '../../core/warnings';
import { ComposeNetworkMode, Stack } from '../../core/stack';
import { Artifact, Target } from '../../model/target';
import { Cpu, Duration, Size } from '../../core/units';
import type { Hatches, ServiceModel, StackModel, VersionModel } from '../../model/stack';
import { versionLabels } from '../../service/labels';
import { MicroService } from '../../service/microservice';
import { backgroundComposeProblems, backgroundServices, migrationDependencies } from './background';
import { GATEWAY_RUNTIME } from './runtime';
import { ComposeDeploy, ComposeProject, ComposeService, ComposeServiceLogging, ComposeVolumeMount } from './types';
import { addProjectMounts, addServiceMounts, composeVolumeWarnings } from './volumes';
import { hostModeWarnings, NetworkAttachment, networkNameProblems, networkPlan } from './networks';
import { addDataSecrets, addStoreSecretMounts, dataStoreComposeProblems, dataStoreService, dataVolumes, storeDependencies, storeEnvironment } from './data';
import { monitoringCompose, monitoringComposeProblems } from '../monitoring/compose';
import { hostGatewayLayout, hostGatewayPorts, RELEASE_LABEL, releaseLabel } from './host-gateway';
import { LISTEN_PORT_ENV } from '../../python/recipe';
import { composeName, GATEWAY_HEALTH_PORT, GATEWAY_IMAGE, GATEWAY_LUA, GATEWAY_LUA_PATH, gatewayConfig, needsGatewayLua, gatewayProblems, needsGateway, PUBLIC_CONTAINER_PORT_BASE, PUBLIC_TLS_CONTAINER_PORT_BASE, gatewayCertificatePath, publicGateways } from './gateway';
import { dictionary } from '../../core/dictionary';

/**
 * Compose service names callers wait for: its own name when it has one version or a gateway proxy
 * (the gateway carries the service's name and waits for the versions itself).
 */
export function composeServiceNames(svc: MicroService): string[] {
  return svc.versions.length === 1 || needsGateway(svc) ? [svc.serviceName] : svc.versions.map((v) => v.workloadName);
}

/** Public port, bound on every interface explicitly (short syntax: valid for Compose v2 and docker-compose 1.29). */
function publishedPort(svc: MicroService): string {
  return `0.0.0.0:${svc.expose!.port}:${svc.port}/tcp`;
}

function healthTest(svc: MicroService, slotted: boolean): string[] {
  const hc = svc.healthCheck;
  if (hc.composeCommand) return ['CMD', ...hc.composeCommand];
  const timeout = Math.max(1, hc.timeout.seconds);
  if (slotted) {
    // A release slot's container checks the port its variable names (`$$` is compose's literal `$`; the shell expands it).
    const url = `http://127.0.0.1:$\${${LISTEN_PORT_ENV}}${hc.path}`;
    const py = `-c "import urllib.request; urllib.request.urlopen('${url}', timeout=${timeout})"`;
    return ['CMD-SHELL', `python3 ${py} 2>/dev/null || python ${py} 2>/dev/null || curl -fsS -o /dev/null "${url}" 2>/dev/null || wget -q -O /dev/null "${url}" || exit 1`];
  }
  const url = `http://127.0.0.1:${svc.healthPort}${hc.path}`;
  const py = `-c "import urllib.request; urllib.request.urlopen('${url}', timeout=${timeout})"`;
  return ['CMD-SHELL', `python3 ${py} 2>/dev/null || python ${py} 2>/dev/null || curl -fsS -o /dev/null '${url}' 2>/dev/null || wget -q -O /dev/null '${url}' || exit 1`];
}

/** Service key order of the Compose best-practice linters (dclint's service-keys-order); unknown keys go last. */
const SERVICE_KEY_ORDER = ['image', 'build', 'container_name', 'depends_on', 'volumes', 'volumes_from', 'configs', 'secrets', 'environment', 'env_file', 'ports', 'networks', 'network_mode', 'extra_hosts', 'command', 'entrypoint', 'working_dir', 'restart', 'healthcheck', 'logging', 'labels', 'user', 'isolation', 'cap_drop', 'deploy', 'read_only', 'security_opt', 'stop_grace_period', 'stop_signal', 'tmpfs'];

const SERVICE_KEY_RANK = new Map(SERVICE_KEY_ORDER.map((k, i) => [k, i]));
const serviceKeyRank = (k: string): number => SERVICE_KEY_RANK.get(k) ?? SERVICE_KEY_ORDER.length;

export function orderServiceKeys(service: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  // Known keys have distinct ranks: only unknown ones are compared by name.
  for (const k of Object.keys(service).sort((a, b) => serviceKeyRank(a) - serviceKeyRank(b) || a.localeCompare(b))) out[k] = service[k];
  return out;
}

export function sortObject<T>(o: Record<string, T>): Record<string, T> {
  const out = dictionary<T>();
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

/** `networks` of a compose service, or `network_mode: none` for one on no network. */
export function attach(service: any, networks: Record<string, NetworkAttachment>): void {
  if (Object.keys(networks).length > 0) service.networks = networks;
  else service.network_mode = 'none';
}

function renderVersion(model: StackModel, m: ServiceModel, vm: VersionModel, networks: Record<string, NetworkAttachment> | undefined): [string, ComposeService] {
  const svc = m.construct;
  const version = vm.construct;
  const mode = model.compose.networkMode;
  const env = dictionary<string>();
  // Host mode behind a gateway: each release of a version runs in a slot of loopback ports (host-gateway.ts).
  const slotted = mode === ComposeNetworkMode.HOST && needsGateway(svc);
  // Host mode shares the host's interfaces: a service nobody outside calls (or behind its gateway) listens on loopback only.
  if (mode === ComposeNetworkMode.HOST && (!svc.expose || slotted)) Object.assign(env, svc._loopbackListenEnv());
  if (slotted) Object.assign(env, svc._listenPortEnv(releaseLabel(version).slots[0]));
  // ... and its metrics endpoint always on loopback: metrics are never public.
  if (mode === ComposeNetworkMode.HOST) Object.assign(env, svc._loopbackMetricsEnv());
  for (const callee of m.calls) {
    const c = model.service(callee);
    env[c.urlVariable] = c.addresses.compose;
  }
  Object.assign(env, storeEnvironment(model, m));
  for (const [k, v] of Object.entries(vm.env)) {
    if (v.secret) {
      const variable = secretVariable(v.secret);
      // The swarm's loader (docker CLI 28) reads a `-` anywhere in `${VAR:?message}` as `${VAR-default}`
      // and substitutes the rest of the message for the secret (measured), so an overlay file's
      // message carries no `-` (secret names and keys may).
      env[k] = mode === ComposeNetworkMode.OVERLAY ? `\${${variable}:?set ${variable} to the value of this secret key}`
        : `\${${variable}:?set ${variable} to the value of key ${v.secret.key} of secret ${v.secret.name}}`;
    } else {
      env[k] = v.value!.replace(/\$/g, '$$$$');
    }
  }

  const service: any = {};
  if (vm.image.kind === 'build' && vm.image.asset && mode !== ComposeNetworkMode.OVERLAY) {
    // Built here, tagged with the same `<registry>/<service>:<content hash>` Kubernetes and Pulumi use
    // (`build.tags`, not `image` beside `build`, which linters flag as ambiguous).
    service.build = { context: `./${vm.image.asset.contextPath}`, dockerfile: vm.image.dockerfile, tags: [vm.image.reference] };
    if (Object.keys(vm.image.buildArgs).length > 0) service.build.args = sortObject({ ...vm.image.buildArgs });
  } else {
    // Registry images; and a swarm cannot build, so overlay stacks run the image pushed to imageRegistry.
    service.image = vm.image.reference;
  }
  if (svc.command) service.entrypoint = svc.command;
  if (svc.args) service.command = svc.args;
  if (Object.keys(env).length > 0) service.environment = sortObject(env);

  // A swarm ignores start order (and its loader rejects the long form): on an overlay stack services
  // must retry their connections at start, as the README says.
  const dependsOn = dictionary<{ condition: string; restart: boolean }>();
  for (const callee of svc.calls) {
    for (const name of composeServiceNames(callee)) {
      dependsOn[name] = { condition: callee.healthCheck.enabled ? 'service_healthy' : 'service_started', restart: true };
    }
  }
  Object.assign(dependsOn, storeDependencies(model, m));
  // A Migration of the release: its one-shot must exit 0 before any of the release's containers starts.
  Object.assign(dependsOn, migrationDependencies(model, vm.workloadName));
  if (Object.keys(dependsOn).length > 0 && mode !== ComposeNetworkMode.OVERLAY) service.depends_on = sortObject(dependsOn);

  if (mode === ComposeNetworkMode.HOST) {
    service.network_mode = 'host';
  } else {
    // Behind a gateway, versions answer only to `<svc>-<version>`: the service name is the gateway's.
    attach(service, networks!);
    if (svc.expose && !needsGateway(svc)) {
      service.ports = [publishedPort(svc)];
    }
  }

  const hc = svc.healthCheck;
  if (hc.enabled) {
    service.healthcheck = {
      test: healthTest(svc, slotted),
      interval: hc.interval.toGoString(),
      timeout: hc.timeout.toGoString(),
      retries: hc.failureThreshold,
      start_period: hc.startPeriod.toGoString(),
      start_interval: '2s',
    };
  }

  const deploy: any = {
    replicas: vm.replicas,
    resources: {
      limits: { cpus: svc.cpuLimit.toCompose(), memory: svc.memoryLimit.toCompose() },
      reservations: { cpus: svc.cpuRequest.toCompose(), memory: svc.memoryRequest.toCompose() },
    },
  };
  if (mode === ComposeNetworkMode.OVERLAY) Object.assign(deploy, swarmDeploy(model, m.settings.health.enabled ? m.settings.health : undefined, svc.restartPolicy));
  service.deploy = deploy;
  // A swarm restarts by deploy.restart_policy and ignores `restart`.
  if (mode !== ComposeNetworkMode.OVERLAY) service.restart = svc.restartPolicy;
  service.user = `${svc.runAsUser}:${svc.runAsUser}`;
  service.read_only = true;
  writableTmp(service, mode === ComposeNetworkMode.OVERLAY);
  service.cap_drop = ['ALL'];
  // A swarm cannot set no-new-privileges (`docker stack deploy` ignores security_opt): the README says so.
  if (mode !== ComposeNetworkMode.OVERLAY) service.security_opt = ['no-new-privileges:true'];
  service.stop_signal = 'SIGTERM';
  service.stop_grace_period = svc.gracefulShutdown.plus(svc.preStopDelay).toGoString();
  service.labels = sortObject({ ...versionLabels(version), ...(slotted ? { [RELEASE_LABEL]: JSON.stringify(releaseLabel(version)) } : {}) });
  service.logging = composeLogging(model);
  addServiceMounts(service, model, m, vm);
  addStoreSecretMounts(service, model, m);
  return [composeName(version), applyOverrides(orderServiceKeys(service), vm.hatches, vm.path)];
}

/** Swarm's default monitor window, for a service without a health check. */
const SWARM_MONITOR_MS = 5_000;

/**
 * The swarm part of `deploy` (overlay stacks): rolling updates start the new task before the old one
 * stops and roll back when a new task fails within the monitor window, which is as long as a new task's
 * health check can take to declare it unhealthy (start period + interval × failure threshold); restart
 * policy from the model; placement constraints from the stack.
 */
export function swarmDeploy(model: StackModel, health: { intervalMs: number; startPeriodMs: number; failureThreshold: number } | undefined, restartPolicy: string): Partial<ComposeDeploy> {
  const monitor = Duration.millis(health ? health.startPeriodMs + health.intervalMs * health.failureThreshold : SWARM_MONITOR_MS).toGoString();
  const out: Partial<ComposeDeploy> = {
    restart_policy: { condition: restartPolicy === 'on-failure' ? 'on-failure' : 'any' },
    update_config: { order: 'start-first', parallelism: 1, failure_action: 'rollback', monitor },
    rollback_config: { order: 'start-first', parallelism: 1, failure_action: 'pause', monitor },
  };
  if (model.compose.placement.length > 0) return { ...out, placement: { constraints: [...model.compose.placement] } };
  return out;
}

/** Name of the swarm config that carries a generated file: its content hash keeps configs immutable across releases. */
export function swarmConfigName(file: Artifact): string {
  const base = file.path.split('/').pop()!.replace(/[^A-Za-z0-9_-]/g, '-');
  return `${base}-${createHash('sha256').update(file.content ?? '').digest('hex').slice(0, 10)}`;
}

/**
 * The writable /tmp of a read-only container: the `tmpfs` key for docker compose, and a tmpfs mount
 * in `volumes` on a swarm, whose stack loader does not apply the `tmpfs` key (measured: the container's
 * /tmp stayed read-only, and gunicorn could not create its metrics directory there).
 */
export function writableTmp(service: Record<string, unknown>, swarm: boolean): void {
  if (!swarm) {
    service.tmpfs = ['/tmp'];
    return;
  }
  const volumes = (service.volumes as ComposeVolumeMount[] | undefined) ?? [];
  service.volumes = [...volumes, { type: 'tmpfs', target: '/tmp' }];
}

function luaFile(stack: Stack, svc: MicroService): string {
  return `${stack.stackName}.compose/${svc.serviceName}-gateway.lua`;
}

/** The gateway proxy container: carries the service's name and port, enforces its routes and breaker. */
function gatewayService(model: StackModel, svc: MicroService, networks: Record<string, NetworkAttachment> | undefined, conf: Artifact, lua: Artifact | undefined): any {
  const swarm = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const dependsOn = dictionary<{ condition: string; restart: boolean }>();
  for (const v of svc.versions) dependsOn[v.workloadName] = { condition: svc.healthCheck.enabled ? 'service_healthy' : 'service_started', restart: true };
  const service: any = { image: GATEWAY_IMAGE };
  const host = model.compose.networkMode === ComposeNetworkMode.HOST;
  // A swarm ignores start order; HAProxy starts without its servers (init-addr none) and finds them by DNS.
  if (!swarm) service.depends_on = sortObject(dependsOn);
  // Host mode: the gateway binds the service's (and public entries') ports on the host itself.
  if (host) service.network_mode = 'host';
  else attach(service, networks!);
  const ports: string[] = [];
  if (svc.expose) ports.push(publishedPort(svc));
  publicGateways(svc).forEach((g, i) => {
    ports.push(`0.0.0.0:${g.httpPort}:${PUBLIC_CONTAINER_PORT_BASE + i}/tcp`);
    if (g.tls) ports.push(`0.0.0.0:${g.httpsPort}:${PUBLIC_TLS_CONTAINER_PORT_BASE + i}/tcp`);
  });
  if (ports.length > 0 && !host) service.ports = ports;
  // On a swarm the generated files travel as configs (a bind mount would need the file on every node).
  const generated: Array<[Artifact, string]> = [[conf, '/usr/local/etc/haproxy/haproxy.cfg'], ...(lua ? [[lua, GATEWAY_LUA_PATH] as [Artifact, string]] : [])];
  service.volumes = [];
  if (swarm) {
    service.configs = generated.map(([file, target]) => ({ source: swarmConfigName(file), target, mode: 0o444 }));
  } else {
    for (const [file, target] of generated.slice(0, 1)) service.volumes.push({ type: 'bind', source: `./${file.path}`, target, read_only: true });
  }
  for (const g of publicGateways(svc)) {
    if (g.tls?.composeCertificateFile) service.volumes.push({ type: 'bind', source: g.tls.composeCertificateFile, target: gatewayCertificatePath(g), read_only: true });
  }
  if (!swarm) for (const [file, target] of generated.slice(1)) service.volumes.push({ type: 'bind', source: `./${file.path}`, target, read_only: true });
  if (service.volumes.length === 0) delete service.volumes;
  const g = GATEWAY_RUNTIME;
  service.healthcheck = {
    test: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${host ? hostGatewayLayout(svc).healthPort : GATEWAY_HEALTH_PORT}/healthz`],
    interval: Duration.millis(g.health.intervalMs).toGoString(), timeout: Duration.millis(g.health.timeoutMs).toGoString(),
    retries: g.health.retries, start_period: Duration.millis(g.health.startPeriodMs).toGoString(), start_interval: '1s',
  };
  service.deploy = {
    resources: {
      limits: { cpus: Cpu.millis(g.cpuLimitMillis).toCompose(), memory: Size.mebibytes(g.memoryLimitMiB).toCompose() },
      reservations: { cpus: Cpu.millis(g.cpuRequestMillis).toCompose(), memory: Size.mebibytes(g.memoryReservationMiB).toCompose() },
    },
  };
  if (swarm) {
    Object.assign(service.deploy, swarmDeploy(model, { intervalMs: g.health.intervalMs, startPeriodMs: g.health.startPeriodMs, failureThreshold: g.health.retries }, svc.restartPolicy));
  } else {
    service.restart = svc.restartPolicy;
  }
  service.read_only = true;
  writableTmp(service, swarm);
  service.cap_drop = ['ALL'];
  if (!swarm) service.security_opt = ['no-new-privileges:true'];
  // SIGUSR1 is HAProxy's soft stop: it finishes in-flight requests, then exits.
  service.stop_signal = 'SIGUSR1';
  service.stop_grace_period = svc.gracefulShutdown.toGoString();
  service.labels = sortObject({ 'app': svc.serviceName, 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/managed-by': 'pyfleet', 'app.kubernetes.io/part-of': svc.stack.stackName });
  return orderServiceKeys(service);
}

/**
 * Applies the compose overrides recorded with `Compose.of(...)` to a generated service: each dotted
 * path is set (objects are created on the way) or deleted.
 */
export function applyOverrides(service: Record<string, unknown>, hatches: Hatches, owner: string): ComposeService {
  if (hatches.compose.length === 0) return service as ComposeService;
  const out = JSON.parse(JSON.stringify(service)) as Record<string, unknown>;
  for (const o of hatches.compose) {
    const keys = o.path.split('.');
    const last = keys.pop()!;
    let node: Record<string, unknown> | undefined = out;
    for (const [i, k] of keys.entries()) {
      const next: unknown = node[k];
      if (next === undefined) {
        if (o.remove) { node = undefined; break; } // nothing to delete
        node = node[k] = {};
        continue;
      }
      if (next === null || typeof next !== 'object' || Array.isArray(next)) {
        throw new PyfleetError(owner, `the compose override "${o.path}" goes through "${k}", which is ${Array.isArray(next) ? 'a list' : `the value ${JSON.stringify(next)}`}, not a mapping`,
          `override "${keys.slice(0, i + 1).join('.')}" as a whole instead`);
      }
      node = next as Record<string, unknown>;
    }
    if (!node) continue;
    if (o.remove) delete node[last];
    else node[last] = JSON.parse(JSON.stringify(o.value));
  }
  return out as ComposeService;
}

/** The `logging` key of every compose service: json-file with rotation, so logs never fill the disk. */
export function composeLogging(model: StackModel): ComposeServiceLogging {
  const l = model.compose.logging;
  const kib = l.maxSizeBytes / 1024;
  const size = kib % 1024 === 0 ? `${kib / 1024}m` : `${kib}k`;
  return { driver: l.driver, options: { 'max-file': String(l.maxFiles), 'max-size': size } };
}

/**
 * The stack's compose document. With `prerendered`, the services of versions and gateways are held as
 * their YAML text as soon as each is built ({@link prerender}; only {@link tryDumpDocument} writes such
 * a document): at 2,000 services their objects would otherwise all live until the file is written.
 */
export function composeDocument(model: StackModel, options: { readonly prerendered?: boolean } = {}): { document: ComposeProject; files: Artifact[] } {
  const stack = model.construct;
  const plan = networkPlan(model);
  const services = dictionary<ComposeService>();
  // A service's value sits at level 2 of the document (`services:` is level 1).
  const held = (def: ComposeService): ComposeService => (options.prerendered ? (prerender(def, 2, { forceQuotes: true }) as ComposeService | undefined) ?? def : def);
  const files: Artifact[] = [];
  for (const m of model.services) {
    const svc = m.construct;
    for (const vm of m.versions) {
      const [name, def] = renderVersion(model, m, vm, plan.attachments(composeName(vm.construct)));
      services[name] = held(def);
    }
    if (needsGateway(svc)) {
      const conf: Artifact = { path: `${stack.stackName}.compose/${svc.serviceName}-gateway.cfg`, content: gatewayConfig(svc) };
      const lua: Artifact | undefined = needsGatewayLua(svc) ? { path: luaFile(stack, svc), content: GATEWAY_LUA } : undefined;
      const gateway = { ...gatewayService(model, svc, plan.attachments(svc.serviceName), conf, lua), logging: composeLogging(model) };
      services[svc.serviceName] = held(applyOverrides(orderServiceKeys(gateway), m.hatches, m.path));
      files.push(conf);
      if (lua) files.push(lua);
    }
  }
  Object.assign(services, backgroundServices(model, plan));
  // Monitoring (`Monitoring.prometheus()`): Prometheus, and Grafana when asked (lib/render/monitoring/compose).
  const monitoring = monitoringCompose(model, (c) => plan.attachments(c));
  Object.assign(services, monitoring.services);
  files.push(...monitoring.files);
  const swarm = model.compose.networkMode === ComposeNetworkMode.OVERLAY;
  const common = { logging: composeLogging(model), order: orderServiceKeys, swarmDeploy: (h: { intervalMs: number; startPeriodMs: number; failureThreshold: number }) => swarmDeploy(model, h, 'always') as Record<string, unknown> };
  for (const d of model.dataStores) services[d.name] = applyOverrides(dataStoreService(model, d, plan.attachments(d.name), common) as Record<string, unknown>, d.hatches, d.path);
  // The swarm's loader (`docker stack config/deploy`) has no top-level `name`: the stack is named on its command line.
  const document: ComposeProject = swarm ? { services: sortObject(services) } : { name: model.name, services: sortObject(services) };
  if (Object.keys(plan.networks).length > 0) document.networks = plan.networks;
  const namedVolumes = { ...(model.dataStores.some((d) => d.storageBytes !== undefined) ? dataVolumes(model) : {}), ...monitoring.volumes };
  if (Object.keys(namedVolumes).length > 0) document.volumes = sortObject(namedVolumes);
  if (swarm) {
    const configs = dictionary<{ file: string }>();
    for (const f of files) configs[swarmConfigName(f)] = { file: `./${f.path}` };
    if (files.length > 0) document.configs = sortObject(configs);
  }
  files.push(...addProjectMounts(model, document));
  addDataSecrets(model, document);
  return { document, files };
}

/** The deploying shell's variable that carries a secret key into the compose project. */
export function secretVariable(secret: { readonly name: string; readonly key: string }): string {
  return `${secret.name}_${secret.key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
}

/** Two different secret keys that would be read from one shell variable. */
function secretVariableClashes(model: StackModel): PyfleetError[] {
  const errors: PyfleetError[] = [];
  const seen = new Map<string, { name: string; key: string; path: string }>();
  for (const m of model.services) {
    for (const vm of m.versions) {
      for (const v of Object.values(vm.env)) {
        if (!v.secret) continue;
        const variable = secretVariable(v.secret);
        const other = seen.get(variable);
        if (other && (other.name !== v.secret.name || other.key !== v.secret.key)) {
          errors.push(new PyfleetError(vm.path, `secret "${v.secret.name}" key "${v.secret.key}" and secret "${other.name}" key "${other.key}" (used by ${other.path}) would both be read from the shell variable ${variable} on compose`,
            'rename one secret or key so that their names differ in more than case, "-", "." and "_"'));
        } else if (!other) {
          seen.set(variable, { name: v.secret.name, key: v.secret.key, path: vm.path });
        }
      }
    }
  }
  return errors;
}

/** Host ports a service publishes on the machine its compose project runs on. */
function publishedHostPorts(svc: MicroService): number[] {
  if (svc.stack.composeNetworkMode === ComposeNetworkMode.HOST && needsGateway(svc)) {
    return [...new Set([...hostGatewayPorts(svc), ...publicGateways(svc).flatMap((g) => (g.tls ? [g.httpPort, g.httpsPort] : [g.httpPort]))])];
  }
  if (svc.stack.composeNetworkMode === ComposeNetworkMode.HOST) return [svc.port, ...Object.values(svc.additionalPorts)];
  return svc.expose ? [svc.expose.port] : [];
}

/**
 * An overlay stack runs on a swarm, whose nodes pull every image: an image built here must be named
 * under a registry they can pull from, not the `pyfleet.local/<stack>` placeholder.
 */
function swarmImageProblems(model: StackModel): PyfleetError[] {
  if (model.compose.networkMode !== ComposeNetworkMode.OVERLAY || !model.construct.imageRegistryIsPlaceholder) return [];
  const errors: PyfleetError[] = [];
  for (const m of model.services) {
    for (const vm of m.versions) {
      if (vm.image.kind !== 'build') continue;
      errors.push(new PyfleetError(vm.path, `the stack deploys to a Docker swarm (ComposeNetworkMode.OVERLAY), whose nodes pull every image, but this version's image is built from source and named "${vm.image.reference}" under the placeholder registry "${model.imageRegistry}", which no swarm node can pull from`,
        `set imageRegistry on the stack to a registry the nodes can pull from (new Stack(app, '${model.name}', { imageRegistry: 'ghcr.io/acme/${model.name}', ... })), then build and push the images before \`docker stack deploy\`: the header of ${model.name}.compose.yml lists the docker build and docker push commands`));
    }
  }
  // A CeleryWorker's image is built too.
  for (const w of model.workers) {
    if (w.image.kind !== 'build') continue;
    errors.push(new PyfleetError(w.path, `the stack deploys to a Docker swarm (ComposeNetworkMode.OVERLAY), whose nodes pull every image, but this worker's image is built from source and named "${w.image.reference}" under the placeholder registry "${model.imageRegistry}", which no swarm node can pull from`,
      `set imageRegistry on the stack to a registry the nodes can pull from, then build and push the image before \`docker stack deploy\``));
  }
  return errors;
}

/** Header lines of an overlay stack's compose file: build and push each built image, then deploy. */
function swarmHeader(model: StackModel): string {
  const L: string[] = [];
  const seen = new Set<string>();
  for (const vm of [...model.services.flatMap((m) => m.versions), ...model.workers]) {
    if (vm.image.kind !== 'build' || !vm.image.asset || seen.has(vm.image.reference)) continue;
    seen.add(vm.image.reference);
    const ctx = `./${vm.image.asset.contextPath}`;
    const args = Object.keys(vm.image.buildArgs).sort().map((k) => ` --build-arg ${k}=${vm.image.buildArgs[k]}`).join('');
    L.push(`#   docker build -t ${vm.image.reference} -f ${ctx}/${vm.image.dockerfile ?? 'Dockerfile'}${args} ${ctx} && docker push ${vm.image.reference}`);
  }
  const head = `# Generated by pyfleet for stack "${model.name}", for a Docker swarm. Deploy: docker stack deploy -c ${model.name}.compose.yml ${model.name}\n`;
  return L.length === 0 ? head : `${head}# A swarm pulls every image: build and push the built ones first:\n${L.join('\n')}\n`;
}

/**
 * Rules of the compose target. They apply to stacks with compose enabled, each compose project on
 * its own: a project runs on one machine, so its host ports must not clash, and host network mode runs
 * one container per service. Two projects may run on different machines; when two of one App publish
 * the same host port, `App.warnings()` says so (they cannot share a machine).
 */
export function composeProblems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    if (!model.compose.enabled) continue;
    const stack = model.construct;
    errors.push(...gatewayProblems(stack));
    errors.push(...secretVariableClashes(model));
    errors.push(...networkNameProblems(model));
    errors.push(...swarmImageProblems(model));
    errors.push(...dataStoreComposeProblems(model));
    errors.push(...backgroundComposeProblems(model));
    errors.push(...monitoringComposeProblems([model]));
    const hostPorts = new Map<number, MicroService>();
    for (const m of model.services) {
      const svc = m.construct;
      if (m.hatches.compose.length > 0 && !needsGateway(svc)) {
        errors.push(new PyfleetError(m.path, 'Compose.of(service) overrides the gateway proxy of a service, but this service has none on compose', `override its version instead: Compose.of(${svc.serviceName}.defaultVersion)`));
      }
      for (const port of publishedHostPorts(svc)) {
        const other = hostPorts.get(port);
        if (other && other !== svc) {
          const metrics = port === svc._metricsPort() || port === other._metricsPort();
          errors.push(new PyfleetError(svc.node.path, `host port ${port} is already taken by "${other.node.path}" in the compose project of stack "${model.name}"${metrics ? ' (in host network mode a metrics port is a host port too)' : ''}`,
            metrics
              ? 'give each Python service of a host-mode project its own metrics port (metrics: { port: 9101 }, 9102, ...), or metrics: false'
              : 'give each service its own public port (expose.port) or, in host network mode, its own container port; or turn compose off for a Kubernetes-only stack (compose: { enabled: false })'));
        } else {
          hostPorts.set(port, svc);
        }
      }
      if (model.compose.networkMode !== ComposeNetworkMode.HOST) continue;
      // In host network mode the container binds on the host, where ports below 1024 need root (or
      // CAP_NET_BIND_SERVICE, which pyfleet drops); on a bridge Docker lets any user bind them.
      for (const [name, port] of [['http', svc.port], ...Object.entries(svc.additionalPorts)] as Array<[string, number]>) {
        if (port < 1024) {
          errors.push(new PyfleetError(svc.node.path, `port "${name}" ${port} is privileged: in host network mode the container binds it on the host as UID ${svc.runAsUser}, which only root may do`,
            `use a container port from 1024 up (e.g. ${port + 8000}), or ComposeNetworkMode.BRIDGE and expose: { port: ${port} }`));
        }
      }
      const containers = svc.versions.reduce((n, v) => n + v.replicas, 0);
      if (needsGateway(svc)) {
        // Behind a gateway each version has its own loopback ports (one container per version).
        const many = svc.versions.filter((v) => v.replicas > 1);
        if (many.length > 0) {
          errors.push(new PyfleetError(svc.node.path, `host network mode runs one container per version, but ${many.map((v) => `"${v.versionName}" asks for ${v.replicas}`).join(', ')}; they would all bind one loopback port`,
            'set replicas: 1 on each version for host mode, or use ComposeNetworkMode.BRIDGE'));
        }
      } else if (svc.versions.length > 1 || svc.versions.some((v) => v.replicas > 1)) {
        errors.push(new PyfleetError(svc.node.path, `host network mode runs one container per service, but "${svc.serviceName}" asks for ${containers} containers (${svc.versions.length} version(s)); they would all bind port ${svc.port}`,
          'set replicas: 1 and keep one version for host mode, or use ComposeNetworkMode.BRIDGE'));
      }
      if (svc.expose && svc.expose.port !== svc.port) {
        errors.push(new PyfleetError(svc.node.path, `in host network mode the container publishes its own port ${svc.port}, so it cannot be exposed on ${svc.expose.port}`,
          `set expose.port to ${svc.port}, change the service port, or use ComposeNetworkMode.BRIDGE`));
      }
    }
    errors.push(...workerMetricsPortProblems(model, hostPorts));
  }
  return errors;
}

/**
 * In host network mode a Celery worker's metrics port is a port of the host: it must not be one a
 * service, another worker or the stack's Prometheus/Grafana binds there, nor a privileged one.
 */
function workerMetricsPortProblems(model: StackModel, hostPorts: ReadonlyMap<number, MicroService>): PyfleetError[] {
  if (model.compose.networkMode !== ComposeNetworkMode.HOST) return [];
  const errors: PyfleetError[] = [];
  const taken = new Map<number, string>();
  for (const [port, svc] of hostPorts) taken.set(port, `the service "${svc.node.path}"`);
  const mon = model.monitoring;
  if (mon) {
    taken.set(mon.prometheusPort, 'the compose Prometheus (Monitoring.prometheus({ prometheusPort }))');
    if (mon.grafana) taken.set(mon.grafanaPort, 'Grafana (Monitoring.prometheus({ grafanaPort }))');
  }
  for (const w of model.workers) {
    if (!w.metrics) continue;
    const port = w.metrics.port;
    const other = taken.get(port);
    if (other) {
      errors.push(new PyfleetError(w.path, `the worker's metrics port ${port} clashes with ${other} in the compose project of stack "${model.name}": in host network mode every container binds the host's ports`,
        `give the worker a metrics port of its own (metrics: { port: ${port === 9110 ? 9111 : 9110} }), or metrics: false`));
    } else {
      taken.set(port, `the worker "${w.path}"`);
    }
    if (port < 1024) {
      errors.push(new PyfleetError(w.path, `the worker's metrics port ${port} is privileged: in host network mode the container binds it on the host as UID ${w.runAsUser}, which only root may do`,
        'use a metrics port from 1024 up (e.g. 9110), or ComposeNetworkMode.BRIDGE'));
    }
  }
  return errors;
}

/**
 * Warnings of the compose target: host network mode, which cannot segment; autoscaled versions, which
 * compose runs at their minimum (it cannot autoscale); host ports that two compose projects of the App
 * both publish.
 */
export function composeWarnings(models: readonly StackModel[]): PyfleetWarning[] {
  const out: PyfleetWarning[] = models.flatMap(hostModeWarnings);
  for (const model of models) {
    if (!model.compose.enabled) continue;
    for (const vm of model.services.flatMap((m) => m.versions)) {
      if (vm.autoscale) out.push({ constructPath: vm.path, message: `compose cannot autoscale: it runs autoscale.min = ${vm.replicas} container${vm.replicas === 1 ? '' : 's'} of "${vm.workloadName}" (the Kubernetes autoscaler may run up to ${vm.autoscale.max}). Size the machine for the load those handle, or scale by hand (docker compose up --scale)` });
    }
  }
  const seen = new Map<number, MicroService>();
  for (const model of models) {
    if (!model.compose.enabled) continue;
    const own = new Set<number>();
    for (const m of model.services) {
      for (const port of publishedHostPorts(m.construct)) {
        const other = seen.get(port);
        if (other && other.stack !== m.construct.stack && !own.has(port)) {
          out.push({ constructPath: m.path, message: `host port ${port} is also published by "${other.node.path}" of stack "${other.stack.stackName}": the two compose projects cannot run on the same machine. Give one another port if they share a VPS` });
        }
        own.add(port);
        if (!seen.has(port)) seen.set(port, m.construct);
      }
    }
  }
  return out;
}

/** The compose target: `<stack>.compose.yml` (and gateway configs) for stacks with compose enabled. */
export function composeTarget(): Target<ComposeProject> {
  return {
    name: 'compose',
    cacheVersion: 'pyfleet',
    validate: composeProblems,
    warnings: (models) => [...composeWarnings(models), ...composeVolumeWarnings(models)],
    render(model, options) {
      if (!model.compose.enabled) return {};
      const header = model.compose.networkMode === ComposeNetworkMode.OVERLAY ? swarmHeader(model)
        : `# Generated by pyfleet for stack "${model.name}". Run: docker compose -f ${model.name}.compose.yml up -d --wait\n`;
      // Every string quoted: compose would read `yes`, `80:80` or `0.5` as other types.
      const quoted = { forceQuotes: true };
      if (options?.result === false) {
        // Only the file is wanted: each service becomes text as it is built. A document with a part
        // only js-yaml writes is built again as objects.
        const { document, files } = composeDocument(model, { prerendered: true });
        const text = tryDumpDocument(document, quoted);
        if (text !== undefined) return { artifacts: [{ path: `${model.name}.compose.yml`, content: header + text }, ...files] };
      }
      const { document, files } = composeDocument(model);
      const content = header + dumpDocument(document, quoted);
      return { result: document, artifacts: [{ path: `${model.name}.compose.yml`, content }, ...files] };
    },
  };
}
