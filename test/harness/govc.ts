// The govc runner lives with the other dev services (the demo uses it too).
export { govc, type GovcTarget } from '../../src/devservices/govc.js';
