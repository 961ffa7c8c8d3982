import type { App } from '../../lib';
import { buildCanary } from '../../examples/canary/main';
import { buildFlaskGunicorn } from '../../examples/flask-gunicorn/main';
import { buildHello } from '../../examples/hello/main';
import { buildShop } from '../../examples/shop/main';
import { buildVps } from '../../examples/vps/main';

/** Every bundled example, by folder name, with the function that builds it into an App. */
export const EXAMPLES: Array<[string, (app: App) => unknown]> = [['canary', buildCanary], ['flask-gunicorn', buildFlaskGunicorn], ['hello', buildHello], ['shop', buildShop], ['vps', buildVps]];
