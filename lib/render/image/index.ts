import { Artifact, Target } from '../../model/target';
import { BuildGenerators } from '../../service/build';
import { contextArtifacts } from '../../service/asset';
import type { StackModel } from '../../model/stack';
import { pythonCeleryGenerator } from './celery';
import { pythonGunicornGenerator } from './python';

/** pyfleet's own build generators, by recipe kind. */
export const BUILTIN_BUILD_GENERATORS: BuildGenerators = Object.freeze({ 'python-gunicorn': pythonGunicornGenerator, 'python-celery': pythonCeleryGenerator });

/** Options of the image target. */
export interface ImageTargetOptions {
  /**
   * Build generators by recipe kind, on top of pyfleet's own.
   * @default - pyfleet's own (Python web services)
   */
  readonly buildGenerators?: BuildGenerators;
}

/** The image target: it also carries the build generators the App uses to resolve built images. */
export interface ImageTarget extends Target<string[]> {
  /** Build generators by recipe kind. */
  readonly buildGenerators: BuildGenerators;
}

/** The image target: one staged build context per built image (the source files plus generated files). */
export function imageTarget(options: ImageTargetOptions = {}): ImageTarget {
  return {
    name: 'image',
    buildGenerators: Object.freeze({ ...BUILTIN_BUILD_GENERATORS, ...(options.buildGenerators ?? {}) }),
    render(model: StackModel) {
      const artifacts: Artifact[] = [];
      const seen = new Set<string>();
      // Workers build their own images (a CeleryWorker's); migrations and schedules run their service's.
      for (const image of [...model.services.flatMap((svc) => svc.versions.map((v) => v.image)), ...model.workers.map((w) => w.image)]) {
        {
          const asset = image.asset;
          if (!asset || seen.has(asset.contextPath)) continue;
          seen.add(asset.contextPath);
          // The content is made when read, from the image's recipe (see ImageAsset.generated).
          artifacts.push(...contextArtifacts(asset));
        }
      }
      return { result: artifacts.filter((a) => a.copyFrom).map((a) => a.path), artifacts };
    },
  };
}
