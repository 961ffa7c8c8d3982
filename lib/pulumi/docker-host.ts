import { createHash } from 'crypto';
import * as path from 'path';
import * as docker from '@pulumi/docker';
import * as pulumi from '@pulumi/pulumi';
import * as random from '@pulumi/random';
import { PyfleetError } from '../core/errors';
import { ComposeNetworkMode, Stack } from '../core/stack';
import type { Duration } from '../core/units';
import { ComposeRuntime, composeRuntime } from '../render/compose/runtime';
import { assetOutdir, synthesizeStack, writeContexts } from './common';
import { directoryKey, filesByDirectory, filesHash, HostFile, HostFileSources, serviceFiles } from './docker-files';

/** Arguments of a DockerHostDeployment. */
export interface DockerHostDeploymentArgs {
  /** The pyfleet stack to deploy (rendered exactly as its compose file is). */
  readonly stack: Stack;
  /**
   * The Docker provider to deploy with.
   * @default - a provider for `host` when it is given, else Pulumi's default Docker provider
   */
  readonly provider?: docker.Provider;
  /**
   * Docker host to deploy to: `ssh://user@host[:port]`, `tcp://host:2376` (TLS, with the cert options)
   * or `unix:///var/run/docker.sock`. Ignored when `provider` is given.
   * @default - the ambient `DOCKER_HOST`
   */
  readonly host?: string;
  /**
   * Extra `ssh` options for an `ssh://` host, e.g. `['-o', 'StrictHostKeyChecking=yes']`.
   * @default - none
   */
  readonly sshOpts?: string[];
  /**
   * PEM CA certificate, client certificate and key for a `tcp://` host with TLS: `caMaterial` (the CA
   * that signed the daemon's certificate), `certMaterial` and `keyMaterial` (the client's certificate
   * and private key), passed to the Docker provider as they are.
   * @default - none
   */
  readonly tls?: { readonly caMaterial?: pulumi.Input<string>; readonly certMaterial?: pulumi.Input<string>; readonly keyMaterial?: pulumi.Input<string> };
  /**
   * Host name used in the `addresses` output.
   * @default - the host of `host`, else `127.0.0.1`
   */
  readonly publicHost?: string;
  /**
   * Values of the variables the compose file reads from the deploying shell for secrets
   * (`EnvValue.fromSecret("db", "password")` reads `DB_PASSWORD`). Pass Pulumi secrets. A backing
   * service's password (`ORDERS_DB_CREDENTIALS_PASSWORD`) that is not given here is generated: a
   * `@pulumi/random` RandomPassword of 32 letters and digits, kept as a Pulumi secret.
   * @default - none; a stack with other secrets fails with the names to set
   */
  readonly secrets?: Record<string, pulumi.Input<string>>;
  /**
   * Directory the staged build contexts are written to (`<dir>/assets/context.<hash>`).
   * @default - the App's outdir
   */
  readonly assetDir?: string;
  /**
   * Platform built images target (the Docker host's).
   * @default 'linux/amd64'
   */
  readonly platform?: string;
  /**
   * Longest wait for a container with a health check to become healthy before its callers start.
   * @default - the health check's start period plus (interval + timeout) x retries, plus 30 s
   */
  readonly healthyTimeout?: Duration;
}

/** Compose keys this component maps; any other key in a compose service is an error, never dropped. */
/** A compose port, short (`[ip:]published:target[/protocol]`) or long syntax, as a docker.Container port. */
function composePort(p: any): { internal: number; external: number; ip?: string; protocol: string } {
  if (typeof p === 'string') {
    const m = /^(?:(\d{1,3}(?:\.\d{1,3}){3}):)?(\d+):(\d+)(?:\/(tcp|udp))?$/.exec(p);
    if (!m) throw new Error(`unsupported compose port "${p}"`);
    return { ...(m[1] ? { ip: m[1] } : {}), external: Number(m[2]), internal: Number(m[3]), protocol: m[4] ?? 'tcp' };
  }
  return { ...(p.host_ip ? { ip: p.host_ip } : {}), internal: Number(p.target), external: Number(p.published), protocol: p.protocol ?? 'tcp' };
}

/** The image a compose service runs: `image`, or the tag a built service is built with (`build.tags`). */
function composeImage(def: any): string {
  const ref = def.image ?? def.build?.tags?.[0];
  if (typeof ref !== 'string') throw new Error(`compose service without image or build tag: ${JSON.stringify(def)}`);
  return ref;
}

const KNOWN_KEYS = new Set(['image', 'build', 'entrypoint', 'command', 'environment', 'depends_on', 'network_mode', 'networks', 'ports', 'healthcheck',
  'deploy', 'restart', 'user', 'read_only', 'tmpfs', 'cap_drop', 'cap_add', 'security_opt', 'stop_signal', 'stop_grace_period', 'labels', 'volumes', 'logging', 'secrets']);

/**
 * Parses a compose size (`256m`, `1g`, `512k`, `100b`) to whole mebibytes, rounded up (Docker's provider
 * takes MB). DockerHostDeployment reads sizes from the model; it parses only a value that a compose
 * override (`Compose.of(...).addOverride`) put in place of pyfleet's own.
 */
export function composeSizeToMiB(s: string | number): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)$/i.exec(String(s).trim());
  if (!m) throw new Error(`unknown compose size ${s}`);
  const factor = { 'b': 1, '': 1, 'k': 1024, 'm': 1024 ** 2, 'g': 1024 ** 3 }[m[2].toLowerCase() as 'b' | '' | 'k' | 'm' | 'g'];
  return Math.ceil((Number(m[1]) * factor) / 1024 ** 2);
}

/**
 * Parses a Go/compose duration (`30s`, `250ms`, `1m30s`) to milliseconds. DockerHostDeployment reads
 * durations from the model; it parses only a value that a compose override put in place of pyfleet's own.
 */
export function goDurationMillis(s: string): number {
  let total = 0;
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h)/g;
  let m: RegExpExecArray | null;
  let consumed = '';
  while ((m = re.exec(s)) !== null) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms' | 's' | 'm' | 'h'];
    consumed += m[0];
  }
  if (consumed !== s) throw new Error(`unknown duration ${s}`);
  return total;
}

/** The CPU period Docker uses for `--cpus`; a quota of `cpus x period` is the same limit. */
export const CPU_PERIOD_MICROS = 100_000;

/**
 * Deploys a pyfleet stack to one machine running Docker: the compose project's network, one image per
 * built service (built on that host), and one container per replica of every compose service, with
 * the compose semantics (environment, ports, health check, restart policy, CPU quota and memory limit,
 * network aliases, start after the services it calls are healthy, and the files it mounts (generated
 * configs, config, secret and password files) placed through read-only volumes: see docker-files.ts).
 */
export class DockerHostDeployment extends pulumi.ComponentResource {
  /** Containers by compose service name, one per replica. */
  public readonly containers: Record<string, docker.Container[]>;
  /** Built images by the reference the compose file uses. */
  public readonly images: Record<string, docker.Image>;
  /** Registry images pulled on the host, by reference. */
  public readonly remoteImages: Record<string, docker.RemoteImage>;
  /** The project's networks by compose key (bridge mode: one per call, see the compose target). */
  public readonly networks: Record<string, docker.Network>;
  /** Named volumes (persistent volumes, backing services' data) by compose key; kept on the host when removed from the stack. */
  public readonly volumes: Record<string, docker.Volume>;
  /**
   * Where each compose service's mounted files (generated configs, config and secret files, password
   * files) are placed: a named volume per directory and the holder container they are uploaded into.
   */
  public readonly files: Record<string, PlacedFiles> = {};
  /** The provider made from `host`, if any. */
  public readonly provider?: docker.Provider;
  /** Address of each public service (`expose`): `http://<host>:<port>`, by service name. */
  public readonly addresses: pulumi.Output<Record<string, string>>;

  constructor(name: string, args: DockerHostDeploymentArgs, opts: pulumi.ComponentResourceOptions = {}) {
    const where = `DockerHostDeployment "${name}"`;
    const synth = synthesizeStack(args?.stack, where);
    const stack = args.stack;
    const doc = synth.compose;
    if (!doc) throw new PyfleetError(where, 'the stack rendered no compose document', 'report this as a pyfleet bug');
    if (stack.composeNetworkMode === ComposeNetworkMode.OVERLAY) {
      throw new PyfleetError(stack.node.path, 'the stack uses an overlay network (Docker swarm), which a single Docker host deployment cannot express', 'use ComposeNetworkMode.BRIDGE (or HOST) for DockerHostDeployment, or deploy the compose file with `docker stack deploy`');
    }
    // Set on every non-overlay compose document (the stack's name).
    const projectName = doc.name ?? stack.stackName;

    let hostName: string | undefined;
    if (args.host !== undefined) {
      const m = /^(?:ssh:\/\/(?:[^@\s/]+@)?([^\s:/]+)(?::\d+)?|tcp:\/\/([^\s:/]+):\d+|unix:\/\/\/\S+)$/.exec(args.host);
      if (!m) {
        throw new PyfleetError(where, `host "${args.host}" is not a Docker host address`, 'use "ssh://user@host", "tcp://host:2376" or "unix:///var/run/docker.sock"');
      }
      hostName = m[1] ?? m[2];
    }
    // Files the compose project bind-mounts (gateway proxy configs), by `./<path>` source.
    const files = new Map<string, string>();
    for (const a of synth.artifacts) if (a.content !== undefined) files.set(`./${a.path}`, a.content);

    // Every check runs before anything is registered, so a mistake leaves no half-made component.
    const services: Record<string, any> = doc.services ?? {};
    // Backing services' passwords that the caller did not give are generated (below).
    const generated = synth.output.model.dataStores.filter((d) => args.secrets?.[d.secret.shellVariable] === undefined);
    const given = new Set([...Object.keys(args.secrets ?? {}), ...generated.map((d) => d.secret.shellVariable)]);
    // CPU, memory and timings as numbers from the model (undefined where an override replaced the key).
    const runtime = composeRuntime(synth.output.model);
    const problems: PyfleetError[] = [];
    // Backing services whose compose password is a file (compose.passwordFile): the file holds the
    // password, given in `secrets` or generated, by the compose secret's name.
    const passwordVariables = new Map<string, string>();
    for (const d of synth.output.model.dataStores) if (d.composePasswordFile) passwordVariables.set(d.composePasswordFile.secretName, d.secret.shellVariable);
    const fileSources: HostFileSources = {
      generated: files,
      composeSecrets: doc.secrets ?? {},
      passwords: new Set(passwordVariables.keys()),
      baseDir: path.resolve(((stack.node.root as any).outdir as string | undefined) ?? 'dist'),
    };
    const filesOf = new Map<string, HostFile[]>();
    for (const [svcName, def] of Object.entries(services)) {
      for (const key of Object.keys(def)) {
        if (!KNOWN_KEYS.has(key)) problems.push(new PyfleetError(`${stack.node.path}/${svcName}`, `compose service "${svcName}" uses "${key}", which DockerHostDeployment does not map`, 'report this as a pyfleet bug (a compose feature without a Docker host mapping)'));
      }
      const placed = serviceFiles(`${stack.node.path}/${svcName}`, svcName, def, fileSources);
      problems.push(...placed.problems);
      if (placed.files.length > 0) filesOf.set(svcName, placed.files);
      for (const [k, v] of Object.entries<string>(def.environment ?? {})) {
        for (const secret of v.matchAll(SECRET_REFERENCE)) {
          if (!given.has(secret[1])) {
            problems.push(new PyfleetError(`${stack.node.path}/${svcName}`, `environment variable ${k} reads a secret, but no value was given for ${secret[1]}`, `pass secrets: { ${secret[1]}: config.requireSecret("${secret[1].toLowerCase()}") }`));
          }
        }
      }
    }
    if (problems.length === 1) throw problems[0];
    if (problems.length > 1) throw new PyfleetError(where, problems.map((p) => p.message).join('; '), 'fix each problem listed');
    super('pyfleet:index:DockerHostDeployment', name, {}, opts);

    let provider = args.provider;
    if (args.host !== undefined && !provider) {
      provider = new docker.Provider(`${name}-provider`, {
        host: args.host,
        sshOpts: args.sshOpts,
        caMaterial: args.tls?.caMaterial,
        certMaterial: args.tls?.certMaterial,
        keyMaterial: args.tls?.keyMaterial,
      }, { parent: this });
      this.provider = provider;
    }
    const publicHost = args.publicHost ?? hostName ?? '127.0.0.1';
    const child = { parent: this, provider };

    // The project's networks (compose names them <project>_<network>); internal ones give no outside access.
    const networkIds: Record<string, docker.Network> = {};
    for (const [net, def] of Object.entries<any>(doc.networks ?? {})) {
      networkIds[net] = new docker.Network(`${name}-network-${net}`, {
        name: `${projectName}_${net}`,
        driver: def?.driver ?? 'bridge',
        internal: def?.internal === true ? true : undefined,
        labels: [{ label: 'com.docker.compose.project', value: projectName }, { label: 'com.docker.compose.network', value: net }],
      }, { ...child, deleteBeforeReplace: true }); // its name is fixed, so a replacement must go first
    }
    this.networks = networkIds;

    // Named volumes (persistent volumes), before the containers that mount them, named as compose names
    // them so that `docker compose` finds the same data. Kept when the resource goes (retainOnDelete):
    // as with `docker compose down`, removing the stack never deletes the data.
    this.volumes = {};
    for (const key of Object.keys(doc.volumes ?? {})) {
      this.volumes[key] = new docker.Volume(`${name}-volume-${key}`, {
        name: `${projectName}_${key}`,
        labels: [{ label: 'com.docker.compose.project', value: projectName }, { label: 'com.docker.compose.volume', value: key }],
      }, { ...child, retainOnDelete: true });
    }

    // Passwords of backing services the caller did not give: random, secret.
    const secrets: Record<string, pulumi.Input<string>> = { ...(args.secrets ?? {}) };
    for (const d of generated) {
      if (secrets[d.secret.shellVariable] !== undefined) continue;
      secrets[d.secret.shellVariable] = new random.RandomPassword(`${name}-password-${d.name}`, { length: 32, special: false }, { parent: this }).result;
    }

    // Images: built ones on the host (no push), registry ones pulled.
    this.images = {};
    this.remoteImages = {};
    const imageRefs = new Map<string, pulumi.Output<string>>();
    if (synth.images.length > 0) {
      const contexts = writeContexts(synth, assetOutdir(stack, args.assetDir));
      for (const image of synth.images) {
        const context = contexts.get(image.reference)!;
        const img = new docker.Image(`${name}-image-${image.repository.split('/').pop()}-${image.tag}`, {
          imageName: image.reference,
          build: {
            context,
            dockerfile: path.join(context, image.dockerfile),
            args: Object.keys(image.buildArgs).length > 0 ? image.buildArgs : undefined,
            platform: args.platform ?? 'linux/amd64',
          },
          skipPush: true,
        }, child);
        this.images[image.reference] = img;
        // The tag is the content hash: a code change changes it (the container is replaced), an unchanged build does not.
        imageRefs.set(image.reference, img.imageName);
      }
    }

    // Registry images (and the gateway proxy's) are pulled on the host.
    for (const def of Object.values<any>(services)) {
      const ref = composeImage(def);
      if (imageRefs.has(ref)) continue;
      this.remoteImages[ref] = new docker.RemoteImage(`${name}-pull-${ref.replace(/[^A-Za-z0-9.-]+/g, '-')}`, { name: ref, keepLocally: true }, child);
      imageRefs.set(ref, this.remoteImages[ref].imageId);
    }

    // Containers, callees first.
    this.containers = {};
    const released = releasedBehindGateway(services);
    for (const svcName of composeOrder(services)) {
      const def = services[svcName];
      const replicas: number = def.deploy?.replicas ?? 1;
      const mounted = (def.volumes ?? []).filter((v: any) => typeof v === 'object' && v.type === 'volume' && v.source && this.volumes[v.source]).map((v: any) => this.volumes[v.source]);
      const waitFor: pulumi.Resource[] = [...Object.keys(def.depends_on ?? {}).flatMap((d) => this.containers[d] ?? []), ...mounted];
      // A one-shot this service must see exit 0 first (a Migration: `service_completed_successfully`).
      const completed = Object.entries<any>(def.depends_on ?? {}).filter(([d, c]) => c?.condition === 'service_completed_successfully' && this.containers[d]).map(([d]) => d);
      const list: docker.Container[] = [];
      // A version behind its gateway on a bridge network: each release has its own container names
      // (`<project>-<service>-<release hash>-<n>`), so Pulumi creates the new containers (healthy:
      // `wait`) before it deletes the old ones, and the gateway, which finds a version's containers by
      // DNS with spare server slots, serves the new ones beside the old until those go. Every other
      // container has compose's fixed name, so its replacement must go first.
      const release = released.has(svcName) ? releaseHash(def) : undefined;
      const placed = this.placeFiles(name, projectName, svcName, filesOf.get(svcName), imageRefs.get(composeImage(def))!, passwordVariables, secrets, child);
      if (placed.holder) waitFor.push(placed.holder);
      for (let i = 1; i <= replicas; i++) {
        const cargs = containerArgs(projectName, svcName, def, i, {
          release,
          image: imageRefs.get(composeImage(def))!,
          networks: networkIds,
          secrets,
          volumes: this.volumes,
          healthyTimeout: args.healthyTimeout,
          runtime: runtime[svcName] ?? {},
          placed: placed.mounts,
        });
        if (completed.length > 0) (cargs as any).labels = [...((cargs as any).labels ?? []), ...completed.map((d) => ({ label: `pyfleet.dev/completed.${d}`, value: completedOk(d, this.containers[d][0]) }))];
        // A fixed name (as compose) must be removed before it is recreated; a release-named container is created first.
        list.push(new docker.Container(`${name}-${svcName}-${i}`, cargs, { ...child, dependsOn: waitFor, deleteBeforeReplace: release === undefined }));
      }
      this.containers[svcName] = list;
    }

    const addresses: Record<string, string> = {};
    for (const svc of stack.services) if (svc.expose) addresses[svc.serviceName] = `http://${publicHost.includes(':') ? `[${publicHost}]` : publicHost}:${svc.expose.port}`;
    this.addresses = pulumi.output(addresses);
    this.registerOutputs({ addresses: this.addresses });
  }

  /**
   * The files of compose service `svcName` on the host (see docker-files.ts): a named volume per
   * directory, `<project>_<service>-files-<hash>`, filled by a holder container that is created (the
   * provider uploads into it) and never started. The service's containers mount the volumes read-only.
   */
  private placeFiles(name: string, project: string, svcName: string, files: HostFile[] | undefined, image: pulumi.Input<string>,
    passwordVariables: ReadonlyMap<string, string>, secrets: Record<string, pulumi.Input<string>>, child: pulumi.CustomResourceOptions): { holder?: docker.Container; mounts: PlacedDirectory[] } {
    if (!files || files.length === 0) return { mounts: [] };
    const mounts: PlacedDirectory[] = [];
    const volumes: docker.Volume[] = [];
    const uploads: docker.types.input.ContainerUpload[] = [];
    const hashes: Array<pulumi.Output<string>> = [];
    for (const [dir, inDir] of filesByDirectory(files)) {
      const contents = inDir.map((f) => (f.password !== undefined ? pulumi.secret(secrets[passwordVariables.get(f.password)!]) : f.content ?? f.sourceHash!));
      const hash = filesHash(image, dir, inDir, contents);
      hashes.push(hash);
      const volume = new docker.Volume(`${name}-files-${svcName}-${directoryKey(dir)}`, {
        name: pulumi.interpolate`${project}_${svcName}-files-${hash}`,
        labels: [{ label: 'com.docker.compose.project', value: project }, { label: 'pyfleet.dev/files-of', value: svcName }, { label: 'pyfleet.dev/directory', value: dir }],
      }, child);
      mounts.push({ dir, volumeName: volume.name });
      volumes.push(volume);
      inDir.forEach((f, i) => uploads.push(f.source !== undefined
        ? { file: f.target, source: f.source, sourceHash: f.sourceHash, permissions: '0444' }
        : { file: f.target, content: contents[i], permissions: '0444' }));
    }
    const all = pulumi.all(hashes).apply((hs) => createHash('sha256').update(hs.join('\0')).digest('hex').slice(0, 12));
    const holder = new docker.Container(`${name}-${svcName}-files`, {
      name: pulumi.interpolate`${project}-${svcName}-files-${all}`,
      image,
      // Created so that the provider uploads into it, never started: not read-only, no network.
      start: false,
      mustRun: false,
      networkMode: 'none',
      command: ['true'],
      volumes: mounts.map((m) => ({ volumeName: m.volumeName, containerPath: m.dir })),
      uploads,
      labels: [{ label: 'pyfleet.dev/files-of', value: `${project}/${svcName}` }],
    }, child);
    this.files[svcName] = { holder, volumes };
    return { holder, mounts };
  }
}

/** Where one compose service's mounted files are placed on the Docker host. */
export interface PlacedFiles {
  /** The holder container the files are uploaded into (created, never started). */
  readonly holder: docker.Container;
  /** One named volume per directory, which the service's containers mount read-only. */
  readonly volumes: docker.Volume[];
}

/** A directory of files placed through a named volume (mounted read-only). */
export interface PlacedDirectory {
  /** The directory in the container. */
  readonly dir: string;
  /** The named volume that holds its files (`<project>_<service>-files-<hash>`). */
  readonly volumeName: pulumi.Input<string>;
}

/**
 * The exit code of a one-shot container as a label value: "0", or a failed update naming it. The
 * containers that wait for it cannot be created before it exited, and are not created unless it exited 0.
 */
export function completedOk(service: string, oneShot: docker.Container): pulumi.Output<string> {
  return oneShot.exitCode.apply((code) => exitCodeLabel(service, code));
}

/** "0" for a one-shot that exited 0 (or whose exit code the provider does not report), else the error that stops the update. */
export function exitCodeLabel(service: string, code: number | undefined): string {
  if (code !== undefined && code !== 0) {
    throw new PyfleetError(service, `the one-shot "${service}" (a Migration) exited with code ${code}, so the release that waits for it is not started (the running containers keep serving)`, `read its logs (docker logs <project>-${service}-1), fix the migration, and run pulumi up again`);
  }
  return String(code ?? 0);
}

/**
 * Compose services of versions behind a gateway on a bridge network, which release with names of their
 * own. In host network mode a version's slot ports are fixed per slot, and which slot is free depends on
 * what runs: `pyfleet deploy` releases those (here they keep compose's fixed names).
 */
export function releasedBehindGateway(services: Record<string, any>): Set<string> {
  const gateways = new Set(Object.values<any>(services).filter((d) => d.labels?.['app.kubernetes.io/component'] === 'gateway').map((d) => d.labels.app));
  return new Set(Object.keys(services).filter((n) => {
    const d = services[n];
    return d.labels?.version !== undefined && gateways.has(d.labels.app) && d.network_mode !== 'host';
  }));
}

/** Content hash of a compose service definition: the release a container runs (12 hex digits). */
export function releaseHash(def: unknown): string {
  return createHash('sha256').update(JSON.stringify(def)).digest('hex').slice(0, 12);
}

/** Compose services ordered so that every service comes after those it depends on (stable otherwise). */
export function composeOrder(services: Record<string, any>): string[] {
  const out: string[] = [];
  const done = new Set<string>();
  let rest = Object.keys(services);
  while (rest.length > 0) {
    const next = rest.filter((s) => !Object.keys(services[s].depends_on ?? {}).every((d) => done.has(d) || !(d in services)));
    const ready = rest.filter((s) => !next.includes(s));
    if (ready.length === 0) throw new PyfleetError(next[0], 'compose services depend on each other in a cycle', 'remove the cycle from `calls`');
    for (const s of ready) { out.push(s); done.add(s); }
    rest = next;
  }
  return out;
}

interface ContainerContext {
  readonly image: pulumi.Input<string>;
  readonly networks: Record<string, docker.Network>;
  /** The project's named volumes by compose key. */
  readonly volumes?: Record<string, docker.Volume>;
  readonly secrets: Record<string, pulumi.Input<string>>;
  /** Directories of files (bind mounts, secrets) placed through named volumes. */
  readonly placed?: readonly PlacedDirectory[];
  readonly healthyTimeout?: Duration;
  /** The numbers of this compose service from the model (`{}` for a service pyfleet did not generate). */
  readonly runtime?: ComposeRuntime;
  /** Release hash of a version behind a gateway: its containers are named per release. */
  readonly release?: string;
}

/** The docker.Container arguments of replica `index` (from 1) of compose service `svcName`. */
export function containerArgs(project: string, svcName: string, def: any, index: number, ctx: ContainerContext): docker.ContainerArgs {
  const envs = Object.entries<string>(def.environment ?? {}).sort(([a], [b]) => a.localeCompare(b)).map(([k, v]) => interpolateSecrets(`${k}=${v}`, ctx.secrets));

  const oneShot = def.restart === 'no' && def.labels?.['app.kubernetes.io/component'] === 'migration';
  const args: any = {
    name: ctx.release ? `${project}-${svcName}-${ctx.release}-${index}` : `${project}-${svcName}-${index}`,
    // A Migration's one-shot runs to completion during the update (its exit code gates what waits for it).
    ...(oneShot ? { mustRun: false, attach: true, logs: true } : {}),
    image: ctx.image,
    envs: envs.length > 0 ? envs : undefined,
    entrypoints: def.entrypoint,
    command: def.command ? (def.command as string[]).map((c) => interpolateSecrets(c, ctx.secrets)) : undefined,
    restart: def.restart ?? 'no',
    user: def.user,
    readOnly: def.read_only,
    tmpfs: def.tmpfs ? Object.fromEntries((def.tmpfs as string[]).map((t) => [t, ''])) : undefined,
    capabilities: def.cap_drop || def.cap_add ? { drops: def.cap_drop, adds: def.cap_add } : undefined,
    securityOpts: def.security_opt,
    stopSignal: def.stop_signal,
    // Log rotation, as compose's `logging` (json-file with max-size and max-file).
    logDriver: def.logging?.driver,
    logOpts: def.logging?.options ? { ...def.logging.options } : undefined,
    labels: Object.entries<string>({ ...(def.labels ?? {}), 'com.docker.compose.project': project, 'com.docker.compose.service': svcName, 'com.docker.compose.container-number': String(index) })
      .sort(([a], [b]) => a.localeCompare(b)).map(([label, value]) => ({ label, value })),
  };
  const rt = ctx.runtime ?? {};
  const stopMs = rt.stopGracePeriodMs ?? (def.stop_grace_period !== undefined ? goDurationMillis(def.stop_grace_period) : undefined);
  if (stopMs !== undefined) {
    const s = Math.ceil(stopMs / 1000);
    args.stopTimeout = s;
    args.destroyGraceSeconds = s;
  }

  if (def.network_mode === 'host' || def.network_mode === 'none') {
    args.networkMode = def.network_mode;
  } else {
    const nets: Array<[string, string[]]> = Array.isArray(def.networks)
      ? (def.networks as string[]).map((n) => [n, []])
      : Object.entries<any>(def.networks ?? {}).map(([n, v]) => [n, v?.aliases ?? []]);
    // Compose makes every container reachable by its service name too.
    args.networksAdvanced = nets.map(([n, aliases]) => ({ name: ctx.networks[n].name, aliases: [...new Set([svcName, ...aliases])].sort() }));
    if (nets.length > 0) args.networkMode = ctx.networks[nets[0][0]].name;
  }

  if (def.ports) {
    args.ports = (def.ports as any[]).map(composePort);
  }

  const limits = def.deploy?.resources?.limits;
  const cpuMillis = rt.cpuLimitMillis ?? (limits?.cpus !== undefined ? Number(limits.cpus) * 1000 : undefined);
  if (cpuMillis !== undefined) {
    args.cpuPeriod = CPU_PERIOD_MICROS;
    args.cpuQuota = Math.round((cpuMillis * CPU_PERIOD_MICROS) / 1000);
  }
  const memory = rt.memoryLimitMiB ?? (limits?.memory !== undefined ? composeSizeToMiB(limits.memory) : undefined);
  if (memory !== undefined) args.memory = Math.ceil(memory);
  const reservations = def.deploy?.resources?.reservations;
  const reservation = rt.memoryReservationMiB ?? (reservations?.memory !== undefined ? composeSizeToMiB(reservations.memory) : undefined);
  if (reservation !== undefined) args.memoryReservation = Math.ceil(reservation);

  const hc = def.healthcheck;
  if (hc && !hc.disable) {
    args.healthcheck = {
      tests: hc.test,
      interval: hc.interval,
      timeout: hc.timeout,
      retries: hc.retries,
      startPeriod: hc.start_period,
      startInterval: hc.start_interval,
    };
    // Created means healthy: the containers that depend on this one start only then.
    args.wait = true;
    const h = rt.health ?? {
      startPeriodMs: goDurationMillis(hc.start_period ?? '0s'), intervalMs: goDurationMillis(hc.interval ?? '30s'),
      timeoutMs: goDurationMillis(hc.timeout ?? '30s'), retries: hc.retries ?? 3,
    };
    const ms = ctx.healthyTimeout?.millis ?? h.startPeriodMs + (h.intervalMs + h.timeoutMs) * h.retries + 30_000;
    args.waitTimeout = Math.ceil(ms / 1000);
  }

  // Named volumes as compose names them (`<project>_<key>`), anonymous volumes, and sized tmpfs mounts.
  const volumes: docker.types.input.ContainerVolume[] = (def.volumes ?? []).filter((v: any) => typeof v === 'object' && v.type === 'volume')
    .map((v: any) => (v.source ? { volumeName: `${project}_${v.source}`, containerPath: v.target } : { containerPath: v.target }));
  // The bind-mounted and secret files, from their read-only volumes (see docker-files.ts).
  for (const p of ctx.placed ?? []) volumes.push({ volumeName: p.volumeName, containerPath: p.dir, readOnly: true });
  if (volumes.length > 0) args.volumes = volumes;
  const mounts = (def.volumes ?? []).filter((v: any) => typeof v === 'object' && v.type === 'tmpfs')
    .map((v: any) => ({ type: 'tmpfs', target: v.target, tmpfsOptions: v.tmpfs?.size ? { sizeBytes: v.tmpfs.size } : undefined }));
  if (mounts.length > 0) args.mounts = mounts;

  for (const k of Object.keys(args)) if (args[k] === undefined) delete args[k];
  return args as docker.ContainerArgs;
}

/** A compose secret reference, `${VAR:?message}`, as the compose target writes it. */
const SECRET_REFERENCE = /\$\{([A-Z0-9_]+):\?[^}]*\}/g;

/**
 * A compose value with its secret references replaced by the given secrets (as compose interpolates
 * them from the deploying shell) and `$$` by `$`: a plain string without secrets, a secret output with.
 */
export function interpolateSecrets(value: string, secrets: Record<string, pulumi.Input<string>>): pulumi.Input<string> {
  const parts: Array<pulumi.Input<string>> = [];
  let last = 0;
  for (const m of value.matchAll(SECRET_REFERENCE)) {
    parts.push(value.slice(last, m.index).replace(/\$\$/g, '$'), secrets[m[1]]);
    last = m.index! + m[0].length;
  }
  const rest = value.slice(last).replace(/\$\$/g, '$'); // compose escapes a literal $ as $$
  if (parts.length === 0) return rest;
  return pulumi.all([...parts, rest]).apply((xs) => xs.join(''));
}
