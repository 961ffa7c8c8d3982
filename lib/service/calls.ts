import { PyfleetError } from '../core/errors';
import { DataStore } from '../data/base';
import { MicroService } from './microservice';

/**
 * Records that the construct at `path` calls `other`: a backing service goes to `stores`, a service to
 * `services` (each once, in declaration order). Services and workers share this rule.
 * @internal
 */
export function addCallee(path: string, other: MicroService | DataStore, services: MicroService[], stores: DataStore[]): void {
  if (DataStore.isDataStore(other)) {
    if (!stores.includes(other)) stores.push(other);
    return;
  }
  if (!MicroService.isMicroService(other)) {
    throw new PyfleetError(path, '`calls` contains something that is neither a MicroService nor a backing service', 'list service or backing service constructs, e.g. calls: [users, db]');
  }
  if (!services.includes(other)) services.push(other);
}
