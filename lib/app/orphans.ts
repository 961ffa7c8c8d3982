import * as fs from 'fs';
import * as path from 'path';
import * as yaml from 'js-yaml';
import type { PyfleetWarning } from '../core/warnings';
import type { Artifact } from '../model/target';
import { holdsText } from './same';

// Data safety on re-synth: before a synth replaces its compose files and manifests, the earlier
// output in the outdir is read, and every named volume (compose) and every PersistentVolumeClaim or
// StatefulSet volume claim template (Kubernetes) that the earlier file had and the new one does not
// is reported. Neither compose nor kubectl deletes the data with the object that used it: the
// warning says where it stays and how to remove it. It reads the files, not the model, so it covers
// every volume any target or construct writes (backing services' data included).

/** Named volumes of a compose document, by key (external volumes are not the project's). */
function composeVolumes(doc: any): string[] {
  const vols = doc && typeof doc === 'object' ? doc.volumes : undefined;
  if (!vols || typeof vols !== 'object') return [];
  return Object.keys(vols).filter((k) => !(vols[k] && typeof vols[k] === 'object' && vols[k].external));
}

/** A claim in a manifest: a PersistentVolumeClaim, or a claim template of a StatefulSet. */
interface Claim {
  readonly key: string;
  readonly namespace: string;
  /** The PVCs it stands for (a template: one per ordinal the StatefulSet had). */
  readonly pvcs: readonly string[];
  readonly what: string;
}

function manifestClaims(docs: any[]): Claim[] {
  const out: Claim[] = [];
  for (const d of docs) {
    if (!d || typeof d !== 'object') continue;
    const ns = String(d.metadata?.namespace ?? 'default');
    if (d.kind === 'PersistentVolumeClaim' && d.metadata?.name) {
      out.push({ key: `pvc/${ns}/${d.metadata.name}`, namespace: ns, pvcs: [d.metadata.name], what: `PersistentVolumeClaim "${d.metadata.name}"` });
    }
    if (d.kind === 'StatefulSet' && d.metadata?.name) {
      const replicas = Number.isInteger(d.spec?.replicas) && d.spec.replicas > 0 ? d.spec.replicas : 1;
      for (const t of d.spec?.volumeClaimTemplates ?? []) {
        const tpl = t?.metadata?.name;
        if (!tpl) continue;
        const pvcs = Array.from({ length: replicas }, (_, i) => `${tpl}-${d.metadata.name}-${i}`);
        out.push({ key: `sts/${ns}/${d.metadata.name}/${tpl}`, namespace: ns, pvcs, what: `volume claim template "${tpl}" of StatefulSet "${d.metadata.name}"` });
      }
    }
  }
  return out;
}

function readOld(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Warnings for the volumes and claims that the output already in `outdir` references and the new
 * `artifacts` at the same paths no longer do (renamed or removed), with how to delete the data.
 * Paths whose file already holds the new content are added to `unchanged`, so the writer need not
 * compare them again.
 */
export function orphanedVolumeWarnings(outdir: string, artifacts: readonly Artifact[], unchanged?: Set<string>): PyfleetWarning[] {
  const out: PyfleetWarning[] = [];
  for (const a of artifacts) {
    if (a.path.includes('/') || a.content === undefined) continue;
    const compose = /^(.*)\.compose\.yml$/.exec(a.path);
    const k8s = /^(.*)\.k8s\.yaml$/.exec(a.path);
    if (!compose && !k8s) continue;
    // An unchanged file (the common case) drops nothing: compared in slices, never read whole.
    if (holdsText(path.join(outdir, a.path), a.content)) {
      unchanged?.add(a.path);
      continue;
    }
    const old = readOld(path.join(outdir, a.path));
    if (old === undefined || old === a.content) continue;
    try {
      if (compose) {
        const before = yaml.load(old) as any;
        const after = new Set(composeVolumes(yaml.load(a.content)));
        const swarm = !(before && typeof before.name === 'string');
        const project = swarm ? compose[1] : before.name;
        for (const v of composeVolumes(before)) {
          if (after.has(v)) continue;
          out.push({ constructPath: compose[1], message: `the earlier ${a.path} had the named volume "${v}", which this synth no longer writes (renamed or removed): its data stays on the ${swarm ? 'swarm nodes' : 'Docker host'} as volume ${project}_${v}. ` +
            `Rename it back to keep using it, or delete the data with \`docker volume rm ${project}_${v}\`${swarm ? ' on each node that ran the service' : ''} once you no longer need it` });
        }
      } else {
        const before = manifestClaims(yaml.loadAll(old) as any[]);
        const after = new Set(manifestClaims(yaml.loadAll(a.content) as any[]).map((c) => c.key));
        for (const c of before) {
          if (after.has(c.key)) continue;
          out.push({ constructPath: k8s![1], message: `the earlier ${a.path} had ${c.what}, which this synth no longer writes (renamed or removed): the cluster keeps the claim and its data after the workload is gone (pruning may delete a claim, and with it the data if its reclaim policy is Delete). ` +
            `Rename it back to keep using it, or delete the data with \`kubectl delete pvc -n ${c.namespace} ${c.pvcs.join(' ')}\` once you no longer need it` });
        }
      }
    } catch { /* an earlier file that does not parse was not written by pyfleet: nothing to compare */ }
  }
  return out;
}
