// The vcsim disk helpers live with the other dev services (the demo uses them too).
export * from '../../src/devservices/vcsim-disks.js';
