import { k8s } from 'cdk8s-plus-27';
import { PyfleetError } from '../../core/errors';
import type { PyfleetWarning } from '../../core/warnings';
import type { StackModel, VersionModel, WorkloadModel } from '../../model/stack';
import { KubeObject, kubeObject } from './object';

// The Kubernetes side of scaling: a HorizontalPodAutoscaler per autoscaled version, a
// PodDisruptionBudget per version the model gives one, and the soft topology spread of every pod
// template. Everything is read from the model.

/** An autoscaled version's HorizontalPodAutoscaler (`autoscaling/v2`), named like its Deployment. */
export function autoscalerObject(model: StackModel, vm: VersionModel): KubeObject | undefined {
  const a = vm.autoscale;
  if (!a) return undefined;
  const target = (name: string, averageUtilization: number): k8s.MetricSpecV2 => ({ type: 'Resource', resource: { name, target: { type: 'Utilization', averageUtilization } } });
  const metrics = [target('cpu', a.cpuUtilization)];
  if (a.memoryUtilization !== undefined) metrics.push(target('memory', a.memoryUtilization));
  const props: k8s.KubeHorizontalPodAutoscalerV2Props = {
    metadata: { name: vm.workloadName, namespace: model.namespace, labels: { ...vm.labels } },
    spec: {
      scaleTargetRef: { apiVersion: 'apps/v1', kind: 'Deployment', name: vm.workloadName },
      minReplicas: a.min,
      maxReplicas: a.max,
      metrics,
      behavior: { scaleDown: { stabilizationWindowSeconds: a.scaleDownStabilizationSeconds } },
    },
  };
  return kubeObject(k8s.KubeHorizontalPodAutoscalerV2.GVK, k8s.toJson_KubeHorizontalPodAutoscalerV2Props, props, vm.hatches.kubernetes.hpa, vm.path);
}

/**
 * A version's PodDisruptionBudget (`policy/v1`), named like its Deployment and selecting exactly its
 * pods. `unhealthyPodEvictionPolicy: AlwaysAllow` lets a drain evict pods that are not ready (a
 * crash-looping or stuck rollout), so the budget never holds a drain on pods that serve nothing.
 */
export function disruptionBudgetObject(model: StackModel, vm: VersionModel): KubeObject | undefined {
  const b = vm.disruptionBudget;
  if (!b) return undefined;
  const props: k8s.KubePodDisruptionBudgetProps = {
    metadata: { name: vm.workloadName, namespace: model.namespace, labels: { ...vm.labels } },
    spec: {
      selector: { matchLabels: { ...vm.selector } },
      maxUnavailable: b.maxUnavailable !== undefined ? k8s.IntOrString.fromNumber(b.maxUnavailable) : undefined,
      minAvailable: b.minAvailable !== undefined ? k8s.IntOrString.fromNumber(b.minAvailable) : undefined,
      unhealthyPodEvictionPolicy: 'AlwaysAllow',
    },
  };
  return kubeObject(k8s.KubePodDisruptionBudget.GVK, k8s.toJson_KubePodDisruptionBudgetProps, props, vm.hatches.kubernetes.pdb, vm.path);
}

/** Soft spread of a version's pods over each topology key (max skew 1, scheduled anyway when it cannot hold). */
export function spreadConstraints(s: WorkloadModel, vm: VersionModel): k8s.TopologySpreadConstraint[] | undefined {
  if (s.topologyKeys.length === 0) return undefined;
  return s.topologyKeys.map((topologyKey) => ({ maxSkew: 1, topologyKey, whenUnsatisfiable: 'ScheduleAnyway', labelSelector: { matchLabels: { ...vm.selector } } }));
}

/**
 * Checks a rendered Deployment (escape hatches applied) against its autoscaler: the autoscaler needs
 * the CPU (and memory) request it computes utilization from, and a `replicas` field would reset what
 * it chose at every apply.
 */
export function checkAutoscaledDeployment(vm: VersionModel, deployment: KubeObject): void {
  const a = vm.autoscale;
  if (!a) return;
  const spec = deployment.spec as { replicas?: number; template?: { spec?: { containers?: Array<{ name: string; resources?: { requests?: Record<string, unknown> } }> } } };
  if (spec?.replicas !== undefined) {
    throw new PyfleetError(vm.path, `the Deployment "${vm.workloadName}" is autoscaled but a JSON patch sets spec.replicas (${spec.replicas}): every apply would reset the pods the autoscaler chose`,
      `drop the patch and set autoscale.min / autoscale.max instead (now ${a.min} to ${a.max})`);
  }
  const needed = a.memoryUtilization !== undefined ? ['cpu', 'memory'] : ['cpu'];
  for (const c of spec?.template?.spec?.containers ?? []) {
    for (const r of needed) {
      if (c.resources?.requests?.[r] === undefined) {
        throw new PyfleetError(vm.path, `the autoscaler of "${vm.workloadName}" scales on ${r} utilization, a share of the ${r} request, but container "${c.name}" has no ${r} request (a JSON patch removed it), so the autoscaler could compute nothing`,
          `keep resources.requests.${r} (set ${r === 'cpu' ? 'cpuRequest' : 'memoryRequest'} on the service instead of patching it away), or drop autoscale`);
      }
    }
  }
}

/** Patches recorded for an autoscaler or a disruption budget that the model does not render: nothing would apply them. */
export function scalingHatchProblems(models: readonly StackModel[]): PyfleetError[] {
  const errors: PyfleetError[] = [];
  for (const model of models) {
    for (const m of model.services) {
      for (const vm of m.versions) {
        if ((vm.hatches.kubernetes.hpa?.length ?? 0) > 0 && !vm.autoscale) {
          errors.push(new PyfleetError(vm.path, `Kubernetes.of(...).hpa was patched, but version "${vm.name}" is not autoscaled, so there is no HorizontalPodAutoscaler to patch`, 'give the version autoscale: { min, max }, or drop the patch'));
        }
        if ((vm.hatches.kubernetes.pdb?.length ?? 0) > 0 && !vm.disruptionBudget) {
          errors.push(new PyfleetError(vm.path, `Kubernetes.of(...).pdb was patched, but version "${vm.name}" gets no PodDisruptionBudget (${vm.replicas < 2 ? `it has ${vm.replicas} replica${vm.replicas === 1 ? '' : 's'}; budgets are written from 2` : 'DisruptionBudget.none()'})`,
            'run 2 or more replicas, give a disruptionBudget, or drop the patch'));
        }
      }
    }
  }
  return errors;
}

/**
 * Budgets that give no protection: one that lets every pod of the version be evicted at once, and
 * one asked for a version with fewer than two pods (none is written).
 */
export function scalingWarnings(models: readonly StackModel[]): PyfleetWarning[] {
  const out: PyfleetWarning[] = [];
  for (const model of models) {
    for (const m of model.services) {
      for (const vm of m.versions) {
        const asked = vm.construct.disruptionBudget;
        const b = vm.disruptionBudget;
        if (b?.maxUnavailable !== undefined && b.maxUnavailable >= vm.replicas) {
          out.push({ constructPath: vm.path, message: `the disruption budget allows ${b.maxUnavailable} unavailable pods of ${vm.replicas}${vm.autoscale ? ' (autoscale.min)' : ''}: a node drain may evict every pod at once. Use DisruptionBudget.maxUnavailable(${Math.max(1, vm.replicas - 1)}) or fewer` });
        }
        if (!b && asked?.enabled && vm.replicas === 1) {
          out.push({ constructPath: vm.path, message: 'a disruption budget was given, but the version runs 1 pod, which a drain cannot keep available: no PodDisruptionBudget is written. Run 2 or more replicas to keep the version up during drains' });
        }
      }
    }
  }
  return out;
}
