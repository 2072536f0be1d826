// Aborts an NFC export lease behind the worker's back.
//
// vcsim scopes a lease to the SOAP session that created it (its managed object
// id is "session[<session key>]<uuid>"), so a second session (govc, a fresh
// login) cannot see it. vcsim's session cookie is the session key, so the lease
// id itself names the session to act in: we send HttpNfcLeaseAbort in the
// worker's session, the way another vCenter client or an administrator would
// kill the lease, without the worker knowing.
import { Agent, request } from 'undici';

export function leaseSessionKey(leaseId: string): string | undefined {
  return /^session\[([^\]]+)\]/.exec(leaseId)?.[1];
}

export async function abortLeaseBehindWorker(vcsimHost: string, leaseId: string): Promise<string> {
  const key = leaseSessionKey(leaseId);
  if (!key) throw new Error(`lease id ${leaseId} names no vcsim session`);
  const escaped = leaseId.replace(/&/g, '&amp;').replace(/</g, '&lt;');
  const body =
    '<?xml version="1.0" encoding="UTF-8"?>' +
    '<soapenv:Envelope xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" xmlns:urn="urn:vim25">' +
    `<soapenv:Body><urn:HttpNfcLeaseAbort><urn:_this type="HttpNfcLease">${escaped}</urn:_this></urn:HttpNfcLeaseAbort></soapenv:Body>` +
    '</soapenv:Envelope>';
  const dispatcher = new Agent({ connect: { rejectUnauthorized: false } });
  try {
    const res = await request(`https://${vcsimHost}/sdk`, {
      method: 'POST',
      dispatcher,
      headers: {
        'content-type': 'text/xml; charset=utf-8',
        soapaction: 'urn:vim25/8.0',
        cookie: `vmware_soap_session="${key}"`,
      },
      body,
      headersTimeout: 10_000,
      bodyTimeout: 10_000,
    });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`HttpNfcLeaseAbort(${leaseId}): HTTP ${res.statusCode}: ${text.slice(0, 300)}`);
    return text;
  } finally {
    await dispatcher.close();
  }
}
