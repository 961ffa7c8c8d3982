import * as yaml from 'js-yaml';
import { Artifact, registerRenderer } from '../../core/renderer';
import { ComposeNetworkMode, Stack } from '../../core/stack';
import { imageAsset } from '../../service/asset';
import { versionLabels } from '../../service/labels';
import { MicroService, ServiceVersion } from '../../service/microservice';
import { imageReference } from '../../service/reference';
import { GATEWAY_HEALTH_PORT, GATEWAY_IMAGE, GATEWAY_LUA, GATEWAY_LUA_PATH, gatewayConfig, needsGatewayLua, gatewayProblems, needsGateway, PUBLIC_CONTAINER_PORT_BASE, PUBLIC_TLS_CONTAINER_PORT_BASE, gatewayCertificatePath, publicGateways } from './gateway';

/**
 * Compose service names callers wait for: its own name when it has one version or a gateway proxy
 * (the gateway carries the service's name and waits for the versions itself).
 */
export function composeServiceNames(svc: MicroService): string[] {
  return svc.versions.length === 1 || needsGateway(svc) ? [svc.serviceName] : svc.versions.map((v) => v.workloadName);
}

function composeName(version: ServiceVersion): string {
  return version.service.versions.length === 1 && !needsGateway(version.service) ? version.service.serviceName : version.workloadName;
}

/** The URL a caller uses to reach `svc` in the stack's compose project. */
export function composeUrl(svc: MicroService): string {
  if (svc.stack.composeNetworkMode === ComposeNetworkMode.HOST) return `http://127.0.0.1:${svc.port}`;
  return `http://${svc.serviceName}:${svc.port}`;
}

/** Public port, bound on every interface explicitly (short syntax: valid for Compose v2 and docker-compose 1.29). */
function publishedPort(svc: MicroService): string {
  return `0.0.0.0:${svc.expose!.port}:${svc.port}/tcp`;
}

function healthTest(svc: MicroService): string[] {
  const hc = svc.healthCheck;
  if (hc.composeCommand) return ['CMD', ...hc.composeCommand];
  const url = `http://127.0.0.1:${svc.healthPort}${hc.path}`;
  const timeout = Math.max(1, hc.timeout.seconds);
  const py = `-c "import urllib.request; urllib.request.urlopen('${url}', timeout=${timeout})"`;
  return ['CMD-SHELL', `python3 ${py} 2>/dev/null || python ${py} 2>/dev/null || curl -fsS -o /dev/null '${url}' 2>/dev/null || wget -q -O /dev/null '${url}' || exit 1`];
}

/** Service key order of the Compose best-practice linters (dclint's service-keys-order); unknown keys go last. */
const SERVICE_KEY_ORDER = ['image', 'build', 'container_name', 'depends_on', 'volumes', 'volumes_from', 'configs', 'secrets', 'environment', 'env_file', 'ports', 'networks', 'network_mode', 'extra_hosts', 'command', 'entrypoint', 'working_dir', 'restart', 'healthcheck', 'logging', 'labels', 'user', 'isolation', 'cap_drop', 'deploy', 'read_only', 'security_opt', 'stop_grace_period', 'stop_signal', 'tmpfs'];

function orderServiceKeys(service: Record<string, unknown>): Record<string, unknown> {
  const rank = (k: string): number => { const i = SERVICE_KEY_ORDER.indexOf(k); return i < 0 ? SERVICE_KEY_ORDER.length : i; };
  const out: Record<string, unknown> = {};
  for (const k of Object.keys(service).sort((a, b) => rank(a) - rank(b) || a.localeCompare(b))) out[k] = service[k];
  return out;
}

function sortObject<T>(o: Record<string, T>): Record<string, T> {
  const out: Record<string, T> = {};
  for (const k of Object.keys(o).sort()) out[k] = o[k];
  return out;
}

function renderVersion(stack: Stack, version: ServiceVersion, networkName: string): [string, any] {
  const svc = version.service;
  const mode = stack.composeNetworkMode;
  const env: Record<string, string> = {};
  // Host mode shares the host's interfaces: a service nobody outside calls listens on loopback only.
  if (mode === ComposeNetworkMode.HOST && !svc.expose) Object.assign(env, svc._loopbackListenEnv());
  for (const callee of svc.calls) env[callee.urlVariable] = composeUrl(callee);
  for (const [k, v] of Object.entries(version.env)) {
    if (v.secret) {
      const variable = `${v.secret.name}_${v.secret.key}`.toUpperCase().replace(/[^A-Z0-9]/g, '_');
      env[k] = `\${${variable}:?set ${variable} to the value of key ${v.secret.key} of secret ${v.secret.name}}`;
    } else {
      env[k] = v.value!.replace(/\$/g, '$$$$');
    }
  }

  const service: any = {};
  if (version.image.kind === 'build' && mode !== ComposeNetworkMode.OVERLAY) {
    // Built here, tagged with the same `<registry>/<service>:<content hash>` Kubernetes and Pulumi use
    // (`build.tags`, not `image` beside `build`, which linters flag as ambiguous).
    const asset = imageAsset(version.image);
    service.build = { context: `./${asset.contextPath}`, dockerfile: version.image.dockerfile, tags: [imageReference(version)] };
    if (Object.keys(version.image.buildArgs).length > 0) service.build.args = sortObject(version.image.buildArgs);
  } else {
    // Registry images; and a swarm cannot build, so overlay stacks run the image pushed to imageRegistry.
    service.image = imageReference(version);
  }
  if (svc.command) service.entrypoint = svc.command;
  if (svc.args) service.command = svc.args;
  if (Object.keys(env).length > 0) service.environment = sortObject(env);

  const dependsOn: Record<string, { condition: string; restart: boolean }> = {};
  for (const callee of svc.calls) {
    for (const name of composeServiceNames(callee)) {
      dependsOn[name] = { condition: callee.healthCheck.enabled ? 'service_healthy' : 'service_started', restart: true };
    }
  }
  if (Object.keys(dependsOn).length > 0) service.depends_on = sortObject(dependsOn);

  if (mode === ComposeNetworkMode.HOST) {
    service.network_mode = 'host';
  } else {
    // Behind a gateway, versions answer only to `<svc>-<version>`: the service name is the gateway's.
    service.networks = needsGateway(svc) ? { [networkName]: { aliases: [version.workloadName] } } : { [networkName]: { aliases: [svc.serviceName] } };
    if (svc.expose && !needsGateway(svc)) {
      service.ports = [publishedPort(svc)];
    }
  }

  const hc = svc.healthCheck;
  if (hc.enabled) {
    service.healthcheck = {
      test: healthTest(svc),
      interval: hc.interval.toGoString(),
      timeout: hc.timeout.toGoString(),
      retries: hc.failureThreshold,
      start_period: hc.startPeriod.toGoString(),
      start_interval: '2s',
    };
  }

  const deploy: any = {
    replicas: version.replicas,
    resources: {
      limits: { cpus: svc.cpuLimit.toCompose(), memory: svc.memoryLimit.toCompose() },
      reservations: { cpus: svc.cpuRequest.toCompose(), memory: svc.memoryRequest.toCompose() },
    },
  };
  if (mode === ComposeNetworkMode.OVERLAY) {
    deploy.restart_policy = { condition: svc.restartPolicy === 'on-failure' ? 'on-failure' : 'any' };
    deploy.update_config = { order: 'start-first', parallelism: 1, failure_action: 'rollback' };
  }
  service.deploy = deploy;
  service.restart = svc.restartPolicy;
  service.user = `${svc.runAsUser}:${svc.runAsUser}`;
  service.read_only = true;
  service.tmpfs = ['/tmp'];
  service.cap_drop = ['ALL'];
  service.security_opt = ['no-new-privileges:true'];
  service.stop_signal = 'SIGTERM';
  service.stop_grace_period = svc.gracefulShutdown.plus(svc.preStopDelay).toGoString();
  service.labels = sortObject(versionLabels(version));
  return [composeName(version), orderServiceKeys(service)];
}

function luaFile(stack: Stack, svc: MicroService): string {
  return `${stack.stackName}.compose/${svc.serviceName}-gateway.lua`;
}

/** The gateway proxy container: carries the service's name and port, enforces its routes and breaker. */
function gatewayService(svc: MicroService, networkName: string, confPath: string): any {
  const dependsOn: Record<string, any> = {};
  for (const v of svc.versions) dependsOn[v.workloadName] = { condition: svc.healthCheck.enabled ? 'service_healthy' : 'service_started', restart: true };
  const service: any = {
    image: GATEWAY_IMAGE,
    depends_on: sortObject(dependsOn),
    networks: { [networkName]: { aliases: [svc.serviceName] } },
  };
  const ports: string[] = [];
  if (svc.expose) ports.push(publishedPort(svc));
  publicGateways(svc).forEach((g, i) => {
    ports.push(`0.0.0.0:${g.httpPort}:${PUBLIC_CONTAINER_PORT_BASE + i}/tcp`);
    if (g.tls) ports.push(`0.0.0.0:${g.httpsPort}:${PUBLIC_TLS_CONTAINER_PORT_BASE + i}/tcp`);
  });
  if (ports.length > 0) service.ports = ports;
  service.volumes = [{ type: 'bind', source: `./${confPath}`, target: '/usr/local/etc/haproxy/haproxy.cfg', read_only: true }];
  for (const g of publicGateways(svc)) {
    if (g.tls?.composeCertificateFile) service.volumes.push({ type: 'bind', source: g.tls.composeCertificateFile, target: gatewayCertificatePath(g), read_only: true });
  }
  if (needsGatewayLua(svc)) service.volumes.push({ type: 'bind', source: `./${luaFile(svc.stack, svc)}`, target: GATEWAY_LUA_PATH, read_only: true });
  service.healthcheck = {
    test: ['CMD', 'wget', '-q', '-O', '/dev/null', `http://127.0.0.1:${GATEWAY_HEALTH_PORT}/healthz`],
    interval: '10s', timeout: '2s', retries: 3, start_period: '5s', start_interval: '1s',
  };
  service.deploy = { resources: { limits: { cpus: '0.5', memory: '128m' }, reservations: { cpus: '0.1', memory: '32m' } } };
  service.restart = svc.restartPolicy;
  service.read_only = true;
  service.tmpfs = ['/tmp'];
  service.cap_drop = ['ALL'];
  service.security_opt = ['no-new-privileges:true'];
  // SIGUSR1 is HAProxy's soft stop: it finishes in-flight requests, then exits.
  service.stop_signal = 'SIGUSR1';
  service.stop_grace_period = svc.gracefulShutdown.toGoString();
  service.labels = sortObject({ 'app': svc.serviceName, 'app.kubernetes.io/component': 'gateway', 'app.kubernetes.io/managed-by': 'pyfleet', 'app.kubernetes.io/part-of': svc.stack.stackName });
  return orderServiceKeys(service);
}

/** The stack's compose document. */
export function composeDocument(stack: Stack): { document: any; files: Artifact[] } {
  const networkName = stack.stackName;
  const services: Record<string, any> = {};
  const files: Artifact[] = [];
  for (const svc of stack.services) {
    for (const version of svc.versions) {
      const [name, def] = renderVersion(stack, version, networkName);
      services[name] = def;
    }
    if (needsGateway(svc)) {
      const confPath = `${stack.stackName}.compose/${svc.serviceName}-gateway.cfg`;
      services[svc.serviceName] = gatewayService(svc, networkName, confPath);
      files.push({ path: confPath, content: gatewayConfig(svc) });
      if (needsGatewayLua(svc)) files.push({ path: luaFile(stack, svc), content: GATEWAY_LUA });
    }
  }
  const document: any = { name: stack.stackName, services: sortObject(services) };
  if (stack.composeNetworkMode !== ComposeNetworkMode.HOST) {
    document.networks = {
      [networkName]: stack.composeNetworkMode === ComposeNetworkMode.OVERLAY ? { driver: 'overlay', attachable: true } : { driver: 'bridge' },
    };
  }
  return { document, files };
}

registerRenderer({
  name: 'compose',
  order: 50,
  validate: (stack) => (stack.composeEnabled ? gatewayProblems(stack) : []),
  render(stack) {
    if (!stack.composeEnabled) return {};
    const { document, files } = composeDocument(stack);
    const header = `# Generated by pyfleet for stack "${stack.stackName}". Run: docker compose -f ${stack.stackName}.compose.yml up -d --wait\n`;
    const content = header + yaml.dump(document, { noRefs: true, lineWidth: -1, sortKeys: false, forceQuotes: true, quotingType: "'" });
    return { result: document, artifacts: [{ path: `${stack.stackName}.compose.yml`, content }, ...files] };
  },
});
