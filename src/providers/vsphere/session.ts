// Logging in and the ServiceContent every other call starts from.
import { ErrorType } from '../../core/errors.js';
import { failure, faultName } from './faults.js';
import { SoapClient, type SoapClientOptions } from './soap-client.js';
import { childByLocalName, isObject, MoRef, optMoref, text } from './xml.js';

export interface ServiceContent {
  rootFolder: MoRef;
  propertyCollector: MoRef;
  viewManager: MoRef;
  searchIndex: MoRef;
  sessionManager: MoRef;
  apiType: string;
  apiVersion: string;
}

export interface SessionOptions extends SoapClientOptions {
  username: string;
  password: string;
}

export class VsphereSession {
  private constructor(
    readonly client: SoapClient,
    readonly content: ServiceContent,
    private readonly credentials: { username: string; password: string },
  ) {}

  static async open(options: SessionOptions): Promise<VsphereSession> {
    const client = new SoapClient(options);
    try {
      const content = await retrieveServiceContent(client);
      client.apiVersion = content.apiVersion || client.apiVersion;
      const session = new VsphereSession(client, content, {
        username: options.username,
        password: options.password,
      });
      await session.login();
      client.onNotAuthenticated(() => session.login());
      return session;
    } catch (err) {
      await client.close();
      throw err;
    }
  }

  get host(): string {
    return this.client.url.host;
  }

  async login(): Promise<void> {
    this.client.cookie = undefined;
    try {
      await this.client.call('Login', {
        _this: this.content.sessionManager,
        userName: this.credentials.username,
        password: this.credentials.password,
      });
    } catch (err) {
      // The server's own message names the user, never the password; keep it that way.
      if (faultName(err) === 'InvalidLogin') {
        throw failure(
          ErrorType.AuthenticationFailed,
          `login to ${this.host} as ${this.credentials.username} failed: incorrect user name or password`,
          true,
          { name: 'InvalidLogin', message: '' },
        );
      }
      throw err;
    }
  }

  async logout(): Promise<void> {
    try {
      if (this.client.cookie)
        await this.client.call('Logout', { _this: this.content.sessionManager }, 10_000);
    } catch {
      // Logging out of an expired session is not worth failing cleanup for.
    } finally {
      this.client.cookie = undefined;
      await this.client.close();
    }
  }
}

async function retrieveServiceContent(client: SoapClient): Promise<ServiceContent> {
  const rv = await client.call('RetrieveServiceContent', {
    _this: new MoRef('ServiceInstance', 'ServiceInstance'),
  });
  const need = (name: string): MoRef => {
    const ref = optMoref(childByLocalName(rv, name));
    if (!ref)
      throw failure(ErrorType.SoapFault, `RetrieveServiceContent: server did not return ${name}`, false);
    return ref;
  };
  const about = isObject(rv) ? rv.about : undefined;
  return {
    rootFolder: need('rootFolder'),
    propertyCollector: need('propertyCollector'),
    viewManager: need('viewManager'),
    searchIndex: need('searchIndex'),
    sessionManager: need('sessionManager'),
    apiType: text(childByLocalName(about, 'apiType')),
    apiVersion: text(childByLocalName(about, 'apiVersion')),
  };
}
