// Generators of the files a built image needs beside the source (registered per recipe kind).
import './python';
import { Artifact, registerRenderer } from '../../core/renderer';
import { Stack } from '../../core/stack';
import { imageAsset } from '../../service/asset';

/** Writes one staged build context per built image: the source files plus generated files. */
registerRenderer({
  name: 'image',
  order: 10,
  render(stack: Stack) {
    const artifacts: Artifact[] = [];
    const seen = new Set<string>();
    for (const svc of stack.services) {
      for (const version of svc.versions) {
        if (version.image.kind !== 'build') continue;
        const asset = imageAsset(version.image);
        if (seen.has(asset.contextPath)) continue;
        seen.add(asset.contextPath);
        artifacts.push({ path: asset.contextPath, copyFrom: { directory: asset.directory, files: asset.files } });
        for (const [f, content] of Object.entries(asset.generated).sort(([a], [b]) => a.localeCompare(b))) {
          artifacts.push({ path: `${asset.contextPath}/${f}`, content });
        }
      }
    }
    return { result: artifacts.map((a) => a.path), artifacts };
  },
});
