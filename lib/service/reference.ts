import { imageAsset } from './asset';
import type { ServiceVersion } from './microservice';

/** The image reference a version's workload runs: the registry reference, or `<registry>/<service>:<content hash>`. */
export function imageReference(version: ServiceVersion): string {
  const image = version.image;
  if (image.kind === 'registry') return image.reference!;
  return `${version.service.stack.imageRegistry}/${version.service.serviceName}:${imageAsset(image).tag}`;
}
