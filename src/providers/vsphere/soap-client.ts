// A small vim25 SOAP client: one keep-alive undici Agent per session, a timeout on
// every call, the session cookie reused on every request, and one transparent
// re-login when the server says the session is gone (NotAuthenticated).
import { ApplicationFailure } from '@temporalio/common';
import { errors as undiciErrors, request, type Agent, type Dispatcher } from 'undici';
import { ErrorType } from '../../core/errors.js';
import { redactUserinfo, withoutUserinfo } from '../../core/redact.js';
import { failure, faultName, faultToFailure, parseFault } from './faults.js';
import { createVsphereDispatcher, type TlsPolicy } from './tls.js';
import { readXml } from './xml-reader.js';
import { childByLocalName, envelope, isObject, type SoapArg } from './xml.js';

export interface SoapClientOptions extends TlsPolicy {
  /** https://vcenter/sdk */
  url: string;
  /** Per-call deadline (headers and body). Default 60 s. */
  timeoutMs?: number;
  /**
   * Largest response body read (default DEFAULT_MAX_SOAP_RESPONSE_BYTES). A bigger
   * one fails the call, naming the cap, without being buffered past it.
   */
  maxResponseBytes?: number;
}

/** 64 MiB: far more than a page of properties (discovery pages its results), far less than memory. */
export const DEFAULT_MAX_SOAP_RESPONSE_BYTES = 64 * 1024 * 1024;
/** Where the cap is set, for the message of a call that hit it. */
const CAP_SETTING = 'vsphere.max_response_mib / HYPERSDK_SOAP_MAX_RESPONSE_MIB';

export class SoapClient {
  readonly url: URL;
  readonly dispatcher: Agent;
  readonly timeoutMs: number;
  readonly maxResponseBytes: number;
  /** "vmware_soap_session=..." once logged in. */
  cookie: string | undefined;
  /** Sent as SOAPAction urn:vim25/<version>; updated from ServiceContent.about. */
  apiVersion = '7.0';
  private relogin: (() => Promise<void>) | undefined;
  private reloginInFlight: Promise<void> | undefined;

  constructor(options: SoapClientOptions) {
    // Credentials go in the Login call, never in the URL (nor, through it, in messages).
    this.url = new URL(withoutUserinfo(options.url));
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.maxResponseBytes = options.maxResponseBytes ?? DEFAULT_MAX_SOAP_RESPONSE_BYTES;
    this.dispatcher = createVsphereDispatcher({ insecure: options.insecure, thumbprint: options.thumbprint });
  }

  /** Called once when a call fails with NotAuthenticated; the call is then retried once. */
  onNotAuthenticated(relogin: () => Promise<void>): void {
    this.relogin = relogin;
  }

  /** Invokes a method and returns its parsed <returnval> (undefined, one node or an array). */
  async call(method: string, args: Record<string, SoapArg>, timeoutMs?: number): Promise<unknown> {
    return this.parse(method, await this.callText(method, args, timeoutMs));
  }

  /** Invokes a method and returns the raw response XML (for callers that stream/peek before parsing). */
  async callText(method: string, args: Record<string, SoapArg>, timeoutMs?: number): Promise<string> {
    try {
      return await this.send(method, args, timeoutMs);
    } catch (err) {
      if (faultName(err) !== 'NotAuthenticated' || !this.relogin || method === 'Login') throw err;
      this.reloginInFlight ??= this.relogin().finally(() => (this.reloginInFlight = undefined));
      await this.reloginInFlight;
      return await this.send(method, args, timeoutMs);
    }
  }

  /** Parses a response body; throws the mapped failure for a SOAP fault. */
  parse(method: string, xml: string): unknown {
    const doc: unknown = readXml(xml);
    const body = childByLocalName(childByLocalName(doc, 'Envelope'), 'Body');
    const fault = childByLocalName(body, 'Fault');
    if (fault !== undefined) throw faultToFailure(parseFault(fault), method);
    const response = childByLocalName(body, `${method}Response`);
    return isObject(response) ? response.returnval : undefined;
  }

  private async send(
    method: string,
    args: Record<string, SoapArg>,
    timeoutMs = this.timeoutMs,
  ): Promise<string> {
    const headers: Record<string, string> = {
      'content-type': 'text/xml; charset=utf-8',
      soapaction: `urn:vim25/${this.apiVersion}`,
    };
    if (this.cookie) headers.cookie = this.cookie;
    let text: string;
    let status: number;
    try {
      const res = await request(this.url, {
        method: 'POST',
        dispatcher: this.dispatcher,
        headers,
        body: envelope(method, args),
        headersTimeout: timeoutMs,
        bodyTimeout: timeoutMs,
        signal: AbortSignal.timeout(timeoutMs),
      });
      status = res.statusCode;
      const setCookie = res.headers['set-cookie'];
      const session = (Array.isArray(setCookie) ? setCookie : setCookie ? [setCookie] : []).find((c) =>
        c.startsWith('vmware_soap_session='),
      );
      if (session) this.cookie = session.split(';')[0];
      text = await readCapped(
        res.body,
        res.headers['content-length'],
        this.maxResponseBytes,
        method,
        this.url.host,
      );
    } catch (err) {
      throw transportFailure(err, method, this.url.host, timeoutMs);
    }
    // Faults arrive as HTTP 500 with a SOAP body; anything else non-2xx without one is a transport problem.
    if (status >= 300 && !/<(?:\w+:)?Fault[\s>]/.test(text)) {
      throw failure(ErrorType.SoapFault, `${method}: HTTP ${status} from ${this.url.host}`, false);
    }
    if (status >= 300) this.parse(method, text); // throws the mapped fault
    return text;
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/**
 * The body as text, refusing (and dropping the connection) as soon as it is known
 * to exceed `cap` bytes: at once from a Content-Length, else when the bytes read
 * pass it. At most `cap` bytes plus one read are ever held.
 */
async function readCapped(
  body: Dispatcher.ResponseData['body'],
  contentLength: string | string[] | undefined,
  cap: number,
  method: string,
  host: string,
): Promise<string> {
  const tooLarge = (what: string) => {
    body.destroy();
    return failure(
      ErrorType.SoapFault,
      `${method}: the response from ${host} is larger than the ${cap}-byte SOAP response cap (${what}); raise ${CAP_SETTING} if it is legitimate`,
      true,
    );
  };
  const declared = typeof contentLength === 'string' ? Number(contentLength) : NaN;
  if (Number.isFinite(declared) && declared > cap) throw tooLarge(`Content-Length ${declared}`);
  const chunks: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > cap) throw tooLarge(`more than ${cap} bytes received`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks, total).toString('utf8');
}

function transportFailure(err: unknown, method: string, host: string, timeoutMs: number): ApplicationFailure {
  if (err instanceof ApplicationFailure) return err; // e.g. TlsError from the connector
  const cause = err instanceof Error && err.cause instanceof ApplicationFailure ? err.cause : undefined;
  if (cause) return cause;
  const name = err instanceof Error ? err.name : '';
  if (
    err instanceof undiciErrors.HeadersTimeoutError ||
    err instanceof undiciErrors.BodyTimeoutError ||
    err instanceof undiciErrors.ConnectTimeoutError ||
    name === 'TimeoutError' ||
    name === 'AbortError'
  ) {
    return failure(ErrorType.Timeout, `${method}: no answer from ${host} within ${timeoutMs} ms`, false);
  }
  const message = redactUserinfo(err instanceof Error ? err.message : String(err));
  return failure(ErrorType.SoapFault, `${method}: cannot reach ${host}: ${message}`, false);
}
