import { registerModelCheck } from '../core/validation';
import { validateMesh } from './model';

export * from './mesh';
export * from './match';
export * from './route';
export * from './breaker';
export * from './gateway';

registerModelCheck(validateMesh);
