// The workflows module the workers bundle: re-exports only.
export { hostWorkflow } from './host.ts';
export { registerWorkflow } from './register.ts';
export { inspectWorkflow } from './inspect.ts';
export { provisionWorkflow } from './provision.ts';
export { deprovisionWorkflow } from './deprovision.ts';
export { powerWorkflow } from './power.ts';
export { cleanWorkflow } from './clean.ts';
export { deployWorkflow } from './deploy.ts';
