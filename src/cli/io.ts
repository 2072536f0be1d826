// Where CLI output goes. Colour only on a terminal (and never with NO_COLOR), so
// scripts and hyper2kvm read plain text. No URL userinfo (GOVC_URL may hold
// user:password@) is ever printed, whichever message quotes a URL.
import { redactUserinfo } from '../core/redact.js';

export interface CliIo {
  out: (text: string) => void;
  err: (text: string) => void;
  isTty: boolean;
  env: NodeJS.ProcessEnv;
}

export function processIo(): CliIo {
  return {
    out: (t) => void process.stdout.write(redactUserinfo(t)),
    err: (t) => void process.stderr.write(redactUserinfo(t)),
    isTty: Boolean(process.stdout.isTTY) && !process.env.NO_COLOR,
    env: process.env,
  };
}

export type Style = (text: string) => string;

export function styles(io: CliIo): { bold: Style; green: Style; red: Style; yellow: Style; dim: Style } {
  const wrap = (open: number, close: number): Style => (io.isTty ? (t) => `\u001b[${open}m${t}\u001b[${close}m` : (t) => t);
  return { bold: wrap(1, 22), green: wrap(32, 39), red: wrap(31, 39), yellow: wrap(33, 39), dim: wrap(2, 22) };
}
