import { Agent, request } from 'undici';
import { describe, expect, inject, it } from 'vitest';

// Raw SOAP on purpose: this checks the simulator itself, before any of our client code.
const envelope = (body: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns="urn:vim25"><soapenv:Body>${body}</soapenv:Body></soapenv:Envelope>`;

describe('vcsim', () => {
  it('answers RetrieveServiceContent and Login with its about info and a session cookie', async () => {
    const { vcsim } = inject('services');
    const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
    const call = async (action: string, body: string, cookie?: string) => {
      const res = await request(vcsim.sdkUrl, {
        method: 'POST',
        dispatcher,
        headers: {
          'content-type': 'text/xml; charset=utf-8',
          soapaction: `urn:vim25/${action}`,
          ...(cookie ? { cookie } : {}),
        },
        body: envelope(body),
      });
      return { status: res.statusCode, headers: res.headers, text: await res.body.text() };
    };

    const content = await call(
      'RetrieveServiceContent',
      '<RetrieveServiceContent><_this type="ServiceInstance">ServiceInstance</_this></RetrieveServiceContent>',
    );
    expect(content.status).toBe(200);
    expect(content.text).toMatch(/<apiType>VirtualCenter<\/apiType>/);
    const sessionManager = /<sessionManager type="SessionManager">([^<]+)<\/sessionManager>/.exec(content.text)?.[1];
    expect(sessionManager).toBeTruthy();

    const login = await call(
      'Login',
      `<Login><_this type="SessionManager">${sessionManager}</_this><userName>${vcsim.username}</userName><password>${vcsim.password}</password></Login>`,
    );
    expect(login.status).toBe(200);
    expect(login.text).toContain(`<userName>${vcsim.username}</userName>`);
    const setCookie = String(login.headers['set-cookie'] ?? '');
    expect(setCookie).toMatch(/vmware_soap_session=/);

    const badLogin = await call(
      'Login',
      `<Login><_this type="SessionManager">${sessionManager}</_this><userName>${vcsim.username}</userName><password>wrong</password></Login>`,
    );
    expect(badLogin.status).toBe(500);
    expect(badLogin.text).toContain('InvalidLogin');
    await dispatcher.close();
  });
});
