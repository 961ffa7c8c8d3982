// `app.synth()` keeps no in-memory results, so the Kubernetes target makes each object into text as
// soon as it is built (RenderOptions.result false) instead of building every object first. The file it
// writes must be byte for byte what `app.synthesize()` renders from the kept objects, and what
// serializing those objects gives, for every example.
import { App } from '../../lib';
import { toYaml } from '../../lib/render/kubernetes';
import { synth } from '../support/synth';
import { EXAMPLES } from '../support/examples';

const examples = EXAMPLES;

test.each(examples)('examples/%s: the streamed Kubernetes file equals the one made from the kept objects', (_name, build) => {
  let app: App | undefined;
  const out = synth((a) => { app = a; build(a); });
  try {
    const outputs = app!.synthesize();
    let compared = 0;
    for (const o of outputs) {
      if (o.kubernetes.length === 0) continue;
      const file = `${o.model.name}.k8s.yaml`;
      const written = out.files.get(file);
      expect(written).toBeDefined();
      expect(written).toBe(o.artifacts.find((a) => a.path === file)?.content);
      expect(written).toBe(toYaml(o.kubernetes));
      compared++;
    }
    expect(compared).toBeGreaterThan(0);
  } finally {
    out.cleanup();
  }
});
