// A small client for toxiproxy's admin API: put a proxy in front of a service and
// inject network faults (bandwidth limits, latency, resets, stalls) on loopback.
import { request } from 'undici';
import { freePort } from '../../src/devservices/ports.js';

export interface Proxy {
  name: string;
  /** host:port clients connect to instead of the upstream. */
  listen: string;
  addToxic(toxic: Toxic): Promise<void>;
  removeToxic(name: string): Promise<void>;
  /** Disables the proxy: open connections are closed, new ones refused. */
  setEnabled(enabled: boolean): Promise<void>;
  remove(): Promise<void>;
}

export interface Toxic {
  name: string;
  type: 'bandwidth' | 'latency' | 'reset_peer' | 'timeout' | 'slow_close' | 'limit_data';
  stream?: 'upstream' | 'downstream';
  toxicity?: number;
  attributes: Record<string, number>;
}

async function api(apiUrl: string, method: 'GET' | 'POST' | 'DELETE', path: string, body?: unknown): Promise<unknown> {
  const res = await request(`${apiUrl}${path}`, {
    method,
    headers: { 'content-type': 'application/json' },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.body.text();
  if (res.statusCode >= 300) throw new Error(`toxiproxy ${method} ${path}: ${res.statusCode} ${text}`);
  return text ? (JSON.parse(text) as unknown) : undefined;
}

export async function createProxy(apiUrl: string, name: string, upstream: string): Promise<Proxy> {
  const listen = `127.0.0.1:${await freePort()}`;
  await api(apiUrl, 'POST', '/proxies', { name, listen, upstream, enabled: true });
  return {
    name,
    listen,
    addToxic: async (toxic) => {
      await api(apiUrl, 'POST', `/proxies/${name}/toxics`, { stream: 'downstream', toxicity: 1, ...toxic });
    },
    removeToxic: async (toxic) => {
      await api(apiUrl, 'DELETE', `/proxies/${name}/toxics/${toxic}`);
    },
    setEnabled: async (enabled) => {
      await api(apiUrl, 'POST', `/proxies/${name}`, { enabled });
    },
    remove: async () => {
      await api(apiUrl, 'DELETE', `/proxies/${name}`);
    },
  };
}
