import type { MicroService, ServiceVersion } from './microservice';

/** Labels selecting every pod/container of a service, whatever the version. */
export function serviceSelector(svc: MicroService): Record<string, string> {
  return { app: svc.serviceName };
}

/** Labels selecting the pods/containers of one version. */
export function versionSelector(version: ServiceVersion): Record<string, string> {
  return { app: version.service.serviceName, version: version.versionName };
}

/** The full label set of a version's workload and pods. */
export function versionLabels(version: ServiceVersion): Record<string, string> {
  const svc = version.service;
  return {
    ...svc.stack.extraLabels,
    'app': svc.serviceName,
    'version': version.versionName,
    'app.kubernetes.io/name': svc.serviceName,
    'app.kubernetes.io/instance': version.workloadName,
    'app.kubernetes.io/version': version.versionName,
    'app.kubernetes.io/part-of': svc.stack.stackName,
    'app.kubernetes.io/managed-by': 'pyfleet',
  };
}

/** Labels of objects that belong to a whole service (Service, ServiceAccount). */
export function serviceLabels(svc: MicroService): Record<string, string> {
  return {
    ...svc.stack.extraLabels,
    'app': svc.serviceName,
    'app.kubernetes.io/name': svc.serviceName,
    'app.kubernetes.io/part-of': svc.stack.stackName,
    'app.kubernetes.io/managed-by': 'pyfleet',
  };
}
